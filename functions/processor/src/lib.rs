//! The processor function's SQS handling: one span per message, partial batch failures,
//! and FIFO order kept per message group. The task's life is in [`ccaas_app::Worker`].

pub mod config;
pub mod settle;
pub mod webhook;

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use ccaas_app::{Disposition, Mailer, Notifier, Sealer, TaskRunner, TaskStore, Worker};
use ccaas_aws::SdkConfig;
use ccaas_coverage::{CoverageRunner, RunnerConfig, SshConnector};
use ccaas_dynamo::{DynamoDevices, DynamoTaskStore};
use ccaas_queue::KmsSealer;
use ccaas_s3::{S3Artifacts, S3Builds, S3Indexes, S3Logs, S3Site};
use ccaas_ses::SesMailer;
use tracing::{Instrument, info, info_span, warn};

pub use config::Config;
pub use settle::{Received, Settle, retry_plan, settle, settle_plan};
pub use webhook::HttpNotifier;

/// The coverage runner the processor runs in production: SSH devices (pins in the `devices`
/// table), sessions in the `devices` table, raw data, logs, build notes and sources and the
/// report site in the bucket.
pub type ProductionRunner = CoverageRunner<
    SshConnector<DynamoDevices>,
    DynamoDevices,
    S3Artifacts,
    S3Site,
    S3Logs,
    S3Builds,
    S3Indexes,
>;

/// The worker the processor runs in production.
pub type ProductionWorker =
    Worker<DynamoTaskStore, ProductionRunner, KmsSealer, HttpNotifier, Option<SesMailer>>;

/// The production wiring. The device profile comes from `CCAAS_DEVICE_PROFILE` (BIG-IP by
/// default, the simulator's layout for local runs); webhooks go through the SSRF-guarded
/// [`HttpNotifier`] (`CCAAS_WEBHOOK_ALLOW_PRIVATE`, `CCAAS_WEBHOOK_ALLOW_LOOPBACK`), email
/// notices through SES from `CCAAS_MAIL_FROM` (none when unset). Every client is made from
/// `sdk`, the process's one SDK configuration, and shares its connection pool.
pub fn wire(config: &Config, sdk: &SdkConfig) -> ProductionWorker {
    let stack = &config.stack;
    let (dynamodb, s3) = (ccaas_dynamo::client(sdk), ccaas_s3::client(sdk));
    let devices = DynamoDevices::new(dynamodb.clone(), &config.devices_table);
    let runner = CoverageRunner {
        connector: SshConnector {
            profile: config.device_profile.clone(),
            pins: devices.clone(),
            policy: config.host_key_policy,
        },
        sessions: devices,
        artifacts: S3Artifacts::new(s3.clone(), &stack.bucket),
        site: S3Site::new(s3.clone(), &stack.bucket),
        logs: S3Logs::new(s3.clone(), &stack.bucket),
        builds: S3Builds::new(s3.clone(), &stack.bucket),
        indexes: S3Indexes::new(s3, &stack.bucket),
        config: RunnerConfig {
            site_url: config.site_url.clone(),
            session_max_age_secs: config.session_max_age_secs,
            ..RunnerConfig::default()
        },
    };
    Worker {
        store: DynamoTaskStore::new(dynamodb, &stack.tasks_table, &stack.usage_table),
        runner,
        sealer: KmsSealer::new(ccaas_queue::kms_client(sdk), stack.kms_key.clone()),
        notifier: HttpNotifier::new(webhook::Reach {
            private: config.webhook_allow_private,
            loopback: config.webhook_allow_loopback,
        }),
        mailer: stack
            .mail_from
            .as_ref()
            .map(|from| SesMailer::new(ccaas_ses::client(sdk), from, stack.aws_timeout)),
        config: ccaas_app::WorkerConfig {
            lease_secs: config.lease_secs,
            max_receives: config.max_receives,
            retry: config.retry,
            clock: ccaas_app::Clock::default(),
            allow: config.device_allow.clone(),
            metrics: stdout_metrics(),
        },
    }
}

