//! The SQS side of `ccaas-local`: receive (high queue first), hand `SqsEvent` batches to the
//! processor's own handler, delete what succeeded, and let failures redeliver soon.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::Client as Sqs;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use ccaas_processor::ProductionWorker;
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
        .visibility_timeout(p.visibility.as_secs().min(43_200) as i32)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await?;
    let messages = out.messages();
    if messages.is_empty() {
        return Ok(0);
    }
    let mut receipts = HashMap::new();
    let mut event = SqsEvent::default();
    for m in messages {
        let id = m.message_id().unwrap_or_default().to_owned();
        receipts.insert(
            id.clone(),
            m.receipt_handle().unwrap_or_default().to_owned(),
        );
        let mut sm = SqsMessage::default();
        sm.message_id = Some(id);
        sm.receipt_handle = m.receipt_handle().map(str::to_owned);
        sm.body = m.body().map(str::to_owned);
        sm.event_source = Some("aws:sqs".into());
        if let Some(attrs) = m.attributes() {
            sm.attributes = attrs
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
        }
        event.records.push(sm);
    }
    let n = event.records.len();
    // Batch order with each message's group, for settling failures in order below.
    let order: Vec<(String, Option<String>)> = event
        .records
        .iter()
        .map(|r| {
            (
                r.message_id.clone().unwrap_or_default(),
                r.attributes.get("MessageGroupId").cloned(),
            )
        })
        .collect();
    let response = ccaas_processor::handle_batch(&p.worker, event).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    // Why this order: only a message whose task reached its final write is deleted; a
    // failed one stays and comes back after `retry_delay`, as on Lambda
    // (`ccaas_processor::retry_plan`: in a FIFO group only the head waits out the delay).
    // (moto, unlike SQS, delivers the last of several in-flight messages of a group first
    // when they all come back together, so the order of these calls matters here.)
    let mut settle: Vec<(String, Option<Duration>)> = order
        .iter()
        .filter(|(id, _)| !failed.contains(id))
        .map(|(id, _)| (id.clone(), None))
        .collect();
    settle.extend(
        ccaas_processor::retry_plan(&order, &failed, p.retry_delay)
            .into_iter()
            .map(|(id, after)| (id, Some(after))),
    );
    for (id, visibility) in settle {
        let Some(receipt) = receipts.get(&id) else {
            continue;
        };
        let r = match visibility {
            Some(v) => p
                .sqs
                .change_message_visibility()
                .queue_url(url)
                .receipt_handle(receipt)
                .visibility_timeout(v.as_secs() as i32)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_sdk_sqs::Error::from),
            None => p
                .sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(receipt)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_sdk_sqs::Error::from),
        };
        if let Err(e) = r {
            warn!(message_id = %id, error = %e, "could not settle a message; it will redeliver");
        }
    }
    Ok(n)
}
