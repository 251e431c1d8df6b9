//! The two SQS FIFO queues behind [`TaskQueue`], and the retry delay of a failed delivery.

use std::time::Duration;

use ccaas_app::{Error, TaskQueue};
use ccaas_domain::{Priority, SealedMessage};

use ccaas_aws::AwsError;

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

/// The longest visibility timeout SQS accepts (12 hours).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(43_200);

/// A visibility timeout in whole seconds as SQS takes it, capped at [`MAX_VISIBILITY`].
pub fn visibility_secs(d: Duration) -> i32 {
    d.min(MAX_VISIBILITY).as_secs() as i32
}

/// Makes a received message visible again `after` from now (a retry delay instead of the
/// queue's whole visibility timeout; at most [`MAX_VISIBILITY`]), by its receipt handle.
/// Safe to repeat. Errors: the SDK's.
pub async fn redeliver_after(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handle: &str,
    after: Duration,
) -> Result<(), AwsError> {
    client
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .visibility_timeout(visibility_secs(after))
        .send()
        .await
        .map_err(|e| AwsError::sdk("sqs:ChangeMessageVisibility", e))?;
    Ok(())
}

/// Deletes a received message by its receipt handle. Safe to repeat (SQS ignores a second
/// delete of the same receipt). Errors: the SDK's.
pub async fn delete_received(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handle: &str,
) -> Result<(), AwsError> {
    client
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .send()
        .await
        .map_err(|e| AwsError::sdk("sqs:DeleteMessage", e))?;
    Ok(())
}

/// The URL among `urls` of the queue that `arn` (`arn:aws:sqs:<region>:<account>:<name>`)
/// names: the one whose last path segment is the queue name.
pub fn queue_url_for<'a>(arn: &str, urls: &[&'a str]) -> Option<&'a str> {
    let name = arn.rsplit(':').next().filter(|n| !n.is_empty())?;
    urls.iter()
        .copied()
        .find(|u| u.trim_end_matches('/').rsplit('/').next() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_arn_finds_the_url_of_its_queue_and_nothing_else() {
        let urls = [
            "https://sqs.us-east-1.amazonaws.com/123456789012/ccaas-tasks.fifo",
            "http://127.0.0.1:4566/123456789012/ccaas-tasks-high.fifo",
        ];
        assert_eq!(
            queue_url_for(
                "arn:aws:sqs:us-east-1:123456789012:ccaas-tasks-high.fifo",
                &urls
            ),
            Some(urls[1])
        );
        assert_eq!(
            queue_url_for("arn:aws:sqs:us-east-1:123456789012:ccaas-tasks.fifo", &urls),
            Some(urls[0])
        );
        for arn in ["arn:aws:sqs:us-east-1:1:other.fifo", "", "arn:aws:sqs:x:1:"] {
            assert_eq!(queue_url_for(arn, &urls), None, "{arn}");
        }
    }

    #[test]
    fn visibility_is_whole_seconds_capped_at_twelve_hours() {
        assert_eq!(visibility_secs(Duration::from_millis(30_999)), 30);
        assert_eq!(visibility_secs(Duration::from_secs(43_200)), 43_200);
        assert_eq!(visibility_secs(Duration::from_secs(u64::MAX)), 43_200);
    }

    #[test]
    fn a_group_id_is_cut_to_128_bytes_on_a_char_boundary() {
        assert_eq!(group_id("10.0.0.1:22"), "10.0.0.1:22");
        let long = "é".repeat(100);
        let g = group_id(&long);
        assert!(g.len() <= MAX_GROUP_ID && long.starts_with(g));
    }
}
