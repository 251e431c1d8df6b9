//! The role traits the use cases drive. Adapters (DynamoDB, SQS, S3, SSH) implement them;
//! [`crate::memory`] holds in-memory twins for unit tests.

use std::future::Future;
use std::path::Path;

use ccaas_domain::{
    Channel, DeviceAccess, ListQuery, Notified, Priority, SealedMessage, SearchQuery, Status, Task,
    TaskId, TaskType,
};
use serde::{Deserialize, Serialize};

use crate::Error;

/// What an Idempotency-Key maps to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// `<user>#<key>`: keys are scoped per user (user names never hold `#`).
    pub scope: String,
    /// The task the first request created.
    pub task_id: TaskId,
    /// The first request's [`ccaas_domain::Submission::fingerprint`] (no secrets in it).
    pub fingerprint: String,
}

/// The outcome of [`TaskStore::create`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The task (and its idempotency record) were written.
    New,
    /// The idempotency record already existed; nothing was written.
    KeyExists,
}

/// One page of a listing, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// The tasks of this page.
    pub tasks: Vec<Task>,
    /// The opaque cursor of the next page, if there is one.
    pub next: Option<String>,
    /// How many tasks match the whole query, where the store knows it for free: on a first
    /// page (no cursor given) that holds every match (no `next`). `None` otherwise.
    pub total: Option<usize>,
}

