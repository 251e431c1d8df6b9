//! The JSON the API returns (DESIGN §2 shapes). None of these types can hold a credential.
//! Behind the `openapi` feature they also give their schemas to the generated OpenAPI document
//! (docs/openapi.yaml), the wire names' `&str` fields as the domain enums they come from.

use ccaas_domain::{Channel, Notified, Task, TaskError};
use serde::Serialize;

/// The `202` body of `POST /v1/tasks`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Accepted))]
pub struct AcceptedView {
    /// Task id.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub id: String,
    /// Task type.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskType))]
    pub task_type: &'static str,
    /// Current status (`pending` for a new task; a replay shows the current one).
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::Status))]
    pub status: &'static str,
    /// The task's URL.
    pub selflink: String,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub timestamp: String,
}

/// The body of `GET /v1/tasks/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Task))]
pub struct TaskView {
    /// Task id.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub id: String,
    /// Label.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub name: Option<String>,
    /// Owner.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::openapi::UserName))]
    pub user: String,
    /// Task type.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskType))]
    pub task_type: &'static str,
    /// Queue.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::Priority))]
    pub priority: &'static str,
    /// Status.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::Status))]
    pub status: &'static str,
    /// The task's URL.
    pub selflink: String,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub timestamp: String,
    /// Last change.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated: String,
    /// Device host.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::openapi::HostName))]
    pub device: String,
    /// Device SSH port.
    pub port: u16,
    /// Modules.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<ccaas_domain::ModuleName>))]
    pub modules: Vec<String>,
    /// The session this end task closes, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub session: Option<String>,
    /// The end tasks a `code-coverage-merge` task merges (its `data.tasks`); absent for other
    /// types.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<ccaas_domain::TaskId>>))]
    pub tasks: Option<Vec<String>>,
    /// The result of a succeeded task.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub result: Option<serde_json::Value>,
    /// The error of a failed task.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = TaskError))]
    pub error: Option<TaskError>,
    /// Where its notifications are, for a task submitted with `notify`: one member per
    /// channel it asked for. The webhook URL is never shown (it may hold a token), nor the
    /// email addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = NotifyView))]
    pub notify: Option<NotifyView>,
}

/// The `notify` member of a task view.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifyView {
    /// For a task with `notify.webhook`: `pending` until the task has finished and its POST
    /// is done, then `sent` (the receiver answered 2xx) or `gave_up` (every attempt failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = webhook_states))]
    pub webhook: Option<&'static str>,
    /// For a task with `notify.email`: `pending` until the task has finished and its mail is
    /// handed to SES, then `sent` (SES accepted it) or `gave_up` (refused or unanswered).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = email_states))]
    pub email: Option<&'static str>,
}

/// The values of [`NotifyView::webhook`]: `pending`, then a [`Notified`].
#[cfg(feature = "openapi")]
fn webhook_states() -> utoipa::openapi::Object {
    notify_states(
        "For a task with notify.webhook: `pending` until the task has finished and its POST is \
         done, then `sent` (the receiver answered 2xx) or `gave_up` (every attempt failed).",
    )
}

/// The values of [`NotifyView::email`]: `pending`, then a [`Notified`].
#[cfg(feature = "openapi")]
fn email_states() -> utoipa::openapi::Object {
    notify_states(
        "For a task with notify.email: `pending` until the task has finished and its mail is \
         handed to SES, then `sent` (SES accepted it) or `gave_up` (refused or unanswered).",
    )
}

#[cfg(feature = "openapi")]
fn notify_states(description: &str) -> utoipa::openapi::Object {
    let done = [Notified::Sent, Notified::GaveUp].map(Notified::as_str);
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .description(Some(description))
        .enum_values(Some(std::iter::once("pending").chain(done)))
        .build()
}

/// One row of `GET /v1/tasks`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListItem {
    /// Task id.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub id: String,
    /// The task's URL.
    pub selflink: String,
    /// Status.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::Status))]
    pub status: &'static str,
    /// Task type.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskType))]
    pub task_type: &'static str,
    /// Owner.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::openapi::UserName))]
    pub user: String,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub timestamp: String,
    /// Label.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub name: Option<String>,
    /// The device, `host:port` (`[address]:port` for IPv6), as `GET /v1/devices` writes it.
    pub device: String,
    /// Last change.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated: String,
    /// The error code of a failed task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The report link of a succeeded end task (its `result.link`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The line totals of a succeeded end task (its `result.summary.lines`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<LineTotals>,
}

/// Covered and coverable lines, as an end task's `result.summary.lines` gives them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineTotals {
    /// Lines executed at least once.
    pub covered: u64,
    /// Lines with code.
    pub total: u64,
    /// `covered` of `total`, in percent, two decimals.
    pub percent: f64,
}

