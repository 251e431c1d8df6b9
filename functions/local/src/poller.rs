//! The SQS side of `ccaas-local`: receive (high queue first), hand `SqsEvent` batches to the
//! processor's own handler, then settle the batch with the processor's own settle loop (delete
//! what succeeded, let failures redeliver soon).

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::Client as Sqs;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use ccaas_processor::{ProductionWorker, Received, settle};
use ccaas_queue::sqs::visibility_secs;
use tokio::sync::watch;
use tracing::{info, warn};

/// The poller's parts.
pub struct Poller {
    /// SQS client.
    pub sqs: Sqs,
    /// Queue URLs in priority order: a queue is read only when those before it are empty.
    pub queues: Vec<String>,
    /// Visibility given to a failed message before it is redelivered.
    pub retry_delay: Duration,
    /// Visibility of a received message: the task lease plus the retry delay, so a message
    /// whose worker died comes back soon after its lease expires.
    pub visibility: Duration,
    /// The processor's worker.
    pub worker: ProductionWorker,
}

/// Polls until `stop` turns true. Survives an emulator outage: errors back off and retry.
pub async fn run(p: Poller, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(200);
    while !*stop.borrow() {
        let mut worked = false;
        let mut failed = false;
        for url in &p.queues {
            match poll_once(&p, url).await {
                Ok(0) => continue,
                Ok(_) => {
                    worked = true;
                    break;
                }
                Err(e) => {
                    warn!(error = %e, queue = %url, "polling failed; backing off");
                    failed = true;
                    break;
                }
            }
        }
        let pause = if failed {
            backoff = (backoff * 2).min(Duration::from_secs(5));
            backoff
        } else {
            backoff = Duration::from_millis(200);
            if worked {
                Duration::ZERO
            } else {
                Duration::from_millis(250)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
    info!("poller stopped");
}

/// Receives one batch from `url` and processes it; returns how many messages it handled.
async fn poll_once(p: &Poller, url: &str) -> Result<usize, aws_sdk_sqs::Error> {
    let out = p
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .visibility_timeout(visibility_secs(p.visibility))
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await?;
    let messages = out.messages();
    if messages.is_empty() {
        return Ok(0);
    }
    let mut received = Vec::with_capacity(messages.len());
    let mut event = SqsEvent::default();
    for m in messages {
        let id = m.message_id().unwrap_or_default().to_owned();
        let mut sm = SqsMessage::default();
        sm.message_id = Some(id.clone());
        sm.receipt_handle = m.receipt_handle().map(str::to_owned);
        sm.body = m.body().map(str::to_owned);
        sm.event_source = Some("aws:sqs".into());
        if let Some(attrs) = m.attributes() {
            sm.attributes = attrs
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
        }
        received.push(Received {
            id,
            group: sm.attributes.get("MessageGroupId").cloned(),
            queue_url: Some(url.to_owned()),
            receipt: m.receipt_handle().unwrap_or_default().to_owned(),
        });
        event.records.push(sm);
    }
    let n = event.records.len();
    let response = ccaas_processor::handle_batch(&p.worker, event).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    // Only a message whose task reached its final write is deleted; a failed one comes back
    // after `retry_delay`, as on Lambda (`ccaas_processor::settle_plan`).
    settle(&p.sqs, &received, &failed, p.retry_delay, true).await;
    Ok(n)
}