/// Where tasks live (DynamoDB `tasks` in production).
pub trait TaskStore: Send + Sync {
    /// The queue ([`Task::queue`]) of the newest pending or running task on device
    /// `host:port`, `None` when it has none. Read-only. It may miss a task written a moment
    /// before (DynamoDB's indexes are eventually consistent). Errors: [`Error::Unavailable`],
    /// [`Error::Corrupt`].
    fn open_queue(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Option<Priority>, Error>> + Send;

    /// The oldest pending or running task on device `host:port` created before `before`
    /// whose queue ([`Task::queue`]) is not `queue`, `None` when there is none: a task the
    /// worker lets go first, because a FIFO group keeps order only within one queue.
    /// Read-only. Errors: [`Error::Unavailable`], [`Error::Corrupt`].
    fn earlier_open(
        &self,
        host: &str,
        port: u16,
        before: &TaskId,
        queue: Priority,
    ) -> impl Future<Output = Result<Option<TaskId>, Error>> + Send;

    /// Writes a new task, and its idempotency record in the same atomic write when given.
    /// Idempotent through the record: a second call with the same scope writes nothing and
    /// returns [`Created::KeyExists`]. Errors: [`Error::Unavailable`]; [`Error::Conflict`] if
    /// the task id already exists.
    fn create(
        &self,
        task: &Task,
        idem: Option<&IdempotencyRecord>,
    ) -> impl Future<Output = Result<Created, Error>> + Send;

    /// Reads a task. Read-only. Errors: [`Error::Unavailable`], [`Error::Corrupt`].
    fn get(&self, id: &TaskId) -> impl Future<Output = Result<Option<Task>, Error>> + Send;

    /// Reads an idempotency record by scope. Read-only. Errors: [`Error::Unavailable`].
    fn idempotency(
        &self,
        scope: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, Error>> + Send;

    /// Lists tasks newest first with the query's filters (status, user, type, device host
    /// and port, creation date range), one page at a time, reading no more than the page
    /// needs: an unfiltered page of `n` costs one store query of `n + 1` rows. Sets
    /// [`Page::total`] when it is free. Read-only.
    /// Errors: [`Error::Invalid`] for a cursor this store did not make, [`Error::Unavailable`].
    fn list(&self, query: &ListQuery) -> impl Future<Output = Result<Page, Error>> + Send;

    /// Replaces the task's mutable state (status, version, updated, lease, result, error)
    /// with `next`'s, only if the stored task still has `expected` (status, version).
    /// Not idempotent by design: a repeat finds the new version and returns
    /// [`Error::Conflict`]. Errors: [`Error::Conflict`], [`Error::Unavailable`].
    fn write_status(
        &self,
        next: &Task,
        expected: (Status, u64),
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Claims the notification of the finished task `id` on `channel` until `until` (Unix
    /// seconds): a conditional write that wins only while the task is terminal, that
    /// channel's notification is not recorded done ([`TaskStore::mark_notified`]) and no other
    /// claim on that channel is held past `now`. Channels are independent: a claim on one
    /// never blocks another. Returns whether this caller won. Not idempotent by design: a
    /// repeat finds the claim held and returns `false`. Errors: [`Error::Unavailable`].
    fn claim_notification(
        &self,
        id: &TaskId,
        channel: Channel,
        now: u64,
        until: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Records the notification of `id` on `channel` as done with `outcome` and drops that
    /// channel's claim, so no later claim on it wins; [`TaskStore::get`] then shows it in
    /// [`Task::notified_on`]. Idempotent (the last outcome stays). Errors:
    /// [`Error::Unavailable`].
    fn mark_notified(
        &self,
        id: &TaskId,
        channel: Channel,
        outcome: Notified,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// The usage history the task store keeps (DynamoDB `usage` in production): counter items
/// and coverage points that [`TaskStore::create`] and [`TaskStore::write_status`] write in the
/// same atomic write as the task ([`crate::usage::Effects`]), so a create that finds its
/// idempotency record, or a status write that loses its condition (a duplicate or redelivered
/// message), counts nothing.
pub trait UsageStore: Send + Sync {
    /// The counter items of `series` ([`crate::usage::series`]) whose period lies from
    /// `first_period` to `last_period` (`YYYY-MM-DD`, both included), in `(period, group)`
    /// order, at most `max_rows` of them (`truncated` when the range held more). Read-only.
    /// Errors: [`Error::Unavailable`], [`Error::Corrupt`].
    fn counters(
        &self,
        series: &str,
        first_period: &str,
        last_period: &str,
        max_rows: usize,
    ) -> impl Future<Output = Result<crate::usage::CounterRows, Error>> + Send;

    /// The newest `limit` coverage points of `subject` ([`crate::usage::coverage_key`])
    /// whose end task id lies in `from..=to` (open ends when `None`), oldest first.
    /// Read-only. Errors: [`Error::Unavailable`], [`Error::Corrupt`].
    fn coverage_points(
        &self,
        subject: &str,
        from: Option<&TaskId>,
        to: Option<&TaskId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<crate::usage::CoveragePoint>, Error>> + Send;
}

/// Where task messages wait for a worker (two SQS FIFO queues in production).
pub trait TaskQueue: Send + Sync {
    /// Sends the message to the priority's queue in the message group `group` (the device's
    /// [`device_key`], so one device's tasks keep their order), deduplicated by task id, so a repeat
    /// within the queue's dedup window is a no-op.
    /// Errors: [`Error::Unavailable`].
    fn enqueue(
        &self,
        message: &SealedMessage,
        group: &str,
        priority: Priority,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Seals the device access of queue messages (KMS in production), bound to a task id: what is
/// sealed for one task does not open for another.
pub trait Sealer: Send + Sync {
    /// Seals `plaintext` for task `context` into a printable token. Safe to repeat: each call
    /// may give other bytes, and every one opens to the same plaintext.
    /// Errors: [`Error::Unavailable`].
    fn seal(
        &self,
        context: &TaskId,
        plaintext: &[u8],
    ) -> impl Future<Output = Result<String, Error>> + Send;

    /// Opens a token that [`Sealer::seal`] made for the same task id. Read-only.
    /// Errors: [`Error::Unavailable`] (retryable); [`Error::Corrupt`] when the token is
    /// malformed or was sealed for another task or under another key (never retryable).
    fn open(
        &self,
        context: &TaskId,
        sealed: &str,
    ) -> impl Future<Output = Result<Vec<u8>, Error>> + Send;
}

/// Where command logs live (S3 `logs/<task-id>.jsonl` in production).
pub trait LogStore: Send + Sync {
    /// Reads a task's command log, `None` before one is written. Read-only.
    /// Errors: [`Error::Unavailable`].
    fn read_log(&self, id: &TaskId) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// Writes (replaces) a task's command log. Idempotent: the same bytes give the same object.
    /// Errors: [`Error::Unavailable`].
    fn write_log(
        &self,
        id: &TaskId,
        jsonl: Vec<u8>,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// A failure of the device work, classified for the worker.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RunError {
    /// Whether a later delivery may succeed (device unreachable, timeout, AWS down).
    pub retryable: bool,
    /// Stable code, such as `not_implemented`, `auth_failed`, `unreachable`.
    pub code: String,
    /// For people; never holds a secret.
    pub message: String,
}

/// Does a task's device work (start or end a coverage session).
pub trait TaskRunner: Send + Sync {
    /// Runs the task and returns its `result`. Must be safe to call again after a crash at any
    /// point (every stage idempotent). Errors: a classified [`RunError`].
    fn run(
        &self,
        task: &Task,
        device: &DeviceAccess,
    ) -> impl Future<Output = Result<serde_json::Value, RunError>> + Send;

    /// Runs a task that needs no device (a merge: its message carries no device access) and
    /// returns its `result`, with [`TaskRunner::run`]'s guarantees: safe to call again after a
    /// crash at any point. Errors: a classified [`RunError`]; by default every such task fails
    /// `not_implemented`, so runners that only do device work need not write it.
    fn run_without_device(
        &self,
        task: &Task,
    ) -> impl Future<Output = Result<serde_json::Value, RunError>> + Send {
        let e = no_device_work(task);
        async move { Err(e) }
    }
}

/// A runner without a device for `task` (see [`ccaas_domain::TaskType::needs_device`]): the
/// [`TaskRunner::run_without_device`] default.
fn no_device_work(task: &Task) -> RunError {
    RunError {
        retryable: false,
        code: "not_implemented".into(),
        message: format!("{} is not implemented here", task.task_type.as_str()),
    }
}

/// The runner used until the device work lands: every task fails with `not_implemented`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NotImplementedRunner;

impl TaskRunner for NotImplementedRunner {
    async fn run(
        &self,
        task: &Task,
        _device: &DeviceAccess,
    ) -> Result<serde_json::Value, RunError> {
        Err(RunError {
            retryable: false,
            code: "not_implemented".into(),
            message: format!("{} is not implemented yet", task.task_type.as_str()),
        })
    }
}

/// The device a task shows (rows, notifications): its [`device_key`], or `""` for a task
/// without a device (a merge).
pub fn task_device(task: &Task) -> String {
    match task.device.is_empty() {
        true => String::new(),
        false => device_key(&task.device, task.port),
    }
}

/// The key of a device in the `devices` table, its FIFO message group and its pin:
/// `<host>:<port>`, `[<host>]:<port>` for an IPv6 address (the text of
/// [`ccaas_domain::DeviceKey`]). `host` is the canonical host a task stores
/// ([`ccaas_domain::DeviceHost`]), so every spelling of one address gives one key. A device is
/// an SSH endpoint, so several simulated devices on one host are distinct.
pub fn device_key(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A coverage session open on a device (the `devices` table holds at most one per device).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceSession {
    /// The start task that opened it: the session id.
    pub id: TaskId,
    /// The modules it covers.
    pub modules: Vec<String>,
    /// What the device driver found at the start (build, pids and start times, core files),
    /// as the driver's JSON, so `end` can compare.
    pub facts: serde_json::Value,
    /// When it was opened, RFC 3339 UTC.
    pub opened: String,
    /// When it was opened, Unix milliseconds: what its age is measured from. Records written
    /// before it existed are aged from their start task's id (its creation time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_ms: Option<u64>,
    /// Who opened it: the start task's `user` (with auth on, the token's user). Only this user
    /// or an admin may end or discard it. `None` on records written before it existed: any
    /// user may end those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The expired session this one took over (closed unended), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_over: Option<TaskId>,
}

impl DeviceSession {
    /// When it was opened, Unix milliseconds ([`DeviceSession::opened_ms`], else its id's time).
    pub fn opened_at_ms(&self) -> u64 {
        self.opened_ms.unwrap_or_else(|| self.id.unix_ms())
    }

    /// Whether it is older than `max_age_secs` at `now_ms`.
    pub fn is_expired(&self, now_ms: u64, max_age_secs: u64) -> bool {
        now_ms.saturating_sub(self.opened_at_ms()) > max_age_secs.saturating_mul(1000)
    }

    /// Whether `user` (an admin when `admin`) may end or discard it: its owner, an admin, or
    /// anyone for a record without an owner.
    pub fn may_be_closed_by(&self, user: &str, admin: bool) -> bool {
        admin || self.owner.as_deref().is_none_or(|o| o == user)
    }
}

/// One page of open sessions ([`SessionStore::list`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionPage {
    /// `(device key, session)` pairs, in the store's order.
    pub sessions: Vec<(String, DeviceSession)>,
    /// The opaque cursor of the next page, if there may be one.
    pub next: Option<String>,
}

/// The outcome of [`SessionStore::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The session was recorded.
    New,
    /// This same session (same id) was already open: nothing was written.
    Already,
    /// Another session is open on the device: nothing was written.
    Busy(TaskId),
}

/// Open coverage sessions per device (DynamoDB `devices` in production).
pub trait SessionStore: Send + Sync {
    /// Records `session` as the device's open session, only if the device has none open (a
    /// conditional write). Idempotent per session id: opening the same id again returns
    /// [`Opened::Already`] and keeps the first record. Another open id gives
    /// [`Opened::Busy`]. Errors: [`Error::Unavailable`].
    fn open(
        &self,
        device: &str,
        session: &DeviceSession,
    ) -> impl Future<Output = Result<Opened, Error>> + Send;

    /// The device's open session, if any. Read-only (a consistent read).
    /// Errors: [`Error::Unavailable`], [`Error::Corrupt`].
    fn current(
        &self,
        device: &str,
    ) -> impl Future<Output = Result<Option<DeviceSession>, Error>> + Send;

    /// Closes the device's session `id` (a conditional delete of the session, keeping the rest
    /// of the device's record such as the pinned host key). Idempotent: returns `false` and
    /// changes nothing when that session is not open (already closed, or another one is open).
    /// Errors: [`Error::Unavailable`].
    fn close(&self, device: &str, id: &TaskId) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Lists the devices with an open session, at most `limit` per page, after the cursor
    /// `next` of the previous page. Read-only. Every session open for the whole walk appears
    /// exactly once across the pages; a page may hold fewer than `limit` and still have a
    /// cursor (a store that filters after reading stops after a bounded read).
    /// Errors: [`Error::Invalid`] (field `next`) for a cursor this store did not make,
    /// [`Error::Unavailable`], [`Error::Corrupt`].
    fn list(
        &self,
        next: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<SessionPage, Error>> + Send;
}

/// What [`HostKeyPins::pin`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinOutcome {
    /// The fingerprint is pinned now (just written, or it already was).
    Pinned,
    /// A different fingerprint is pinned; nothing was written.
    Differs {
        /// The fingerprint already pinned.
        pinned: String,
    },
}

/// Where pinned SSH host keys live, per device (the `devices` table in production): trust
/// on first use, refuse a change afterwards. Fingerprints are `SHA256:<base64>` strings as
/// `ssh-keygen -lf` prints them. Implementations are safe to share between concurrent
/// operations.
pub trait HostKeyPins: Send + Sync {
    /// The fingerprint pinned for `host:port`, or `None` when none is pinned yet.
    /// Read-only. Errors: [`Error::Unavailable`] when the store cannot be read (the caller
    /// treats it as retryable and does not connect on).
    fn pinned(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Pins `sha256` for `host:port` if nothing is pinned yet (a conditional write).
    /// Idempotent: pinning the fingerprint that is already pinned answers
    /// [`PinOutcome::Pinned`] and changes nothing; a different pinned fingerprint (for example
    /// from a concurrent first contact) answers [`PinOutcome::Differs`], which the driver
    /// reports as a host-key mismatch. Errors: [`Error::Unavailable`] when the store cannot be
    /// written.
    fn pin(
        &self,
        host: &str,
        port: u16,
        sha256: &str,
    ) -> impl Future<Output = Result<PinOutcome, Error>> + Send;

    /// Drops the pin of `host:port` (after the device was re-imaged), keeping the rest of the
    /// device's record (its open session). Answers whether a pin was there. Idempotent:
    /// dropping an absent pin answers `false` and changes nothing. Errors:
    /// [`Error::Unavailable`] when the store cannot be written.
    fn unpin(&self, host: &str, port: u16) -> impl Future<Output = Result<bool, Error>> + Send;
}

impl<T: HostKeyPins + ?Sized> HostKeyPins for std::sync::Arc<T> {
    fn pinned(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send {
        (**self).pinned(host, port)
    }

    fn pin(
        &self,
        host: &str,
        port: u16,
        sha256: &str,
    ) -> impl Future<Output = Result<PinOutcome, Error>> + Send {
        (**self).pin(host, port, sha256)
    }

    fn unpin(&self, host: &str, port: u16) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).unpin(host, port)
    }
}

/// Private per-task artifacts of an end task (S3 `raw/<task-id>/` in production). Every key is
/// made from the task id and a fixed name, never from user input.
pub trait ArtifactStore: Send + Sync {
    /// Uploads the collected archive from the local file `from` as `raw/<id>/gcda.tar.gz`.
    /// Idempotent: the same bytes give the same object; a repeat replaces it.
    /// Errors: [`Error::Unavailable`] (also when `from` cannot be read).
    fn put_raw(&self, id: &TaskId, from: &Path) -> impl Future<Output = Result<(), Error>> + Send;

    /// Downloads `raw/<id>/gcda.tar.gz` into the local file `to` (created or truncated).
    /// Returns `false` (and writes nothing) when there is none. Read-only on the store.
    /// Errors: [`Error::Corrupt`] when it is larger than `max_bytes`, [`Error::Unavailable`].
    fn get_raw(
        &self,
        id: &TaskId,
        to: &Path,
        max_bytes: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Writes `raw/<id>/facts.json`: what the collect stage found. The end task writes it
    /// after the archive, so its presence means the collect stage is complete.
    /// Idempotent (a repeat replaces it). Errors: [`Error::Unavailable`].
    fn put_facts(
        &self,
        id: &TaskId,
        json: Vec<u8>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Reads `raw/<id>/facts.json`, `None` when the collect stage has not completed.
    /// Read-only. Errors: [`Error::Unavailable`], [`Error::Corrupt`] past 1 MiB.
    fn get_facts(&self, id: &TaskId)
    -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;
}

/// The totals of a published report, as `(hit, total)` pairs, for the site-wide list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteTotals {
    /// Lines.
    pub lines: (u64, u64),
    /// Functions.
    pub functions: (u64, u64),
    /// Branches.
    pub branches: (u64, u64),
}

/// Whether `name` may be the path of a published report file under the report's prefix
/// (made by the renderer, never user text): `[A-Za-z0-9._-]` segments joined by `/`, none of
/// them `.` or `..`.
pub fn is_site_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        })
}

/// The report site's bucket (the S3 website bucket in production): public report pages
/// (`reports/<task-id>/...`), the site-wide `index.html`, and the private records the index is
/// made from. A plain object store: what goes where, and in which order, is the publishing use
/// case's (`ccaas_coverage::publish`), which makes every key from a task id, numbers and
/// checked file names only.
pub trait ReportSite: Send + Sync {
    /// Writes (replaces) the object `key`, served with `content_type` and `cache_control`.
    /// Idempotent: the same call again leaves the same object.
    /// Errors: [`Error::Unavailable`] (nothing or the old object stays).
    fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        cache_control: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Every key that starts with `prefix`, in byte order, across all pages. Read-only.
    /// Errors: [`Error::Unavailable`].
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, Error>> + Send;

    /// Deletes the object `key`. Idempotent: deleting a key that does not exist succeeds.
    /// Errors: [`Error::Unavailable`].
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), Error>> + Send;
}

/// One file of a build's published files (S3 `builds/<build-id>/<file>` in production), written
/// by `ccaas build publish` for devices that keep no `.gcno` beside their `.gcda`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuildPart {
    /// `notes.tar.gz`: every `.gcno` of the build, by path relative to the published directory.
    Notes,
    /// `sources.tar.gz`: the build's C/C++ sources and headers, shown in the report pages.
    Sources,
}

impl BuildPart {
    /// The object's file name under `builds/<build-id>/`.
    pub fn file_name(self) -> &'static str {
        match self {
            BuildPart::Notes => "notes.tar.gz",
            BuildPart::Sources => "sources.tar.gz",
        }
    }
}

/// The key of a build's part: `builds/<build-id>/<file>`. Made from a validated
/// [`ccaas_domain::BuildId`] and a fixed name only.
pub fn build_key(build: &ccaas_domain::BuildId, part: BuildPart) -> String {
    format!("builds/{build}/{}", part.file_name())
}

/// The published notes and sources of builds (the bucket's private `builds/` prefix in
/// production). Keys come from [`build_key`] only.
pub trait BuildStore: Send + Sync {
    /// Uploads the local file `from` as the build's `part`. Idempotent: the same bytes give the
    /// same object; a repeat replaces it. Errors: [`Error::Unavailable`] (also when `from`
    /// cannot be read).
    fn put_part(
        &self,
        build: &ccaas_domain::BuildId,
        part: BuildPart,
        from: &Path,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Downloads the build's `part` into the local file `to` (created or truncated). Returns
    /// `false` (and writes nothing) when it was never published. Read-only on the store.
    /// Errors: [`Error::Corrupt`] when it is larger than `max_bytes` (nothing past the cap is
    /// read), [`Error::Unavailable`].
    fn get_part(
        &self,
        build: &ccaas_domain::BuildId,
        part: BuildPart,
        to: &Path,
        max_bytes: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// One webhook notification of a finished task.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The task's `notify.webhook` (http or https, checked at submission). It may hold a
    /// secret token (Slack's URLs do), so it is never logged.
    pub url: String,
    /// The idempotency key, sent as `X-Ccaas-Delivery`: the task id, the same on every
    /// attempt and every re-send of this task's notification.
    pub delivery_id: String,
    /// The JSON body ([`crate::notify::payload`]): Slack's `text` plus the details.
    pub body: serde_json::Value,
}

/// A notification that could not be delivered. The worker only logs it: the task keeps its
/// status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (after {attempts} attempts)")]
pub struct NotifyError {
    /// How many POSTs were tried (0 when the address was refused before any).
    pub attempts: u32,
    /// What happened, for people. Never holds the webhook URL.
    pub message: String,
}

/// Delivers webhook notifications (HTTP POST in production).
pub trait Notifier: Send + Sync {
    /// POSTs the notification, retrying with backoff on connection errors, timeouts, 5xx and
    /// 429, and not on other answers. Not idempotent: each successful call is one more POST;
    /// receivers deduplicate by [`Notification::delivery_id`]. Takes at most
    /// [`Notifier::budget`]. Errors: a [`NotifyError`] when every attempt failed or the
    /// answer was a refusal (4xx, a redirect, an address the policy forbids).
    fn notify(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;

    /// The longest one [`Notifier::notify`] call takes, every attempt and pause included:
    /// the worker holds its claim on a notification longer than this. Pure; no errors.
    fn budget(&self) -> std::time::Duration;
}

/// The notifier of wirings without webhooks: every notification fails at once, unsent.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNotifier;

impl Notifier for NoNotifier {
    async fn notify(&self, _n: &Notification) -> Result<(), NotifyError> {
        Err(NotifyError {
            attempts: 0,
            message: "webhook notifications are not wired in this process".into(),
        })
    }

    fn budget(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// The most bytes one [`IndexStore::read_index`] call returns.
pub const MAX_INDEX_READ: u64 = 64 << 20;

/// The key of a session's coverage index: `index/coverage/<build-id>/<session-id>.idx`. Made
/// from a validated [`ccaas_domain::BuildId`] and a [`TaskId`] only.
pub fn index_key(build: &ccaas_domain::BuildId, session: &TaskId) -> String {
    format!("index/coverage/{build}/{session}.idx")
}

/// The key of a merge task's coverage index: `index/merged/<build-id>/<task-id>.idx`, apart
/// from `index/coverage/`, so the impact query (which lists only that prefix) never counts a
/// merge as a session. Made from a validated [`ccaas_domain::BuildId`] and a [`TaskId`] only.
pub fn merged_index_key(build: &ccaas_domain::BuildId, task: &TaskId) -> String {
    format!("index/merged/{build}/{task}.idx")
}

/// The key of the newest indexed build: `index/latest.json` for every device, or
/// `index/latest/<device key>.json` for one ([`device_key`]: a canonical host and a port, so
/// no `/` and no user text beyond what the domain validated).
pub fn latest_key(device: Option<&str>) -> String {
    match device {
        None => "index/latest.json".to_owned(),
        Some(d) => format!("index/latest/{d}.json"),
    }
}

/// The build whose indexes were written last (for all devices or one), with the time of the
/// end task that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestBuild {
    /// The build.
    pub build: ccaas_domain::BuildId,
    /// The end task's creation time, Unix ms.
    pub ended_ms: u64,
}

/// Per-session coverage indexes (the bucket's private `index/` prefix in production): written
/// by end tasks, read in byte ranges by the impact query; and merge tasks' indexes, which
/// no listing shows. Keys come from [`index_key`], [`merged_index_key`] and [`latest_key`] only.
pub trait IndexStore: Send + Sync {
    /// Writes (replaces) the index of `session` of `build`. Idempotent: the same bytes give the
    /// same object. Errors: [`Error::Unavailable`].
    fn put_index(
        &self,
        build: &ccaas_domain::BuildId,
        session: &TaskId,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The sessions of `build` that have an index, oldest first, at most the newest `max`
    /// (session ids sort by time). Read-only. Errors: [`Error::Unavailable`].
    fn list_sessions(
        &self,
        build: &ccaas_domain::BuildId,
        max: usize,
    ) -> impl Future<Output = Result<Vec<TaskId>, Error>> + Send;

    /// Bytes `offset .. offset + len` of the session's index (fewer when it ends sooner, none
    /// past its end); `None` when it has no index. Read-only. Errors: [`Error::Corrupt`] when
    /// `len` is over [`MAX_INDEX_READ`], [`Error::Unavailable`].
    fn read_index(
        &self,
        build: &ccaas_domain::BuildId,
        session: &TaskId,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// Writes (replaces) the index of merge task `task` of `build`
    /// ([`merged_index_key`]; [`IndexStore::list_sessions`] never lists it). Idempotent: the
    /// same bytes give the same object. Errors: [`Error::Unavailable`].
    fn put_merged_index(
        &self,
        build: &ccaas_domain::BuildId,
        task: &TaskId,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Bytes `offset .. offset + len` of merge task `task`'s index, as
    /// [`IndexStore::read_index`] reads a session's; `None` when it has none. Read-only.
    /// Errors: [`Error::Corrupt`] when `len` is over [`MAX_INDEX_READ`], [`Error::Unavailable`].
    fn read_merged_index(
        &self,
        build: &ccaas_domain::BuildId,
        task: &TaskId,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// Records `latest` as the newest indexed build, of every device (`None`) or of one device
    /// key. Idempotent (a repeat replaces it with the same); the last writer wins. Errors:
    /// [`Error::Unavailable`].
    fn put_latest(
        &self,
        device: Option<&str>,
        latest: &LatestBuild,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The newest indexed build recorded by [`IndexStore::put_latest`], `None` before any.
    /// Read-only. Errors: [`Error::Unavailable`], [`Error::Corrupt`] for an unreadable record.
    fn latest(
        &self,
        device: Option<&str>,
    ) -> impl Future<Output = Result<Option<LatestBuild>, Error>> + Send;
}

/// One email notice of a finished task. Built from the stored task only
/// ([`crate::notify::mail`]), so it never holds a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// The recipients: the task's `notify.email`, plain addresses checked at submission.
    pub to: Vec<String>,
    /// One line, no control characters, at most 200 characters.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part; every value from the task in it is escaped.
    pub html: String,
    /// The task id: logged with the outcome, never a header a receiver sees.
    pub delivery_id: String,
}

/// Sends email notices (SES `SendEmail` in production). The sender address is the
/// adapter's own setting (`CCAAS_MAIL_FROM`), never the task's.
pub trait Mailer: Send + Sync {
    /// Sends the mail, retrying what the transport retries (throttling, 5xx, timeouts). Not
    /// idempotent: each successful call is one more mail; the worker's claim makes it once
    /// per task in the normal path. Takes at most [`Mailer::budget`]. Errors: a
    /// [`NotifyError`] when the service refused the mail (an unverified sender or recipient,
    /// a rejected message) or did not answer; its message never holds a credential.
    fn send(&self, mail: &Mail) -> impl Future<Output = Result<(), NotifyError>> + Send;

    /// The longest one [`Mailer::send`] call takes, retries included: the worker holds its
    /// claim on an email notice longer than this. Pure; no errors.
    fn budget(&self) -> std::time::Duration;
}

/// The mailer of wirings without email: every notice fails at once, unsent (the API refuses
/// `notify.email` with `email_disabled` where no sender is configured, so only a task
/// submitted before the sender was removed meets it).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMailer;

impl Mailer for NoMailer {
    async fn send(&self, _mail: &Mail) -> Result<(), NotifyError> {
        Err(NotifyError {
            attempts: 0,
            message: "email notices are not configured in this process (CCAAS_MAIL_FROM)".into(),
        })
    }

    fn budget(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// An optional mailer: `None` (no sender configured) behaves as [`NoMailer`].
impl<M: Mailer> Mailer for Option<M> {
    async fn send(&self, mail: &Mail) -> Result<(), NotifyError> {
        match self {
            Some(m) => m.send(mail).await,
            None => NoMailer.send(mail).await,
        }
    }

    fn budget(&self) -> std::time::Duration {
        self.as_ref()
            .map_or(std::time::Duration::ZERO, Mailer::budget)
    }
}

/// One task as the search index holds it: what [`TaskSearch::upsert`] takes, made by
/// [`crate::search::doc_of`] from a [`Task`] and its command log. Holds no secret (a task
/// holds none; the webhook URL, which may, is left out).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchDoc {
    /// The task id: the document's key.
    pub id: TaskId,
    /// The task's name.
    pub name: Option<String>,
    /// Its user.
    pub user: String,
    /// Its device host, canonical.
    pub host: String,
    /// Its device port.
    pub port: u16,
    /// Its type.
    pub task_type: TaskType,
    /// Its status.
    pub status: Status,
    /// Its modules.
    pub modules: Vec<String>,
    /// The build it reported (`result.build`), when it did.
    pub build: Option<String>,
    /// Its error code, when it failed.
    pub error_code: Option<String>,
    /// Its error message, when it failed.
    pub error_message: Option<String>,
    /// The tail of its command log as text: each command, its stdout and stderr tails
    /// (bounded by [`crate::search::MAX_LOG_TEXT`]).
    pub log: String,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
}

/// The fields a search matches, in the order a hit's snippet is taken from: the first that
/// holds a matched word.
pub const SEARCH_FIELDS: [&str; 9] = [
    "name", "error", "log", "modules", "build", "user", "device", "type", "status",
];

impl SearchDoc {
    /// The device key, `host:port` (`[v6]:port`).
    pub fn device(&self) -> String {
        device_key(&self.host, self.port)
    }

    /// The text of each of [`SEARCH_FIELDS`], in that order: what is matched and quoted.
    pub fn texts(&self) -> [(&'static str, String); 9] {
        let error = match (&self.error_code, &self.error_message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        };
        [
            ("name", self.name.clone().unwrap_or_default()),
            ("error", error),
            ("log", self.log.clone()),
            ("modules", self.modules.join(" ")),
            ("build", self.build.clone().unwrap_or_default()),
            ("user", self.user.clone()),
            ("device", self.device()),
            ("type", self.task_type.as_str().to_owned()),
            ("status", self.status.as_str().to_owned()),
        ]
    }
}

/// Where a hit matched: a piece of one field with the matched words marked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snippet {
    /// The field, one of [`SEARCH_FIELDS`].
    pub field: String,
    /// A piece of the field's text (at most about 150 bytes, the whole field when shorter).
    pub text: String,
    /// The matched words in `text`, as byte ranges `[start, end)` on character boundaries,
    /// in order, not overlapping.
    pub highlight: Vec<(usize, usize)>,
}

/// One task a search found.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    /// The task.
    pub id: TaskId,
    /// Its name.
    pub name: Option<String>,
    /// Its user.
    pub user: String,
    /// Its device key, `host:port`.
    pub device: String,
    /// Its type.
    pub task_type: TaskType,
    /// Its status.
    pub status: Status,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// The relevance: higher ranks first (its scale is the engine's; 0 without free text).
    pub score: f32,
    /// Where it matched; `None` without free text.
    pub snippet: Option<Snippet>,
}

/// One page of a search.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchPage {
    /// The page's hits, best first: by relevance, then newest first.
    pub hits: Vec<SearchHit>,
    /// How many tasks match the whole query.
    pub total: usize,
}

/// The full-text index of tasks (tantivy over a directory in `ccaas-local`; see
/// docs/design.md, "Search"). Fed by the tasks' changes, read by `GET /v1/search`.
pub trait TaskSearch: Send + Sync {
    /// Adds or replaces the documents, by task id, and makes them searchable before it
    /// returns. Idempotent: the same documents again leave the same index (one document per
    /// task, never two). Errors: [`Error::Unavailable`] when the index cannot be written.
    fn upsert(&self, docs: &[SearchDoc]) -> impl Future<Output = Result<(), Error>> + Send;

    /// The page of hits the query asks for (`query.offset`, `query.limit`), and how many match.
    /// Free words are alternatives (a task matches any; more matched terms rank higher, then
    /// newer); a phrase matches its words in order in one field; every filter must hold.
    /// Without free text, the filters' tasks newest first. Read-only. Errors:
    /// [`Error::Unavailable`] when the index cannot be read.
    fn search(&self, query: &SearchQuery)
    -> impl Future<Output = Result<SearchPage, Error>> + Send;
}

impl<T: TaskSearch + ?Sized> TaskSearch for std::sync::Arc<T> {
    fn upsert(&self, docs: &[SearchDoc]) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).upsert(docs)
    }

    fn search(
        &self,
        query: &SearchQuery,
    ) -> impl Future<Output = Result<SearchPage, Error>> + Send {
        (**self).search(query)
    }
}

/// One file of the search index on the shared store ([`IndexFiles::list`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexFile {
    /// Its name in the index directory (`meta.json`, `<segment>.idx`, ...).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The search index's files where every reader can fetch them (S3 `index/search/<name>` in
/// production): tantivy's immutable segment files and the `meta.json` commit point, copied
/// by `ccaas_search::replica`. Names are file names of one directory (`[A-Za-z0-9._-]`, no
/// `/`), never user text.
pub trait IndexFiles: Send + Sync {
    /// Every file, in name order, across all pages. Read-only. Errors: [`Error::Unavailable`].
    fn list(&self) -> impl Future<Output = Result<Vec<IndexFile>, Error>> + Send;

    /// The version tag of `name` (S3's ETag): it changes whenever the file is replaced. `None`
    /// when there is no such file. Read-only. Errors: [`Error::Unavailable`].
    fn tag(&self, name: &str) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Downloads `name` into the local file `to` (created or truncated) and answers its tag;
    /// `None` (and nothing written) when there is no such file. Read-only on the store.
    /// Errors: [`Error::Corrupt`] past `max_bytes`, [`Error::Unavailable`].
    fn get(
        &self,
        name: &str,
        to: &Path,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Uploads the local file `from` as `name`. Idempotent: the same bytes give the same
    /// file; a repeat replaces it. Errors: [`Error::Unavailable`] (also when `from` cannot be
    /// read).
    fn put(&self, name: &str, from: &Path) -> impl Future<Output = Result<(), Error>> + Send;

    /// Deletes `name`. Idempotent: deleting an absent file succeeds.
    /// Errors: [`Error::Unavailable`].
    fn delete(&self, name: &str) -> impl Future<Output = Result<(), Error>> + Send;
}
