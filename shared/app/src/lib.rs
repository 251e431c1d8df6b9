//! The ccaas use cases (the task API and the task worker) and the role traits they drive:
//! [`TaskStore`], [`TaskQueue`], [`Sealer`], [`LogStore`], [`TaskRunner`], [`SessionStore`],
//! [`ArtifactStore`], [`BuildStore`], [`ports::ReportSite`] and [`Notifier`]. No AWS and no
//! Lambda types.

pub mod api;
#[cfg(feature = "testing")]
pub mod contract;
pub mod envelope;
pub mod error;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod notify;
pub mod ports;
pub mod view;
pub mod worker;

pub use api::{Accepted, Api, Caller};
pub use error::Error;
pub use ports::{
    ArtifactStore, BuildPart, BuildStore, Created, DeviceSession, IdempotencyRecord, LogStore,
    Opened, Page, RunError, Sealer, SessionStore, TaskQueue, TaskRunner, TaskStore, device_key,
};
pub use ports::{NoNotifier, Notification, Notifier, NotifyError};
pub use worker::{Disposition, Worker, WorkerConfig};

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
