//! The JSON the API returns (DESIGN §2 shapes). None of these types can hold a credential.

use ccaas_domain::{Notified, Task, TaskError};
use serde::Serialize;

/// The `202` body of `POST /v1/tasks`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AcceptedView {
    /// Task id.
    pub id: String,
    /// Task type.
    #[serde(rename = "type")]
    pub task_type: &'static str,
    /// Current status (`pending` for a new task; a replay shows the current one).
    pub status: &'static str,
    /// The task's URL.
    pub selflink: String,
    /// Creation time.
    pub timestamp: String,
}

/// The body of `GET /v1/tasks/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskView {
    /// Task id.
    pub id: String,
    /// Label.
    pub name: Option<String>,
    /// Owner.
    pub user: String,
    /// Task type.
    #[serde(rename = "type")]
    pub task_type: &'static str,
    /// Queue.
    pub priority: &'static str,
    /// Status.
    pub status: &'static str,
    /// The task's URL.
    pub selflink: String,
    /// Creation time.
    pub timestamp: String,
    /// Last change.
    pub updated: String,
    /// Device host.
    pub device: String,
    /// Modules.
    pub modules: Vec<String>,
    /// The session this end task closes, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The result of a succeeded task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The error of a failed task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
    /// Where its webhook notification is, for a task submitted with one. The URL itself is
    /// never shown: it may hold a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyView>,
}

/// The `notify` member of a task view.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NotifyView {
    /// `pending` until the task has finished and its POST is done, then `sent` (the
    /// receiver answered 2xx) or `gave_up` (every attempt failed).
    pub webhook: &'static str,
}

/// One row of `GET /v1/tasks`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListItem {
    /// Task id.
    pub id: String,
    /// The task's URL.
    pub selflink: String,
    /// Status.
    pub status: &'static str,
    /// Task type.
    #[serde(rename = "type")]
    pub task_type: &'static str,
    /// Owner.
    pub user: String,
    /// Creation time.
    pub timestamp: String,
}

/// The body of `GET /v1/tasks`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListView {
    /// Rows in this page.
    pub count: usize,
    /// The rows, newest first.
    pub collection: Vec<ListItem>,
    /// The cursor of the next page, `null` on the last.
    pub next: Option<String>,
}

/// Builds the task's URL from the API's base URL (may be empty for a relative link).
pub fn selflink(base: &str, id: &str) -> String {
    format!("{}/v1/tasks/{id}", base.trim_end_matches('/'))
}

impl TaskView {
    /// The view of a stored task.
    pub fn of(task: &Task, base: &str) -> Self {
        TaskView {
            id: task.id.to_string(),
            name: task.name.clone(),
            user: task.user.clone(),
            task_type: task.task_type.as_str(),
            priority: task.priority.as_str(),
            status: task.status.as_str(),
            selflink: selflink(base, task.id.as_str()),
            timestamp: task.created.clone(),
            updated: task.updated.clone(),
            device: task.device.clone(),
            modules: task.modules.iter().map(|m| m.as_str().to_owned()).collect(),
            session: task.session.as_ref().map(|s| s.to_string()),
            result: task.result.clone(),
            error: task.error.clone(),
            notify: task.webhook.as_ref().map(|_| NotifyView {
                webhook: task.notified.map_or("pending", Notified::as_str),
            }),
        }
    }
}

impl AcceptedView {
    /// The view of a stored task as the submit call returns it.
    pub fn of(task: &Task, base: &str) -> Self {
        AcceptedView {
            id: task.id.to_string(),
            task_type: task.task_type.as_str(),
            status: task.status.as_str(),
            selflink: selflink(base, task.id.as_str()),
            timestamp: task.created.clone(),
        }
    }
}

impl ListItem {
    /// The row of a stored task.
    pub fn of(task: &Task, base: &str) -> Self {
        ListItem {
            id: task.id.to_string(),
            selflink: selflink(base, task.id.as_str()),
            status: task.status.as_str(),
            task_type: task.task_type.as_str(),
            user: task.user.clone(),
            timestamp: task.created.clone(),
        }
    }
}
