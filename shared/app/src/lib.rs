//! The ccaas use cases (the task API and the task worker) and the role traits they drive:
//! [`TaskStore`], [`TaskQueue`], [`Sealer`], [`LogStore`], [`TaskRunner`], [`SessionStore`],
//! [`ArtifactStore`], [`BuildStore`], [`UsageStore`], [`ports::ReportSite`], [`Notifier`], [`Mailer`] and [`TaskSearch`]. No AWS and no
//! Lambda types.

pub mod api;
pub mod compare;
#[cfg(feature = "testing")]
pub mod contract;
pub mod devices;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod impact;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod ports;
pub mod retry;
pub mod search;
pub mod usage;
pub mod view;
pub mod worker;

pub use api::{Accepted, Admins, Api, Caller};
pub use devices::Devices;
pub use error::Error;
pub use impact::Impacts;
pub use metrics::Metrics;
pub use ports::{
    ArtifactStore, BuildPart, BuildStore, Created, DeviceSession, IdempotencyRecord, IndexStore,
    LatestBuild, LogStore, Opened, Page, RunError, Sealer, SearchDoc, SearchHit, SearchPage,
    SessionPage, SessionStore, Snippet, TaskQueue, TaskRunner, TaskSearch, TaskStore, UsageStore,
    device_key,
};
pub use ports::{Mail, Mailer, NoMailer, NoNotifier, Notification, Notifier, NotifyError};
pub use retry::RetryPolicy;
pub use search::{NoSearch, Search};
pub use worker::{Disposition, RetryReason, Worker, WorkerConfig};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a use case reads the time: the system clock in production, a clock the test drives
/// (so ids and timestamps are ordered without sleeping) in tests.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that moves only when [`Clock::advance`] is called: Unix milliseconds.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock at `unix_ms`.
    pub fn manual(unix_ms: u64) -> Clock {
        Clock::Manual(Arc::new(AtomicU64::new(unix_ms)))
    }

    /// Milliseconds since the Unix epoch, now.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => now_ms(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward by `ms` (the system clock moves by itself).
    pub fn advance(&self, ms: u64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
