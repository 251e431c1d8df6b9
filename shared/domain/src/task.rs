//! The task record, its kinds and priorities, and the status state machine.

use serde::{Deserialize, Serialize};

use crate::id::TaskId;
use crate::submission::{Flush, ModuleName};
use crate::time::rfc3339;

/// What a task asks the service to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TaskType {
    /// Reset the daemons' counters and open a coverage session.
    #[serde(rename = "code-coverage-start")]
    CoverageStart,
    /// Flush and collect the counters, render and publish the report, close the session.
    #[serde(rename = "code-coverage-end")]
    CoverageEnd,
    /// Close the device's session without collecting: no flush, no download, no report.
    #[serde(rename = "code-coverage-discard")]
    CoverageDiscard,
    /// Merge the reports of several succeeded end tasks of one build into one report: no
    /// device, no session; the counts summed by the same engine.
    #[serde(rename = "code-coverage-merge")]
    CoverageMerge,
}

impl TaskType {
    /// Every kind.
    pub const ALL: [TaskType; 4] = [
        TaskType::CoverageStart,
        TaskType::CoverageEnd,
        TaskType::CoverageDiscard,
        TaskType::CoverageMerge,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::CoverageStart => "code-coverage-start",
            TaskType::CoverageEnd => "code-coverage-end",
            TaskType::CoverageDiscard => "code-coverage-discard",
            TaskType::CoverageMerge => "code-coverage-merge",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        TaskType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the task acts on an open session (an end or a discard): it may name one in
    /// `data.session`, and only the session's owner or an admin may run it.
    pub fn acts_on_session(self) -> bool {
        matches!(self, TaskType::CoverageEnd | TaskType::CoverageDiscard)
    }

    /// Whether the task works on a device (its message carries the sealed device access, its
    /// device's tasks run in order). A merge works on stored data only: no device, no seal.
    pub fn needs_device(self) -> bool {
        !matches!(self, TaskType::CoverageMerge)
    }
}

/// The error code of a task cancelled while pending (`DELETE /v1/tasks/{id}`): the task is
/// `failed` with this code, so clients that wait for `succeeded` or `failed` need no new status.
pub const CANCELLED: &str = "cancelled";

/// Which queue a task goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// The high queue, with processors of its own (read first by `ccaas-local`).
    High,
    /// The normal queue.
    #[default]
    Normal,
}

impl Priority {
    /// Every priority, the high queue first.
    pub const ALL: [Priority; 2] = [Priority::High, Priority::Normal];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A task's status. `pending → running → succeeded | failed`; terminal states are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskError {
    /// A stable, machine-readable code such as `not_implemented` or `auth_failed`.
    pub code: String,
    /// What happened, for people. Never holds a secret.
    pub message: String,
}

/// A way a finished task is announced. Each channel a task asks for has its own claim and
/// its own delivery record, so one channel's failure or retry never repeats another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `notify.webhook`: a JSON POST.
    Webhook,
    /// `notify.email`: a plain-text and HTML mail through SES.
    Email,
}

impl Channel {
    /// Every channel, in the order a delivery sends them.
    pub const ALL: [Channel; 2] = [Channel::Webhook, Channel::Email];

    /// The name in `notify` (submission and view).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }
}

