//! The ccaas domain: build ids, task ids, tasks and their state machine, validated submissions, list
//! queries and the queue message. Pure: no I/O, no clocks, no randomness, no AWS.

pub mod build;
pub mod id;
pub mod query;
pub mod submission;
pub mod task;

pub use build::{BuildId, MAX_BUILD_ID_LEN};
pub use id::TaskId;
pub use query::{ListQuery, MAX_LIMIT};
pub use submission::{
    Credential, DeviceAccess, FieldError, Flush, ModuleName, Secret, Submission, parse_submission,
};
pub use task::{Notified, Priority, Status, Task, TaskError, TaskType, rfc3339};

use serde::{Deserialize, Serialize};

/// The queue message: the task id plus the device access. It is the only place the
/// credentials exist (DESIGN §4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskMessage {
    /// The task to run.
    pub task_id: TaskId,
    /// How to reach the device.
    pub device: DeviceAccess,
}