/// The metrics sink of the functions and `ccaas-local`: each EMF object as one line on
/// stdout, where CloudWatch Logs extracts the metrics (and `ccaas-local` shows them in its
/// log). The objects hold task types, statuses, error codes and numbers only: never a
/// credential, host or user.
pub fn stdout_metrics() -> ccaas_app::Metrics {
    ccaas_app::Metrics::to(|line| {
        use std::io::Write;
        // One write of the whole line, so it never interleaves with a log line.
        let _ = std::io::stdout()
            .lock()
            .write_all(format!("{line}\n").as_bytes());
    })
}

/// How a batch runs: how many devices at once, and until when messages may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// At most this many message groups (devices) are worked on at once
    /// (`CCAAS_DEVICE_CONCURRENCY`); one group's messages always run one after another.
    pub concurrency: usize,
    /// When the batch must be over (on Lambda: the invocation's deadline less
    /// [`SETTLE_MARGIN`]); `None` for no limit.
    pub deadline: Option<tokio::time::Instant>,
    /// No message starts with less than this left before `deadline`
    /// (`CCAAS_BATCH_START_RESERVE_SECS`): it would most likely be cut.
    pub start_reserve: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            concurrency: 4,
            deadline: None,
            start_reserve: Duration::from_secs(60),
        }
    }
}

/// How long before the Lambda's deadline a batch stops, so the settle calls and the response
/// still make it out.
pub const SETTLE_MARGIN: Duration = Duration::from_secs(15);

/// What a handled batch leaves for redelivery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handled {
    /// The messages to redeliver, in the batch's order, each with how long it should wait
    /// before it comes back ([`Worker::retry_after`]; the first retry delay for a message
    /// that was cut or never started).
    pub retries: Vec<(String, Duration)>,
}

impl Handled {
    /// The Lambda response: the messages to redeliver as batch item failures.
    pub fn response(&self) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for (id, _) in &self.retries {
            response.add_failure(id.clone());
        }
        response
    }

    /// The ids of the messages to redeliver.
    pub fn failed(&self) -> Vec<String> {
        self.retries.iter().map(|(id, _)| id.clone()).collect()
    }
}

/// Handles a batch and reports the messages to redeliver, in the batch's order. Never returns
/// an error: an error would make SQS redeliver the whole batch, including the messages that
/// succeeded.
///
/// Messages are grouped by FIFO message group (the device); up to `limits.concurrency` groups
/// run at once, so a device that never answers costs the others nothing. Within a group the
/// messages run in order, and a failure fails the group's later messages unprocessed, so one
/// device's tasks never run out of order. With a deadline, a message does not start once less
/// than `start_reserve` is left, and a message still running at the deadline is cut (its
/// future dropped, which closes its SSH session): both are batch item failures that come back
/// after the short retry delay. Why a cut is safe: the task keeps the lease of this message,
/// and the redelivery of the same message takes it over at once (`Task::lease_holder`), and
/// every stage is idempotent.
pub async fn handle_batch<S: TaskStore, R: TaskRunner, K: Sealer, N: Notifier, M: Mailer>(
    worker: &Worker<S, R, K, N, M>,
    event: SqsEvent,
    limits: &BatchLimits,
) -> Handled {
    use futures_util::StreamExt;

    // Groups in the order of their first message; a message without a group is its own.
    let mut groups: Vec<Vec<(usize, SqsMessage)>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, message) in event.records.into_iter().enumerate() {
        match message.attributes.get("MessageGroupId").cloned() {
            Some(g) => match index.get(&g) {
                Some(&at) => groups[at].push((i, message)),
                None => {
                    index.insert(g, groups.len());
                    groups.push(vec![(i, message)]);
                }
            },
            None => groups.push(vec![(i, message)]),
        }
    }
    let failed: Vec<Vec<(usize, String, Duration)>> = futures_util::stream::iter(groups)
        .map(|group| run_group(worker, group, limits))
        .buffer_unordered(limits.concurrency.max(1))
        .collect()
        .await;
    let mut failed: Vec<(usize, String, Duration)> = failed.into_iter().flatten().collect();
    failed.sort();
    Handled {
        retries: failed
            .into_iter()
            .map(|(_, id, after)| (id, after))
            .collect(),
    }
}

