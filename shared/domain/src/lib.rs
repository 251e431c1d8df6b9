//! The ccaas domain: build ids, task ids, tasks and their state machine, validated submissions, list
//! queries, usage queries and the duration histogram, search queries, the queue message, UTC dates and the archive path rule. Pure: no I/O, no clocks, no randomness, no AWS.

pub mod archive;
pub mod build;
pub mod device;
pub mod id;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod query;
pub mod search;
pub mod submission;
pub mod task;
pub mod time;
pub mod usage;

pub use build::{BuildId, MAX_BUILD_ID_LEN};
pub use device::{DeviceAllow, DeviceHost, DeviceKey};
pub use id::TaskId;
pub use query::{DeviceQuery, ListQuery, MAX_LIMIT};
pub use search::SearchQuery;
pub use submission::{
    Credential, DeviceAccess, FieldError, Flush, ModuleName, Secret, Submission, parse_submission,
};
pub use task::{CANCELLED, Channel, Notified, Priority, Status, Task, TaskError, TaskType};
pub use time::{UtcTime, rfc3339};

use serde::{Deserialize, Serialize};

/// A task's work order: the task id plus the device access, the only place the credentials
/// exist (DESIGN §4). It travels the queue as a [`SealedMessage`]; it is plain only in memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskMessage {
    /// The task to run.
    pub task_id: TaskId,
    /// How to reach the device.
    pub device: DeviceAccess,
}

/// The queue message as sent: the task id in clear (so an unreadable message can still fail its
/// task), and the [`DeviceAccess`] as JSON sealed for that task id (KMS in production), so the
/// queue holds no credential in clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedMessage {
    /// The task to run; also the sealing context.
    pub task_id: TaskId,
    /// The sealed device access, an opaque printable token.
    pub sealed_device: String,
}
