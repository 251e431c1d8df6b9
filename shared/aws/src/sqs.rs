//! The two SQS FIFO queues behind [`TaskQueue`].

use ccaas_app::{Error, TaskQueue};
use ccaas_domain::{Priority, TaskMessage};

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

/// The message group: the device host, so one device's tasks run in order.
pub fn group_id(host: &str) -> &str {
    // Hosts are validated ASCII, so byte slicing is on a char boundary.
    &host[..host.len().min(MAX_GROUP_ID)]
}

impl TaskQueue for SqsTaskQueue {
    async fn enqueue(&self, message: &TaskMessage, priority: Priority) -> Result<(), Error> {
        let url = match priority {
            Priority::High => &self.high_url,
            Priority::Normal => &self.normal_url,
        };
        let body = serde_json::to_string(message).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .message_group_id(group_id(&message.device.host))
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
