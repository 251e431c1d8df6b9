//! The two SQS FIFO queues behind [`TaskQueue`].

use ccaas_app::{Error, TaskQueue};
use ccaas_domain::{Priority, SealedMessage};

use crate::AwsError;

/// FIFO message group ids are at most 128 characters.
const MAX_GROUP_ID: usize = 128;

/// Sends task messages to the high or normal FIFO queue.
#[derive(Clone, Debug)]
pub struct SqsTaskQueue {
    client: aws_sdk_sqs::Client,
    normal_url: String,
    high_url: String,
}

impl SqsTaskQueue {
    /// A queue pair.
    pub fn new(client: aws_sdk_sqs::Client, normal_url: String, high_url: String) -> Self {
        SqsTaskQueue {
            client,
            normal_url,
            high_url,
        }
    }
}

/// The message group id for a group name (`host:port`): at most 128 characters.
pub fn group_id(group: &str) -> &str {
    let mut end = group.len().min(MAX_GROUP_ID);
    while !group.is_char_boundary(end) {
        end -= 1;
    }
    &group[..end]
}

impl TaskQueue for SqsTaskQueue {
    async fn enqueue(
        &self,
        message: &SealedMessage,
        group: &str,
        priority: Priority,
    ) -> Result<(), Error> {
        let url = match priority {
            Priority::High => &self.high_url,
            Priority::Normal => &self.normal_url,
        };
        let body = serde_json::to_string(message).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .message_group_id(group_id(group))
            .message_deduplication_id(message.task_id.as_str())
            .send()
            .await
            .map_err(|e| Error::Unavailable {
                backend: "task queue",
                source: Box::new(AwsError::sdk("sqs:SendMessage", e)),
            })?;
        Ok(())
    }
}