/// How a finished task's notification on one channel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notified {
    /// The receiver answered 2xx (webhook), or SES accepted the mail (email).
    Sent,
    /// Every attempt failed (or the channel is not wired); the task keeps its status.
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
    /// The priority its submitter asked for.
    pub priority: Priority,
    /// The queue its message went to, when not the one `priority` names: a task joins the
    /// queue of its device's newest open task, so one device's tasks stay in one FIFO group
    /// and run in submission order whatever their priorities ([`Task::queue`]). Absent on
    /// records written before it existed.
    #[serde(default)]
    pub queue: Option<Priority>,
    /// Where it is in its life.
    pub status: Status,
    /// Bumped by one on every status write; the optimistic-concurrency guard.
    pub version: u64,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// Last write time, RFC 3339 UTC.
    pub updated: String,
    /// The device host (the queue's message group); empty for a task without a device (a
    /// merge), which a store keeps out of its per-device index.
    #[serde(default)]
    pub device: String,
    /// The device's SSH port; 0 for a task without a device.
    #[serde(default)]
    pub port: u16,
    /// The daemons it covers.
    pub modules: Vec<ModuleName>,
    /// The start task whose session an end task closes, when given.
    pub session: Option<TaskId>,
    /// The end tasks a merge task merges, in the order given; empty for other tasks and on
    /// records written before merges existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merge: Vec<TaskId>,
    /// How counters are flushed.
    pub flush: Flush,
    /// A webhook to notify on a terminal state.
    pub webhook: Option<String>,
    /// Who gets an email notice on a terminal state (plain addresses, checked at
    /// submission); empty for nobody, and on records written before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
    /// Whether the submitter was an admin (`CCAAS_ADMIN_USERS`, auth on) when the task was
    /// submitted: an admin's end or discard may close another user's session. Decided once,
    /// at submit time; never shown by the API. Absent (false) on records written before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    /// While running: the lease expiry, Unix seconds.
    pub lease_until: Option<u64>,
    /// While running: the id of the queue message whose delivery took the lease. A later
    /// delivery of that same message may take the lease over before it expires, because the
    /// queue hands a message out again only once its previous delivery has ended (settled as
    /// failed, or its visibility, longer than the lease, ran out). Absent on records written
    /// before it existed.
    #[serde(default)]
    pub lease_holder: Option<String>,
    /// When the task first failed in a way that may pass (an AWS service, the key service or
    /// the device did not answer), Unix milliseconds: the worker retries it until
    /// `CCAAS_RETRY_WINDOW_SECS` after this, then fails it. Never shown by the API. Absent
    /// while no transient failure was recorded, and on records written before it existed.
    #[serde(default)]
    pub retry_since: Option<u64>,
    /// When a worker first took it (`pending → running`), Unix milliseconds: a finished
    /// task's duration runs from here to its terminal write (the usage history's
    /// `duration_ms`). Kept across lease takeovers. Never shown by the API. Absent on tasks
    /// that never ran and on records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    /// The outcome of a succeeded task.
    pub result: Option<serde_json::Value>,
    /// The reason of a failed task.
    pub error: Option<TaskError>,
    /// How its webhook notification ended, once it has. Read from the store, never written
    /// with the task: only `TaskStore::mark_notified` records it, so status writes cannot
    /// erase it.
    #[serde(default, skip_serializing)]
    pub notified: Option<Notified>,
    /// How its email notice ended, once it has; read and recorded like
    /// [`Task::notified`], by `TaskStore::mark_notified` only.
    #[serde(default, skip_serializing)]
    pub notified_email: Option<Notified>,
}

impl Task {
    /// Whether the task asked to be announced on `channel`.
    pub fn wants(&self, channel: Channel) -> bool {
        match channel {
            Channel::Webhook => self.webhook.is_some(),
            Channel::Email => !self.email.is_empty(),
        }
    }

    /// How its notification on `channel` ended, once it has.
    pub fn notified_on(&self, channel: Channel) -> Option<Notified> {
        match channel {
            Channel::Webhook => self.notified,
            Channel::Email => self.notified_email,
        }
    }

    /// The queue this task's message went to.
    pub fn queue(&self) -> Priority {
        self.queue.unwrap_or(self.priority)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_name_is_the_serde_name_and_parses_back() {
        fn check<T>(all: &[T], name: fn(T) -> &'static str, parse: fn(&str) -> Option<T>)
        where
            T: Copy + PartialEq + std::fmt::Debug + Serialize + serde::de::DeserializeOwned,
        {
            for &v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), name(v), "{v:?}");
                assert_eq!(serde_json::from_value::<T>(name(v).into()).unwrap(), v);
                assert_eq!(parse(name(v)), Some(v));
            }
        }
        check(&TaskType::ALL, TaskType::as_str, TaskType::parse);
        check(&Priority::ALL, Priority::as_str, Priority::parse);
        check(&Status::ALL, Status::as_str, Status::parse);
        check(&Flush::ALL, Flush::as_str, Flush::parse);
        for n in [Notified::Sent, Notified::GaveUp] {
            assert_eq!(serde_json::to_value(n).unwrap(), n.as_str());
        }
        assert_eq!(TaskType::parse("code-coverage-START"), None);
    }

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
            "email": ["alice@example.com"], "notified_email": "sent", "email_until": 7,
        });
        let task: Task = serde_json::from_value(stored).expect("a stored task reads");
        assert_eq!(task.notified, Some(Notified::GaveUp));
        assert_eq!(task.notified_on(Channel::Email), Some(Notified::Sent));
        assert!(task.wants(Channel::Email) && task.wants(Channel::Webhook));
        let written = serde_json::to_value(&task).unwrap();
        assert!(written.get("notified").is_none(), "{written}");
        assert!(written.get("notified_email").is_none(), "{written}");
        assert_eq!(written["email"][0], "alice@example.com");
        let without: Task = serde_json::from_value(written).unwrap();
        assert_eq!(without.notified, None);
        assert_eq!(without.notified_email, None);
    }
}
