//! The SQS side of `ccaas-local`: receive (high queue first), hand `SqsEvent` batches to the
//! processor's own handler, several batches at once (up to `CCAAS_DEVICE_CONCURRENCY`
//! messages), then settle each batch with the processor's own settle loop (delete what
//! succeeded, let failures redeliver soon).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::Client as Sqs;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use ccaas_app::{Mailer, Notifier, Sealer, TaskRunner, TaskStore, Worker};
use ccaas_processor::{BatchLimits, Received, settle};
use ccaas_queue::sqs::visibility_secs;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

/// The poller's parts (in production over `ccaas_processor::ProductionWorker`'s parts).
pub struct Poller<S, R, K, N, M> {
    /// SQS client.
    pub sqs: Sqs,
    /// Queue URLs in priority order: a queue is read only when those before it are empty.
    pub queues: Vec<String>,
    /// Visibility of a received message: the task lease plus the first retry delay, so a message
    /// whose worker died comes back soon after its lease expires.
    pub visibility: Duration,
    /// How many messages (so devices) may be in work at once, across batches
    /// (`CCAAS_DEVICE_CONCURRENCY`).
    pub concurrency: usize,
    /// The processor's worker.
    pub worker: Arc<Worker<S, R, K, N, M>>,
}

/// Polls until `stop` turns true, then waits for the batches in work. Survives an emulator
/// outage: errors back off and retry.
///
/// Batches run beside each other, up to `concurrency` messages in all, so a device that never
/// answers holds one slot and not the poller: the next receive goes out while it waits. Why
/// this keeps each device's order: a FIFO queue hands out no message of a group while another
/// of that group is in flight, so two batches never share a device.
pub async fn run<S, R, K, N, M>(p: Poller<S, R, K, N, M>, mut stop: watch::Receiver<bool>)
where
    S: TaskStore + 'static,
    R: TaskRunner + 'static,
    K: Sealer + 'static,
    N: Notifier + 'static,
    M: Mailer + 'static,
{
    let p = Arc::new(p);
    let slots = Arc::new(Semaphore::new(p.concurrency.max(1)));
    let mut in_work: JoinSet<()> = JoinSet::new();
    let mut backoff = Duration::from_millis(200);
    while !*stop.borrow() {
        while in_work.try_join_next().is_some() {}
        let free = slots.available_permits();
        if free == 0 {
            // Every slot is taken: wait for a batch to finish (or the stop).
            tokio::select! {
                _ = in_work.join_next() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let mut worked = false;
        let mut failed = false;
        for url in &p.queues {
            match receive(&p, url, free.min(10)).await {
                Ok(None) => continue,
                Ok(Some((event, received))) => {
                    let n = u32::try_from(received.len()).unwrap_or(u32::MAX);
                    let Ok(permits) = slots.clone().acquire_many_owned(n).await else {
                        break;
                    };
                    let p = p.clone();
                    in_work.spawn(async move {
                        work(&p, event, received).await;
                        drop(permits);
                    });
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
    while in_work.join_next().await.is_some() {}
    info!("poller stopped");
}

/// Receives up to `max` messages from `url`: `None` when the queue has none.
async fn receive<S, R, K, N, M>(
    p: &Poller<S, R, K, N, M>,
    url: &str,
    max: usize,
) -> Result<Option<(SqsEvent, Vec<Received>)>, aws_sdk_sqs::Error> {
    let out = p
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(i32::try_from(max).unwrap_or(10))
        .wait_time_seconds(0)
        .visibility_timeout(visibility_secs(p.visibility))
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await?;
    let messages = out.messages();
    if messages.is_empty() {
        return Ok(None);
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
    Ok(Some((event, received)))
}

/// Processes one received batch with the processor's own handler, then settles it.
async fn work<S: TaskStore, R: TaskRunner, K: Sealer, N: Notifier, M: Mailer>(
    p: &Poller<S, R, K, N, M>,
    event: SqsEvent,
    received: Vec<Received>,
) {
    let limits = BatchLimits {
        concurrency: p.concurrency,
        ..BatchLimits::default()
    };
    let handled = ccaas_processor::handle_batch(p.worker.as_ref(), event, &limits).await;
    // Only a message whose task reached its final write is deleted; a failed one comes back
    // after its retry delay, as on Lambda (`ccaas_processor::settle_plan`).
    settle(&p.sqs, &received, &handled.retries, true).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccaas_app::memory::{MemoryLogs, MemorySealer, MemoryStore};
    use ccaas_app::{Api, Caller, RunError, WorkerConfig};
    use ccaas_domain::{DeviceAccess, Status, Task};
    use ccaas_testkit::Emulator;

    /// Device `silent` answers only once device `late` has finished.
    struct SilentUntilLateDone(tokio::sync::watch::Sender<bool>);

    impl TaskRunner for SilentUntilLateDone {
        async fn run(&self, t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
            if t.device == "silent" {
                let mut rx = self.0.subscribe();
                let _ = rx.wait_for(|done| *done).await;
            } else {
                self.0.send_replace(true);
            }
            Ok(serde_json::json!({}))
        }
    }

    fn start(host: &str) -> String {
        format!(
            r#"{{"type":"code-coverage-start","data":{{"device":{{"host":"{host}","username":"u","password":"p"}},"modules":["tmm"]}}}}"#
        )
    }

    async fn wait_status(store: &MemoryStore, host: &str, want: Status) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !store
            .all()
            .iter()
            .any(|t| t.device == host && t.status == want)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{host} never became {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_waiting_on_a_silent_device_does_not_hold_up_the_next_batch() {
        let emu = Emulator::private();
        let (normal, high) = (emu.var("CCAAS_QUEUE_URL"), emu.var("CCAAS_HIGH_QUEUE_URL"));
        let store = MemoryStore::default();
        let api = Api {
            store: store.clone(),
            queue: ccaas_queue::SqsTaskQueue::new(emu.sqs(), normal.clone(), high.clone()),
            sealer: MemorySealer::default(),
            logs: MemoryLogs::default(),
            base_url: String::new(),
            clock: ccaas_app::Clock::default(),
            allow: Default::default(),
            admins: Default::default(),
            email: false,
        };
        let (done, _) = tokio::sync::watch::channel(false);
        let worker = Worker {
            store: store.clone(),
            runner: SilentUntilLateDone(done),
            sealer: MemorySealer::default(),
            notifier: ccaas_app::NoNotifier,
            mailer: ccaas_app::NoMailer,
            config: WorkerConfig::default(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let poller = tokio::spawn(run(
            Poller {
                sqs: emu.sqs(),
                queues: vec![high, normal],
                visibility: Duration::from_secs(60),
                concurrency: 4,
                worker: Arc::new(worker),
            },
            stop_rx,
        ));
        // The silent device's task is received alone and hangs; only then is the other
        // submitted, so it comes in a later batch. A poller that waits for each batch before
        // it receives the next never runs it, and the silent one never ends.
        api.submit(&Caller::Anonymous, None, start("silent").as_bytes())
            .await
            .expect("submitted");
        wait_status(&store, "silent", Status::Running).await;
        api.submit(&Caller::Anonymous, None, start("late").as_bytes())
            .await
            .expect("submitted");
        wait_status(&store, "late", Status::Succeeded).await;
        wait_status(&store, "silent", Status::Succeeded).await;
        stop_tx.send_replace(true);
        poller.await.expect("the poller stops");
    }
}
