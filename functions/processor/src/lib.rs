//! The processor function's SQS handling: one span per message, partial batch failures,
//! and FIFO order kept per message group. The task's life is in [`ccaas_app::Worker`].

pub mod config;
pub mod settle;
pub mod webhook;

use std::collections::HashSet;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use ccaas_app::{Disposition, Notifier, Sealer, TaskRunner, TaskStore, Worker};
use ccaas_aws::SdkConfig;
use ccaas_coverage::{CoverageRunner, RunnerConfig, SshConnector};
use ccaas_dynamo::{DynamoDevices, DynamoTaskStore};
use ccaas_queue::KmsSealer;
use ccaas_s3::{S3Artifacts, S3Builds, S3Logs, S3Site};
use tracing::{Instrument, info_span, warn};

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
>;

/// The worker the processor runs in production.
pub type ProductionWorker = Worker<DynamoTaskStore, ProductionRunner, KmsSealer, HttpNotifier>;

/// The production wiring. The device profile comes from `CCAAS_DEVICE_PROFILE` (BIG-IP by
/// default, the simulator's layout for local runs); webhooks go through the SSRF-guarded
/// [`HttpNotifier`] (`CCAAS_WEBHOOK_ALLOW_PRIVATE`, `CCAAS_WEBHOOK_ALLOW_LOOPBACK`). Every client is made from `sdk`, the
/// process's one SDK configuration, and shares its connection pool.
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
        builds: S3Builds::new(s3, &stack.bucket),
        config: RunnerConfig {
            site_url: config.site_url.clone(),
            ..RunnerConfig::default()
        },
    };
    Worker {
        store: DynamoTaskStore::new(dynamodb, &stack.tasks_table),
        runner,
        sealer: KmsSealer::new(ccaas_queue::kms_client(sdk), stack.kms_key.clone()),
        notifier: HttpNotifier::new(webhook::Reach {
            private: config.webhook_allow_private,
            loopback: config.webhook_allow_loopback,
        }),
        config: ccaas_app::WorkerConfig {
            lease_secs: config.lease_secs,
            max_receives: config.max_receives,
            clock: ccaas_app::Clock::default(),
            allow: config.device_allow.clone(),
        },
    }
}

/// Handles a batch and reports the messages to redeliver. Never returns an error: an error
/// would make SQS redeliver the whole batch, including the messages that succeeded.
///
/// On FIFO queues a failure in a message group also fails the group's later messages
/// unprocessed, so one device's tasks never run out of order.
pub async fn handle_batch<S: TaskStore, R: TaskRunner, K: Sealer, N: Notifier>(
    worker: &Worker<S, R, K, N>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut failed_groups: HashSet<String> = HashSet::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let group = message.attributes.get("MessageGroupId").cloned();
        if let Some(g) = &group
            && failed_groups.contains(g)
        {
            response.add_failure(id);
            continue;
        }
        let span = info_span!("message", message_id = %id, receive_count = receive_count(&message));
        let disposition = handle_message(worker, &message).instrument(span).await;
        if let Disposition::Retry(reason) = disposition {
            warn!(message_id = %id, reason = %reason, "message left for redelivery");
            if let Some(g) = group {
                failed_groups.insert(g);
            }
            response.add_failure(id);
        }
    }
    response
}

/// The Lambda's batch: [`handle_batch`], then each failed message is made visible again per
/// [`retry_plan`] (`CCAAS_RETRY_DELAY_SECS`) through [`settle`], so a retry comes after the
/// delay and not after the queue's whole visibility timeout (5400 s). If that call fails the
/// message simply comes back later; the response is the same.
pub async fn handle_lambda_batch<S: TaskStore, R: TaskRunner, K: Sealer, N: Notifier>(
    worker: &Worker<S, R, K, N>,
    event: SqsEvent,
    sqs: &aws_sdk_sqs::Client,
    config: &Config,
) -> SqsBatchResponse {
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
    let response = handle_batch(worker, event).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    // Lambda deletes the successes itself once the response is returned.
    settle(sqs, &received, &failed, config.retry_delay, false).await;
    response
}

async fn handle_message<S: TaskStore, R: TaskRunner, K: Sealer, N: Notifier>(
    worker: &Worker<S, R, K, N>,
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