/// The body of `GET /v1/tasks`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TaskList))]
pub struct ListView {
    /// Rows in this page.
    pub count: usize,
    /// The rows, newest first.
    pub collection: Vec<ListItem>,
    /// The cursor of the next page, `null` on the last.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub next: Option<String>,
    /// How many tasks match the query in all, where that costs nothing: on a first page (no
    /// `next` sent) that holds every match. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
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
            port: task.port,
            modules: task.modules.iter().map(|m| m.as_str().to_owned()).collect(),
            session: task.session.as_ref().map(|s| s.to_string()),
            tasks: (!task.merge.is_empty())
                .then(|| task.merge.iter().map(|t| t.to_string()).collect()),
            result: task.result.clone(),
            error: task.error.clone(),
            notify: (task.wants(Channel::Webhook) || task.wants(Channel::Email)).then(|| {
                let state = |c: Channel| {
                    task.wants(c)
                        .then(|| task.notified_on(c).map_or("pending", Notified::as_str))
                };
                NotifyView {
                    webhook: state(Channel::Webhook),
                    email: state(Channel::Email),
                }
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
            name: task.name.clone(),
            // A task without a device (a merge) shows none.
            device: crate::ports::task_device(task),
            updated: task.updated.clone(),
            error_code: task.error.as_ref().map(|e| e.code.clone()),
            link: task
                .result
                .as_ref()
                .and_then(|r| r.get("link"))
                .and_then(|l| l.as_str())
                .map(str::to_owned),
            lines: task
                .result
                .as_ref()
                .and_then(|r| r.pointer("/summary/lines"))
                .and_then(|l| serde_json::from_value(l.clone()).ok()),
        }
    }
}

/// The body of `DELETE /v1/devices/{device}/pin`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PinDrop))]
pub struct PinDropView {
    /// The device key, canonical: `host:port`, `[address]:port` for IPv6.
    pub device: String,
    /// Whether a pin was there (dropping an absent pin changes nothing).
    pub dropped: bool,
}

/// One row of `GET /v1/devices`: a device and its open coverage session.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DeviceSession))]
pub struct DeviceView {
    /// The device key, `host:port`.
    pub device: String,
    /// Who opened the session (the start task's user); `null` for a session recorded before
    /// owners were (any user may end it).
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, value_type = Option<ccaas_domain::openapi::UserName>)
    )]
    pub owner: Option<String>,
    /// The session id: its start task's id.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub session: String,
    /// The start task's URL.
    pub selflink: String,
    /// When the session was opened.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub since: String,
    /// The modules it covers.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<ccaas_domain::ModuleName>))]
    pub modules: Vec<String>,
}

impl DeviceView {
    /// The row of an open session on `device`.
    pub fn of(device: &str, s: &crate::ports::DeviceSession, base: &str) -> Self {
        DeviceView {
            device: device.to_owned(),
            owner: s.owner.clone(),
            session: s.id.to_string(),
            selflink: selflink(base, s.id.as_str()),
            since: s.opened.clone(),
            modules: s.modules.clone(),
        }
    }
}

/// The body of `GET /v1/devices`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DeviceList))]
pub struct DeviceListView {
    /// Rows in this page.
    pub count: usize,
    /// The devices with an open session, in the store's order.
    pub collection: Vec<DeviceView>,
    /// The cursor of the next page, `null` on the last.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub next: Option<String>,
}

/// The body of `POST /v1/impact`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Impact))]
pub struct ImpactView {
    /// The build whose sessions were read: the request's, else the newest indexed one;
    /// `null` when no session has an index yet.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub build: Option<String>,
    /// The sessions that executed changed lines, by `lines_hit` then recency (newest first);
    /// at most 1,000.
    pub sessions: Vec<ImpactSessionView>,
    /// Per file of the diff, the changed lines the build instruments that no session executed.
    pub uncovered: Vec<UncoveredView>,
    /// Added and changed lines of the diff (new side).
    pub changed_lines: u64,
    /// Sessions whose indexes were read.
    pub sessions_read: u64,
}

/// A session of `POST /v1/impact`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ImpactSession))]
pub struct ImpactSessionView {
    /// The session id (the start task's id, the end task's `result.session`).
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub session: String,
    /// The end task's id.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub task: String,
    /// The end task's name; `null` when it has none.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub name: Option<String>,
    /// The end task's user.
    pub user: String,
    /// The build the session ran.
    pub build: String,
    /// The device, `host:port`.
    pub device: String,
    /// Changed lines the session executed.
    pub lines_hit: u64,
}

/// Changed lines of one file that no session executed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = UncoveredLines))]
pub struct UncoveredView {
    /// The file, as the diff names it (new side).
    pub file: String,
    /// New-side line numbers, ascending.
    pub lines: Vec<u32>,
}

/// The body of `GET /v1/search`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SearchResults))]
pub struct SearchView {
    /// Hits in this page.
    pub count: usize,
    /// The hits, best first: by relevance, then newest first (newest first only, without
    /// free text).
    pub hits: Vec<SearchHitView>,
    /// The cursor of the next page (send it with the same `q`), `null` on the last page and
    /// once the next page would start at hit 10,000 or later.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub next: Option<String>,
    /// How many tasks match the query in all.
    pub total: usize,
}

