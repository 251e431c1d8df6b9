//! AWS adapters of the role traits: DynamoDB task store, SQS task queue, S3 logs, raw
//! artifacts, build notes and sources, and the report site (and the HTTP webhook notifier,
//! which runs beside them in the processor); plus the
//! typed [`Config`] every binary reads from the environment and the SDK client set.

pub mod artifacts;
pub mod attr;
pub mod builds;
pub mod config;
pub mod devices;
pub mod dynamo;
pub mod kms;
pub mod s3;
pub mod site;
pub mod sqs;
pub mod webhook;

pub use artifacts::S3Artifacts;
pub use builds::S3Builds;
pub use config::{Clients, Config, ConfigError, LocalAuth, s3_client};
pub use devices::DynamoDevices;
pub use dynamo::DynamoTaskStore;
pub use kms::KmsSealer;
pub use s3::S3Logs;
pub use sqs::SqsTaskQueue;
pub use webhook::HttpNotifier;

/// The errors of this crate; at the role-trait boundary they become [`ccaas_app::Error`].
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// An SDK call failed (network, emulator down, throttling, service error).
    #[error("{operation} failed")]
    Sdk {
        /// The SDK operation, such as `dynamodb:PutItem`.
        operation: &'static str,
        /// The SDK's error with its full chain.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored item could not be decoded.
    #[error("stored item is not valid: {0}")]
    Decode(String),
}

impl AwsError {
    fn sdk<E>(operation: &'static str, e: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        AwsError::Sdk {
            operation,
            source: Box::new(e),
        }
    }

    /// The use-case error for a failure of `backend`.
    fn into_app(self, backend: &'static str) -> ccaas_app::Error {
        match self {
            AwsError::Decode(m) => ccaas_app::Error::Corrupt(m),
            e => ccaas_app::Error::Unavailable {
                backend,
                source: Box::new(e),
            },
        }
    }
}

/// Crates whose TRACE events dump raw HTTP bodies: an SQS receive carries the device
/// credentials of a task message, so those events are dropped whatever `RUST_LOG` says.
const WIRE_TARGETS: [&str; 5] = ["aws_smithy", "aws_sigv4", "hyper", "h2", "reqwest"];

/// Starts JSON logging to stdout, filtered by `RUST_LOG` (default `info`). Credentials never
/// reach a log: the types that hold them redact themselves, no request body is logged, and
/// the wire-level TRACE events of the HTTP stack ([`WIRE_TARGETS`]) are always dropped.
pub fn init_tracing() {
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};

    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let wire = filter_fn(|meta| {
        *meta.level() != tracing::Level::TRACE
            || !WIRE_TARGETS.iter().any(|t| meta.target().starts_with(t))
    });
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_filter(env.and(wire));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
