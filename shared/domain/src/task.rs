//! The task record, its kinds and priorities, and the status state machine.

use serde::{Deserialize, Serialize};

use crate::id::TaskId;
use crate::submission::{Flush, ModuleName};

/// What a task asks the service to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskType {
    /// Reset the daemons' counters and open a coverage session.
    #[serde(rename = "code-coverage-start")]
    CoverageStart,
    /// Flush and collect the counters, render and publish the report, close the session.
    #[serde(rename = "code-coverage-end")]
    CoverageEnd,
}

impl TaskType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::CoverageStart => "code-coverage-start",
            TaskType::CoverageEnd => "code-coverage-end",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "code-coverage-start" => Some(TaskType::CoverageStart),
            "code-coverage-end" => Some(TaskType::CoverageEnd),
            _ => None,
        }
    }
}

/// Which queue a task goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// The high queue, drained first.
    High,
    /// The normal queue.
    #[default]
    Normal,
}

impl Priority {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "high" => Some(Priority::High),
            "normal" => Some(Priority::Normal),
            _ => None,
        }
    }
}

/// A task's status. `pending → running → succeeded | failed`; terminal states are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Stored and queued; no worker has taken it.
    Pending,
    /// A worker holds it under a lease.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error.
    Failed,
}

impl Status {
    /// All statuses, in life order.
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether no transition leaves this status.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed)
    }

    /// Whether a write may move a task from `self` to `to`.
    ///
    /// `running → running` is allowed: it is a lease takeover (or renewal) and still bumps the
    /// version. A pending task may fail without running (for example when its retries are
    /// exhausted before any worker could take it).
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Pending, Failed)
                | (Running, Running)
                | (Running, Succeeded)
                | (Running, Failed)
        )
    }
}

/// Why a task failed: a stable code and a human message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// A stable, machine-readable code such as `not_implemented` or `auth_failed`.
    pub code: String,
    /// What happened, for people. Never holds a secret.
    pub message: String,
}

/// How a finished task's webhook notification ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notified {
    /// The receiver answered 2xx.
    Sent,
    /// Every attempt failed; the task keeps its status.
    GaveUp,
}

impl Notified {
    /// The wire and store name.
    pub fn as_str(self) -> &'static str {
        match self {
            Notified::Sent => "sent",
            Notified::GaveUp => "gave_up",
        }
    }
}

/// A stored task. It never holds credentials: those travel only in the queue message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The id, which also orders tasks by creation time.
    pub id: TaskId,
    /// A free label, up to 200 characters.
    pub name: Option<String>,
    /// Who submitted it.
    pub user: String,
    /// What it does.
    #[serde(rename = "type")]
    pub task_type: TaskType,
    /// Its queue.
    pub priority: Priority,
    /// Where it is in its life.
    pub status: Status,
    /// Bumped by one on every status write; the optimistic-concurrency guard.
    pub version: u64,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// Last write time, RFC 3339 UTC.
    pub updated: String,
    /// The device host (the queue's message group).
    pub device: String,
    /// The device's SSH port.
    pub port: u16,
    /// The daemons it covers.
    pub modules: Vec<ModuleName>,
    /// The start task whose session an end task closes, when given.
    pub session: Option<TaskId>,
    /// How counters are flushed.
    pub flush: Flush,
    /// A webhook to notify on a terminal state.
    pub webhook: Option<String>,
    /// While running: the lease expiry, Unix seconds.
    pub lease_until: Option<u64>,
    /// The outcome of a succeeded task.
    pub result: Option<serde_json::Value>,
    /// The reason of a failed task.
    pub error: Option<TaskError>,
    /// How its webhook notification ended, once it has. Read from the store, never written
    /// with the task: only `TaskStore::mark_notified` records it, so status writes cannot
    /// erase it.
    #[serde(default, skip_serializing)]
    pub notified: Option<Notified>,
}

impl Task {
    /// The task as the next status write leaves it: `to`, the version bumped by one and the
    /// update time set. The caller sets lease, result and error, and writes it conditioned on
    /// this task's (status, version).
    pub fn advance(&self, to: Status, now_ms: u64) -> Task {
        let mut next = self.clone();
        next.status = to;
        next.version = self.version + 1;
        next.updated = rfc3339(now_ms);
        next
    }
}

/// Formats Unix milliseconds as RFC 3339 UTC with millisecond precision
/// (`2026-11-29T10:59:08.123Z`), without a date library.
pub fn rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    if mo <= 2 {
        y += 1;
    }
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_accept_no_transition() {
        for from in [Status::Succeeded, Status::Failed] {
            for to in Status::ALL {
                assert!(!from.can_become(to), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn states_never_go_back_to_pending() {
        for from in Status::ALL {
            assert!(!from.can_become(Status::Pending));
        }
    }

    #[test]
    fn the_notification_outcome_is_read_with_a_task_but_never_written_with_it() {
        let stored = serde_json::json!({
            "id": "01M8KGNN77WZXS3YCVX8M82WG8", "name": null, "user": "alice",
            "type": "code-coverage-end", "priority": "normal", "status": "succeeded",
            "version": 2, "created": "2026-11-29T11:22:31.015Z",
            "updated": "2026-11-29T11:22:32.015Z", "device": "h1", "port": 22,
            "modules": ["tmm"], "session": null, "flush": "signal",
            "webhook": "https://hooks.example/T/B/secret", "lease_until": null,
            "result": null, "error": null, "notified": "gave_up", "notify_until": 5,
        });
        let task: Task = serde_json::from_value(stored).expect("a stored task reads");
        assert_eq!(task.notified, Some(Notified::GaveUp));
        let written = serde_json::to_value(&task).unwrap();
        assert!(written.get("notified").is_none(), "{written}");
        let without: Task = serde_json::from_value(written).unwrap();
        assert_eq!(without.notified, None);
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_777_148_123), "2026-11-27T10:59:08.123Z");
    }
}