/// One message group's messages, in order; returns the failed ones with their batch index
/// and retry delay.
async fn run_group<S: TaskStore, R: TaskRunner, K: Sealer, N: Notifier, M: Mailer>(
    worker: &Worker<S, R, K, N, M>,
    group: Vec<(usize, SqsMessage)>,
    limits: &BatchLimits,
) -> Vec<(usize, String, Duration)> {
    let first = worker.config.retry.delay;
    let mut failed = Vec::new();
    for (i, message) in group {
        let id = message.message_id.clone().unwrap_or_default();
        if !failed.is_empty() {
            // Unprocessed behind the group's failed head; the settle plan frees it after it.
            failed.push((i, id, Duration::ZERO));
            continue;
        }
        let late = limits
            .deadline
            .is_some_and(|d| tokio::time::Instant::now() + limits.start_reserve >= d);
        if late {
            info!(message_id = %id, "too close to the deadline to start; left for redelivery");
            failed.push((i, id, first));
            continue;
        }
        let count = receive_count(&message);
        let span = info_span!("message", message_id = %id, receive_count = count);
        let work = handle_message(worker, &message).instrument(span);
        let disposition = match limits.deadline {
            None => work.await,
            Some(d) => match tokio::time::timeout_at(d, work).await {
                Ok(done) => done,
                Err(_) => {
                    warn!(message_id = %id, "cut at the batch deadline; left for redelivery");
                    failed.push((i, id, first));
                    continue;
                }
            },
        };
        if let Disposition::Retry(reason) = disposition {
            let after = worker.retry_after(&reason, count);
            warn!(message_id = %id, reason = %reason, retry_in_secs = after.as_secs(), "message left for redelivery");
            failed.push((i, id, after));
        }
    }
    failed
}

/// The Lambda's batch: [`handle_batch`] (with `CCAAS_DEVICE_CONCURRENCY` devices at once, until
/// the invocation's deadline `deadline_ms` less [`SETTLE_MARGIN`]), then each failed message is made visible again per
/// [`retry_plan`] (its own delay, [`Worker::retry_after`]) through [`settle`], so a retry
/// comes after that delay and not after the queue's whole visibility timeout (5400 s). If that
/// call fails the message simply comes back later; the response is the same.
pub async fn handle_lambda_batch<S: TaskStore, R: TaskRunner, K: Sealer, N: Notifier, M: Mailer>(
    worker: &Worker<S, R, K, N, M>,
    event: SqsEvent,
    deadline_ms: u64,
    sqs: &aws_sdk_sqs::Client,
    config: &Config,
) -> SqsBatchResponse {
    let limits = BatchLimits {
        concurrency: config.device_concurrency,
        deadline: Some(batch_deadline(deadline_ms, ccaas_app::now_ms())),
        start_reserve: config.start_reserve,
    };
    // Why before: handle_batch consumes the event; the receipts are needed after it.
    let urls = [
        config.stack.queue_url.as_str(),
        config.stack.high_queue_url.as_str(),
    ];
    let received: Vec<Received> = event
        .records
        .iter()
        .map(|r| Received {
            id: r.message_id.clone().unwrap_or_default(),
            group: r.attributes.get("MessageGroupId").cloned(),
            queue_url: ccaas_queue::sqs::queue_url_for(
                r.event_source_arn.as_deref().unwrap_or_default(),
                &urls,
            )
            .map(str::to_owned),
            receipt: r.receipt_handle.clone().unwrap_or_default(),
        })
        .collect();
    let handled = handle_batch(worker, event, &limits).await;
    // Lambda deletes the successes itself once the response is returned.
    settle(sqs, &received, &handled.retries, false).await;
    handled.response()
}

/// When a Lambda batch must be over: the invocation's deadline (`deadline_ms`, Unix
/// milliseconds, from the Lambda context) less [`SETTLE_MARGIN`], as a tokio instant, given
/// the wall clock `now_ms`. A deadline already past gives now.
pub fn batch_deadline(deadline_ms: u64, now_ms: u64) -> tokio::time::Instant {
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    tokio::time::Instant::now() + left.saturating_sub(SETTLE_MARGIN)
}

async fn handle_message<S: TaskStore, R: TaskRunner, K: Sealer, N: Notifier, M: Mailer>(
    worker: &Worker<S, R, K, N, M>,
    message: &SqsMessage,
) -> Disposition {
    let body = message.body.as_deref().unwrap_or("");
    let message_id = message.message_id.as_deref().unwrap_or("");
    worker
        .handle(message_id, body, receive_count(message))
        .await
}

/// `ApproximateReceiveCount`, 1 when absent.
pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}
