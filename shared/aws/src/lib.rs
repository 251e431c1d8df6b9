//! What every AWS-facing ccaas crate shares: the adapters' error ([`AwsError`]), the SDK
//! configuration each process builds once ([`sdk_config`]), the environment readers and the
//! stack settings every binary's own config starts from ([`config`]), and JSON logging
//! ([`init_tracing`]). The adapters themselves live in `ccaas-dynamo`, `ccaas-queue` and
//! `ccaas-s3`, so each binary links only the SDKs it calls.

pub mod config;

pub use aws_config::SdkConfig;
pub use config::{
    ConfigError, Env, OpenSearchAt, SearchBackend, SearchSettings, Stack, sdk_config,
};

/// The errors of the AWS adapters; at the role-trait boundary they become
/// [`ccaas_app::Error`] ([`AwsError::into_app`]).
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
    /// The failure of SDK call `operation`, keeping the SDK's error as the source.
    pub fn sdk<E>(operation: &'static str, e: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        AwsError::Sdk {
            operation,
            source: Box::new(e),
        }
    }

    /// The use-case error for a failure of `backend`: an undecodable item is
    /// [`ccaas_app::Error::Corrupt`], anything else [`ccaas_app::Error::Unavailable`].
    pub fn into_app(self, backend: &'static str) -> ccaas_app::Error {
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