/// One hit of `GET /v1/search`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SearchHit))]
pub struct SearchHitView {
    /// Task id.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub id: String,
    /// The task's URL.
    pub selflink: String,
    /// Label.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub name: Option<String>,
    /// Owner.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::openapi::UserName))]
    pub user: String,
    /// The device, `host:port` (`[v6]:port`).
    pub device: String,
    /// Task type.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskType))]
    pub task_type: &'static str,
    /// Status, as the index last saw it.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::Status))]
    pub status: &'static str,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub timestamp: String,
    /// Relevance (the engine's BM25 sum; 0 without free text). Compare within one response.
    pub score: f32,
    /// Where it matched; `null` without free text.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub snippet: Option<SnippetView>,
}

/// A hit's snippet: a piece of one field with the matched words marked.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Snippet))]
pub struct SnippetView {
    /// The field: `name`, `error`, `log`, `modules`, `build`, `user`, `device`, `type` or
    /// `status`.
    pub field: String,
    /// A piece of the field (about 150 bytes at most).
    pub text: String,
    /// The matched words, as `[start, end)` UTF-8 byte offsets into `text`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<u32>>))]
    pub highlight: Vec<(usize, usize)>,
}

impl SearchHitView {
    /// The view of a hit.
    pub fn of(hit: &crate::ports::SearchHit, base: &str) -> Self {
        SearchHitView {
            id: hit.id.to_string(),
            selflink: selflink(base, hit.id.as_str()),
            name: hit.name.clone(),
            user: hit.user.clone(),
            device: hit.device.clone(),
            task_type: hit.task_type.as_str(),
            status: hit.status.as_str(),
            timestamp: hit.created.clone(),
            score: hit.score,
            snippet: hit.snippet.as_ref().map(|s| SnippetView {
                field: s.field.clone(),
                text: s.text.clone(),
                highlight: s.highlight.clone(),
            }),
        }
    }
}

impl LineTotals {
    /// A side's lines in a compare: executed as `covered`, instrumented as `total`.
    pub fn of_index(t: ccaas_impact::LineTotals) -> Self {
        LineTotals {
            covered: t.executed,
            total: t.instrumented,
            percent: t.percent(),
        }
    }
}

/// The body of `GET /v1/compare`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Compare))]
pub struct CompareView {
    /// The base session.
    pub base: CompareSideView,
    /// The head session.
    pub head: CompareSideView,
    /// Head minus base, over every file.
    pub delta: DeltaView,
    /// The changed files of this page (whose executed lines differ), in path order; at most
    /// `limit`.
    pub files: Vec<CompareFileView>,
    /// Whether some file's `newly_covered` or `lost` list was cut at 2,000 line numbers (its
    /// counts are exact).
    pub lines_truncated: bool,
    /// The cursor of the next page of files (send it with the same `base` and `head`), `null`
    /// on the last page.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub next: Option<String>,
}

/// One side of `GET /v1/compare`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CompareSide))]
pub struct CompareSideView {
    /// The end or merge task's id.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub task: String,
    /// The session id (the end task's `result.session`; a merge task's own id).
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub session: String,
    /// The build the session ran.
    pub build: String,
    /// The end task's name; `null` when it has none.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub name: Option<String>,
    /// The end task's user.
    pub user: String,
    /// The device, `host:port`.
    pub device: String,
    /// The session's lines over every file of its index (the report's line totals).
    pub lines: LineTotals,
}

/// The totals' delta of `GET /v1/compare`: head minus base.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CompareDelta))]
pub struct DeltaView {
    /// Executed lines, head minus base.
    pub covered: i64,
    /// Instrumented lines, head minus base (0 for two sessions of one build, unless their
    /// module lists differ).
    pub total: i64,
    /// Head's percent minus base's, two decimals.
    pub percent: f64,
    /// Lines executed in the head and not in the base, over every file.
    pub newly_covered: u64,
    /// Lines executed in the base and not in the head, over every file.
    pub lost: u64,
    /// Files whose executed lines differ, over every file (`files` lists a page of them).
    pub files_changed: u64,
}

/// One changed file of `GET /v1/compare`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CompareFile))]
pub struct CompareFileView {
    /// The file, as the reports name it.
    pub file: String,
    /// Lines executed in the head and not in the base, ascending; at most 2,000.
    pub newly_covered: Vec<u32>,
    /// How many lines were newly covered.
    pub newly_covered_count: u64,
    /// Lines executed in the base and not in the head, ascending; at most 2,000.
    pub lost: Vec<u32>,
    /// How many lines were lost.
    pub lost_count: u64,
    /// The file's lines in the base (zeros when the base has no such file).
    pub base: LineTotals,
    /// The file's lines in the head (zeros when the head has no such file).
    pub head: LineTotals,
}
