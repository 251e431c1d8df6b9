//! The API's OpenAPI document, generated from the code (feature `openapi`): one operation per
//! method of [`ROUTES`](crate::ROUTES), the views of `ccaas_app::view` and [`ErrorBody`] as
//! response schemas, the request body and query parameters that `ccaas_domain` parses, and the
//! bearer scheme. docs/openapi.yaml is this document, committed: a test fails when the two
//! differ, and `CCAAS_UPDATE_OPENAPI=1 cargo test -p ccaas-submit openapi` rewrites the file.

use ccaas_app::view::{
    AcceptedView, CompareView, DeviceListView, ImpactView, ListView, PinDropView, SearchView,
    TaskView,
};
use ccaas_domain::openapi::SubmissionBody;
use ccaas_domain::{DeviceQuery, ListQuery, SearchQuery};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::ErrorBody;

/// Where the committed document lives, from the repository root.
pub const PATH: &str = "docs/openapi.yaml";

/// The command that rewrites [`PATH`] from the code.
pub const REGENERATE: &str = "CCAAS_UPDATE_OPENAPI=1 cargo test -p ccaas-submit openapi";

/// The error codes, as docs/api.md's error table has them: the description of an error body's
/// `error`.
pub const ERROR_CODES: &str = "What went wrong. Its `code`:

| status | code | when |
|---|---|---|
| 400 | `invalid_json` | the body is not JSON |
| 400 | `missing_field` | a required field is absent (`field` names it) |
| 400 | `invalid_field` | a field has the wrong type or value; also a bad `Idempotency-Key`, query parameter or cursor |
| 400 | `unknown_field` | a field or query parameter this API does not know (typos are not ignored) |
| 400 | `email_disabled` | `notify.email` on a service that sends no email (no sender address, `CCAAS_MAIL_FROM`) |
| 401 | `unauthorized` | auth is on and the call has no valid bearer token (`WWW-Authenticate: Bearer`) |
| 403 | `forbidden` | auth is on and the token's user claim is missing or not a valid user name; or an admin call by a user not in `CCAAS_ADMIN_USERS` |
| 403 | `device_not_allowed` | `data.device` is outside the service's allow-list (`CCAAS_DEVICE_ALLOW`), or names a host by DNS name while a list is set; nothing is stored or queued |
| 403 | `not_owner` | auth is on and the caller is neither the task's user nor an admin (`DELETE /v1/tasks/{id}`) |
| 404 | `not_found` | unknown route, or unknown task id (malformed ids give the same 404); for `GET /v1/compare`, `field` names the unknown task's parameter |
| 404 | `no_index` | `GET /v1/compare`: the task's session has no coverage index (`field` names it) |
| 405 | `method_not_allowed` | wrong method on a known route (`Allow` header lists the right ones) |
| 409 | `idempotency_conflict` | the `Idempotency-Key` was used before with a different body |
| 409 | `task_not_pending` | `DELETE /v1/tasks/{id}` on a task that runs or has finished; `status` gives its status |
| 409 | `not_comparable` | `GET /v1/compare`: the task is not a `code-coverage-end` or `code-coverage-merge` task (`field` names it) |
| 409 | `task_not_succeeded` | `GET /v1/compare`: the end or merge task has not succeeded (`field` names it) |
| 409 | `different_builds` | `GET /v1/compare`: the two sessions ran different builds (`field` is `head`) |
| 413 | `body_too_large` | the body is over 65,536 bytes (5,242,880 for `POST /v1/impact`) |
| 415 | `unsupported_media_type` | `Content-Type` is not `application/json` |
| 422 | `not_mergeable` | a `code-coverage-merge` names a task that does not exist, is no `code-coverage-end` or has not succeeded (`field` `data.tasks[i]`) |
| 422 | `mixed_builds` | a `code-coverage-merge` names end tasks of several builds; the message names each build and its tasks (`field` `data.tasks`) |
| 503 | `unavailable` | DynamoDB or SQS did not answer; retry (a `Retry-After` header is set) |
| 503 | `search_unavailable` | `GET /v1/search` where the deployment has no search index (an AWS stack deployed with `SearchBackend=none`) |

Bad input never gives a 5xx.";

const DESCRIPTION: &str = "Code Coverage as a Service. Start and end coverage sessions on \
BIG-IP devices and follow the tasks that do the work. See docs/api.md for the rules behind each \
field. A request body over 65,536 bytes is refused with 413 by the API itself (API Gateway's own \
payload quota, 10 MB, is far above it); on AWS, API Gateway answers 429 past the stage's \
throttling limits and 401 to a missing or invalid bearer token (docs/deploy.md).

Auth is a deployment choice (CCAAS_AUTH): off, or a bearer JWT on every call.

This document is generated from the code (functions/submit/src/openapi.rs); do not edit it by \
hand.";

/// The document's source: the operations below and the schemas they reach.
#[derive(OpenApi)]
#[openapi(
    info(title = "ccaas task API", version = "1", description = DESCRIPTION),
    servers((url = "http://127.0.0.1:3000", description = "ccaas-local")),
    paths(submit_task, list_tasks, get_task, cancel_task, get_task_log, list_devices,
        drop_device_pin, get_usage, get_coverage_trend, impact, compare_tasks, search_tasks),
    components(schemas(ccaas_domain::openapi::DeviceFilter)),
    security((), ("bearer" = [])),
    modifiers(&Bearer)
)]
struct ApiDoc;

/// Adds the `bearer` security scheme that the document's `security` names.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "With CCAAS_AUTH=jwt: a token from the stack's issuer (Cognito, or the issuer \
                 and audience given at deploy time); its user claim (CCAAS_AUTH_USER_CLAIM, \
                 default sub) becomes the task's user. 401 without a valid token, 403 when its \
                 user claim is missing or not a valid user name.",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The API's OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // utoipa fills these from Cargo.toml; the document has not had them.
    doc.info.license = None;
    doc.info.contact = None;
    // Nor tags: every operation is about tasks.
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            op.tags = None;
        }
    }
    doc
}

/// A path's operations, by method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
        &mut item.query,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The document as docs/openapi.yaml holds it: a header naming its source, then YAML.
pub fn yaml() -> Result<String, impl std::error::Error> {
    document().to_yaml().map(|body| {
        format!(
            "# Generated from the code by functions/submit/src/openapi.rs: do not edit.\n\
             # Regenerate with: {REGENERATE}\n{body}"
        )
    })
}

/// Submit a coverage task
///
/// Stores the task and queues it. With an `Idempotency-Key`, a retry with the same body returns
/// the same task (`202`, header `idempotent-replay: true`) and a different body is a `409`.
#[utoipa::path(
    post,
    path = "/v1/tasks",
    operation_id = "submitTask",
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 255,
            pattern = "^[\\x21-\\x7e]+$",
            description = "Makes retries safe: 1 to 255 visible ASCII characters, scoped per \
                user and kept for 24 hours."),
    ),
    request_body(content = SubmissionBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted", body = AcceptedView, headers(
            ("Location" = String, description = "The task's URL"),
            ("idempotent-replay" = String, description = "`true` when an Idempotency-Key \
                replay returned an existing task"),
        )),
        (status = 400, description = BAD_INPUT, body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = "`forbidden`: auth is on and the token's user claim is \
            missing or not a valid user name; `device_not_allowed`: the device is outside the \
            allow-list (`CCAAS_DEVICE_ALLOW`), `field` `data.device.host`; nothing is stored",
            body = ErrorBody),
        (status = 409, description = "`idempotency_conflict`: the `Idempotency-Key` was used \
            before with a different body", body = ErrorBody),
        (status = 413, description = "`body_too_large`: the body is over 65,536 bytes",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: `Content-Type` is not \
            `application/json`", body = ErrorBody),
        (status = 422, description = "A `code-coverage-merge` whose tasks cannot be merged: \
            `not_mergeable`, a task that does not exist, is no `code-coverage-end` or has not \
            succeeded (`field` `data.tasks[i]`); `mixed_builds`, end tasks of several builds \
            (`field` `data.tasks`, the message names each build and its tasks); nothing is \
            stored", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn submit_task() {}

/// List tasks, newest first
///
/// Filters combine with AND. `from`/`to` bound the tasks' creation time (RFC 3339, at most 366
/// days apart when both are given). A page may hold fewer than `limit` rows and still have a
/// `next`; a cursor only works with the filters it was made for. `total` is given where it
/// costs nothing: on a first page that holds every match.
#[utoipa::path(
    get,
    path = "/v1/tasks",
    operation_id = "listTasks",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of tasks", body = ListView),
        (status = 400, description = BAD_INPUT, body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = FORBIDDEN, body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn list_tasks() {}

/// Get one task
///
/// `session` appears on end tasks that name one, `result` on succeeded tasks, `error` on
/// failed ones, `notify` on tasks submitted with a webhook.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}",
    operation_id = "getTask",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = FORBIDDEN, body = ErrorBody),
        (status = 404, description = NOT_FOUND, body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_task() {}

/// Cancel a pending task
///
/// The task becomes `failed` with the error code `cancelled`, and its queue message is acked
/// without running. Cancelling a cancelled task returns it again. With auth on, only the task's
/// user or an admin (`CCAAS_ADMIN_USERS`) may cancel it.
#[utoipa::path(
    delete,
    path = "/v1/tasks/{id}",
    operation_id = "cancelTask",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 202, description = "Cancelled: the task, now `failed` with `cancelled`",
            body = TaskView),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = "`forbidden` (see above), or `not_owner`: the caller is \
            neither the task's user nor an admin", body = ErrorBody),
        (status = 404, description = NOT_FOUND, body = ErrorBody),
        (status = 409, description = "`task_not_pending`: the task runs or has finished; the \
            error's `status` is its status", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn cancel_task() {}

/// List the devices with an open coverage session
///
/// One row per device: its key (`host:port`), the session's owner, id, start time and modules.
/// A page may hold fewer than `limit` rows and still have a `next` (the store reads a bounded
/// part of the devices table per call).
#[utoipa::path(
    get,
    path = "/v1/devices",
    operation_id = "listDevices",
    params(DeviceQuery),
    responses(
        (status = 200, description = "A page of devices with an open session",
            body = DeviceListView),
        (status = 400, description = BAD_INPUT, body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = FORBIDDEN, body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn list_devices() {}

/// The task's SSH command log, as JSON lines
///
/// One object per SSH command: `{"at", "command", "exit", "ms", "stdout_tail",
/// "stderr_tail"}`. Secrets never appear in it.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}/log",
    operation_id = "getTaskLog",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 200, description = "JSON lines, empty until the processor writes the log",
            content_type = "application/x-ndjson", body = String),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = FORBIDDEN, body = ErrorBody),
        (status = 404, description = NOT_FOUND, body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_task_log() {}

/// Drop a device's host-key pin (admins)
///
/// After a device is re-imaged (a new SSH host key), an admin drops its pin; the next task that
/// logs in pins the key then offered (policy `tofu`) or the `host_key_sha256` it gives.
/// `device` is `host:port`, `[address]:port` for IPv6, in any spelling of the host. With auth
/// on, only a user in `CCAAS_ADMIN_USERS`; with auth off, any caller. Idempotent: `dropped`
/// says whether a pin was there.
#[utoipa::path(
    delete,
    path = "/v1/devices/{device}/pin",
    operation_id = "dropDevicePin",
    params(("device" = String, Path, max_length = 262,
        pattern = "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$",
        description = "The device, `host:port` (`[address]:port` for IPv6)")),
    responses(
        (status = 200, description = "The pin is gone", body = PinDropView),
        (status = 400, description = "`invalid_field`: `device` is not `host:port`",
            body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = "`forbidden`: auth is on and the caller is not an admin \
            (`CCAAS_ADMIN_USERS`)", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn drop_device_pin() {}

/// The usage history (admins)
///
/// Tasks per group and period, from counters kept as tasks change state (no task is read):
/// `requested` (created in the period), `succeeded`, `failed` (cancellations apart) and
/// `cancelled`, with run-time quantiles, and failures per error code whatever `by` is. Every
/// count of a task goes to the period of its creation. `by=status` groups tasks by their
/// status now (`open`, `succeeded`, `failed`, `cancelled`). `from`/`to` are RFC 3339 dates (or
/// date-times, read as their UTC day): by default the 30 days before today; at most 366 days
/// with `interval=day`, 1096 (three years) with `interval=week` (weeks start on Monday). With
/// auth on, only a user in `CCAAS_ADMIN_USERS`; with auth off, any caller.
#[utoipa::path(
    get,
    path = "/v1/usage",
    operation_id = "getUsage",
    params(
        ("from" = Option<String>, Query, format = Date,
            description = "The first day (a date-time counts for its UTC day); default: 30 \
                days before `to`"),
        ("to" = Option<String>, Query, format = Date,
            description = "The last day, included; default: today"),
        ("by" = Option<String>, Query, pattern = "^(user|device|type|status)$",
            description = "The grouping: `user` (default), `device` (`host:port`), `type` or \
                `status`"),
        ("interval" = Option<String>, Query, pattern = "^(day|week)$",
            description = "`day` (default) or `week` (ISO weeks, Monday first)"),
    ),
    responses(
        (status = 200, description = "The buckets and failures of the range",
            body = ccaas_app::usage::UsageView),
        (status = 400, description = BAD_INPUT, body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = "`forbidden`: auth is on and the caller is not an admin \
            (`CCAAS_ADMIN_USERS`), or its user claim is missing or not a valid user name",
            body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_usage() {}

/// Line coverage over time, per device or per build
///
/// One point per session whose end task succeeded with a report, oldest first (by end task),
/// the newest 500 of the range at most (`truncated` says when more were left out). Give
/// exactly one of `device` and `build`; `from`/`to` bound the end tasks' creation time.
#[utoipa::path(
    get,
    path = "/v1/usage/coverage",
    operation_id = "getCoverageTrend",
    params(
        ("device" = Option<String>, Query, max_length = 262,
            pattern = "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$",
            description = "The device, `host:port` (`[address]:port` for IPv6)"),
        ("build" = Option<String>, Query, max_length = 128,
            pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*-[A-Za-z0-9._-]+$",
            description = "A build id such as `17.1.0-0.0.16-1234567`"),
        ("from" = Option<String>, Query, format = DateTime,
            description = "Only sessions ended by tasks created at or after this instant \
                (RFC 3339, or a date: its first millisecond)"),
        ("to" = Option<String>, Query, format = DateTime,
            description = "Only sessions ended by tasks created at or before this instant \
                (a date: its last millisecond)"),
    ),
    responses(
        (status = 200, description = "The points", body = ccaas_app::usage::CoverageView),
        (status = 400, description = BAD_INPUT, body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = FORBIDDEN, body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_coverage_trend() {}

/// The body of `POST /v1/impact`. Unknown fields are refused (`unknown_field`); `null` is the
/// same as leaving a field out.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ImpactRequest, examples(json!({
    "diff": "diff --git a/src/tmm/route.c b/src/tmm/route.c\n--- a/src/tmm/route.c\n+++ b/src/tmm/route.c\n@@ -10,3 +10,3 @@\n a\n-b\n+B\n c\n",
    "build": "17.1.0-0.0.16",
    "device": "10.192.10.136:22"
})))]
pub struct ImpactBody {
    /// A unified diff (`git diff`, `diff -u`), at most 4 MiB: only its added and changed lines
    /// (new side) count.
    #[schema(min_length = 1, max_length = 4194304)]
    pub diff: String,
    /// The build whose sessions to read; default: the newest indexed build (of `device` when
    /// it gives a port).
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    pub build: Option<String>,
    /// Only sessions run on this device: `host:port`, or a host (any port).
    #[schema(max_length = 262)]
    pub device: Option<String>,
}

/// Sessions that ran a changelist's lines
///
/// Test impact for a changelist: the sessions (their end tasks, by name) whose runs executed
/// the diff's added or changed lines, ranked by lines hit then recency, and the changed lines
/// the build instruments that no session executed. Diff paths are matched to report paths by
/// the longest common suffix of path components (docs/api.md). Read-only.
#[utoipa::path(
    post,
    path = "/v1/impact",
    operation_id = "impact",
    request_body(content = ImpactBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The sessions and the uncovered lines", body = ImpactView),
        (status = 400, description = BAD_INPUT, body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = FORBIDDEN, body = ErrorBody),
        (status = 413, description = "`body_too_large`: the body is over 5,242,880 bytes",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `application/json`",
            body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn impact() {}

/// The query of `GET /v1/compare`. Unknown parameters are refused (`unknown_field`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CompareParams {
    /// The base: a succeeded `code-coverage-end` task's id.
    #[param(value_type = ccaas_domain::TaskId)]
    base: String,
    /// The head: a succeeded `code-coverage-end` task's id, of a session of the base's build.
    #[param(value_type = ccaas_domain::TaskId)]
    head: String,
    /// Changed files per page: 1 to 500, 100 by default.
    #[param(minimum = 1, maximum = 500, default = 100)]
    limit: Option<u32>,
    /// The `next` of the previous page (of the same `base` and `head`).
    #[param(max_length = 2048)]
    cursor: Option<String>,
}

/// Compare two sessions' coverage, line by line
///
/// The lines the head session newly covered (executed, and not executed by the base session)
/// and lost (executed by the base, not by the head), per changed file in path order, and both
/// sessions' line totals with their delta, from the two sessions' coverage indexes. Both tasks
/// are succeeded `code-coverage-end` tasks of sessions of one build (their `result.session`
/// and `result.build`). Files are paged (`limit`, `cursor`); the totals and counts always cover
/// every file. Read-only.
#[utoipa::path(
    get,
    path = "/v1/compare",
    operation_id = "compareTasks",
    params(CompareParams),
    responses(
        (status = 200, description = "The changed files and the totals", body = CompareView),
        (status = 400, description = "`missing_field` (`base`, `head`), `invalid_field` (a \
            task id that is not one, a repeated parameter, `limit` or `cursor`) or \
            `unknown_field`", body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = FORBIDDEN, body = ErrorBody),
        (status = 404, description = "`not_found`: no such task; `no_index`: the task's \
            session has no coverage index. `field` names the parameter", body = ErrorBody),
        (status = 409, description = "`not_comparable`: not an end or merge task; \
            `task_not_succeeded`; `different_builds`. `field` names the parameter",
            body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn compare_tasks() {}

/// Search tasks by words, phrases and filters
///
/// `q` holds free words (any may match; hits that match more terms rank first, then by BM25,
/// then newest first), `"quoted phrases"` (their words in order in one field) and the filters
/// `user:NAME`, `device:HOST` or `device:HOST:PORT`, `status:STATUS` and `type:TYPE` (all must
/// hold). Words are matched in the task's name, error code and message, command log (its last
/// 64 KiB), modules, build, user, device, type and status. An empty `q` lists every task,
/// newest first. Each hit's `snippet` quotes the first field that matched, with the matched
/// words as UTF-8 byte ranges. Paging: `next` is a cursor for the same `q`; pages end at hit
/// 10,000. A new or changed task is searchable within seconds (ccaas-local: 5 s).
#[utoipa::path(
    get,
    path = "/v1/search",
    operation_id = "searchTasks",
    params(SearchQuery),
    responses(
        (status = 200, description = "A page of hits, best first", body = SearchView),
        (status = 400, description = "`invalid_field` naming `q` (too long, over 16 terms, an \
            unclosed quote, an unknown or repeated filter, a bad filter value), `limit` or \
            `cursor` (not one of this `q`); or `unknown_field`", body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = ErrorBody),
        (status = 403, description = FORBIDDEN, body = ErrorBody),
        (status = 503, description = "`search_unavailable`: this deployment has no search \
            index; or `unavailable`: the index could not be read", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn search_tasks() {}

const BAD_INPUT: &str = "`invalid_json`, `missing_field`, `invalid_field` or `unknown_field`; \
`field` names the field, query parameter or header at fault";
const UNAUTHORIZED: &str = "`unauthorized`: auth is on and the call has no valid bearer token";
const FORBIDDEN: &str =
    "`forbidden`: auth is on and the token's user claim is missing or not a valid user name";
const NOT_FOUND: &str = "`not_found`: no such task (malformed ids give the same 404)";
const UNAVAILABLE: &str =
    "`unavailable`: a backend did not answer; retry (a `Retry-After` header is set)";

#[cfg(test)]
mod tests {
    use super::*;
    use ccaas_app::view::ListItem;
    use ccaas_domain::submission::{BODY_FIELDS, DATA_FIELDS, DEVICE_FIELDS, NOTIFY_FIELDS};
    use ccaas_domain::{Flush, Notified, Priority, Status, Task, TaskError, TaskId, TaskType};
    use serde_json::{Value, json};
    use std::collections::BTreeSet;

    const METHODS: [&str; 9] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace", "query",
    ];

    fn spec() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    fn schema<'a>(spec: &'a Value, name: &str) -> &'a Value {
        &spec["components"]["schemas"][name]
    }

    /// Where a line-level difference starts and ends, with the lines around it.
    fn diff_hint(committed: &str, generated: &str) -> String {
        let (old, new): (Vec<_>, Vec<_>) =
            (committed.lines().collect(), generated.lines().collect());
        let head = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
        let tail = old[head..]
            .iter()
            .rev()
            .zip(new[head..].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let from = head.saturating_sub(2);
        let shown = |lines: &[&str], sign: char| {
            let end = (lines.len() - tail + 2).min(lines.len());
            let mut out: Vec<String> = lines[from..end]
                .iter()
                .take(30)
                .map(|l| format!("{sign} {l}"))
                .collect();
            if end - from > 30 {
                out.push(format!("{sign} ... ({} more lines)", end - from - 30));
            }
            out.join("\n")
        };
        format!(
            "first difference at line {}:\n{}\n---\n{}",
            head + 1,
            shown(&old, '-'),
            shown(&new, '+')
        )
    }

    #[test]
    fn the_committed_openapi_is_what_the_code_generates() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(PATH);
        let generated = yaml().unwrap();
        if std::env::var("CCAAS_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
            std::fs::write(&file, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            committed == generated,
            "{PATH} is not what the code generates (- committed, + generated); if the code is \
             right, regenerate it with `{REGENERATE}` and commit it.\n{}",
            diff_hint(&committed, &generated)
        );
    }

    #[test]
    fn the_openapi_diff_hint_shows_where_the_documents_part() {
        let hint = diff_hint("a\nb\nc\nd\n", "a\nb\nX\nd\n");
        assert!(hint.starts_with("first difference at line 3"), "{hint}");
        assert!(hint.contains("- c") && hint.contains("+ X"), "{hint}");
        assert!(!hint.contains("- X") && !hint.contains("+ c"), "{hint}");
    }

    #[test]
    fn the_openapi_has_exactly_the_operations_of_the_route_table() {
        let spec = spec();
        let documented: BTreeSet<(String, String)> = spec["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| METHODS.contains(&k.as_str()))
                    .map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = crate::ROUTES
            .iter()
            .flat_map(|(path, methods)| methods.iter().map(|m| (m.to_string(), path.to_string())))
            .collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn every_openapi_operation_answers_json_errors_and_may_need_a_bearer_token() {
        let spec = spec();
        assert_eq!(spec["security"], json!([{}, {"bearer": []}]));
        assert_eq!(
            spec["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for status in ["401", "403", "503"] {
                    let body = &responses[status]["content"]["application/json"]["schema"];
                    assert_eq!(
                        body["$ref"], "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }

    /// The property names of an object schema (the first `allOf` item for the device).
    fn properties(schema: &Value) -> BTreeSet<String> {
        let object = schema.get("allOf").map_or(schema, |all| &all[0]);
        assert_eq!(object["additionalProperties"], false, "{object}");
        object["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn names(fields: &[&str]) -> BTreeSet<String> {
        fields.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn the_openapi_request_body_names_exactly_the_fields_the_parser_knows() {
        let spec = spec();
        let body = &spec["paths"]["/v1/tasks"]["post"]["requestBody"];
        assert_eq!(body["required"], true);
        assert_eq!(
            body["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Submission"
        );
        let data = schema(&spec, "SubmissionData");
        assert_eq!(properties(schema(&spec, "Submission")), names(BODY_FIELDS));
        assert_eq!(properties(data), names(DATA_FIELDS));
        assert_eq!(
            properties(&data["properties"]["device"]),
            names(DEVICE_FIELDS)
        );
        assert_eq!(
            properties(schema(&spec, "SubmissionNotify")),
            names(NOTIFY_FIELDS)
        );
    }

    #[test]
    fn the_impact_request_names_exactly_the_fields_the_parser_knows_and_its_example_parses() {
        let spec = spec();
        let body = &spec["paths"]["/v1/impact"]["post"]["requestBody"];
        assert_eq!(body["required"], true);
        let s = schema(&spec, "ImpactRequest");
        assert_eq!(properties(s), names(ccaas_app::impact::IMPACT_FIELDS));
        let example = serde_json::to_vec(&s["examples"][0]).unwrap();
        let parsed = ccaas_app::impact::ImpactRequest::parse(&example).unwrap();
        assert_eq!(parsed.diff.changed_lines(), 1);
        assert!(parsed.build.is_some() && parsed.device.is_some());
    }

    #[test]
    fn the_openapi_request_example_is_a_body_the_parser_accepts() {
        let spec = spec();
        let example = &schema(&spec, "Submission")["examples"][0];
        let body = serde_json::to_vec(example).unwrap();
        let parsed = ccaas_domain::parse_submission(&body).unwrap();
        assert_eq!(parsed.modules.len(), 2);
        assert!(serde_json::from_value::<SubmissionBody>(example.clone()).is_ok());
        let mut typo = example.clone();
        typo["data"]["device"]["passwd"] = json!("x");
        let refused = ccaas_domain::parse_submission(&serde_json::to_vec(&typo).unwrap());
        assert_eq!(refused.unwrap_err().code, "unknown_field");
        assert!(serde_json::from_value::<SubmissionBody>(typo).is_err());
    }

    #[test]
    fn the_openapi_error_table_is_the_one_docs_api_md_has() {
        let api_md = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
        let api_md = std::fs::read_to_string(api_md).unwrap();
        let table: String = ERROR_CODES
            .lines()
            .filter(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(table.lines().count() > 10, "{table}");
        assert!(
            api_md.contains(&table),
            "docs/api.md's error table and openapi::ERROR_CODES differ"
        );
    }

    #[test]
    fn every_openapi_query_parameter_is_one_the_list_parser_knows() {
        let spec = spec();
        let params = spec["paths"]["/v1/tasks"]["get"]["parameters"]
            .as_array()
            .unwrap();
        assert_eq!(params.len(), 8);
        for p in params {
            assert_eq!(p["in"], "query");
            let name = p["name"].as_str().unwrap();
            let refused = ListQuery::parse([(name, "")]).unwrap_err();
            assert_eq!(refused.code, "invalid_field", "{name}");
            assert_eq!(refused.field, name);
        }
        let typo = ListQuery::parse([("stauts", "running")]).unwrap_err();
        assert_eq!(typo.code, "unknown_field");
        let params = spec["paths"]["/v1/devices"]["get"]["parameters"]
            .as_array()
            .unwrap();
        assert_eq!(params.len(), 2);
        for p in params {
            let name = p["name"].as_str().unwrap();
            let refused = DeviceQuery::parse([(name, "")]).unwrap_err();
            assert_eq!(refused.code, "invalid_field", "{name}");
            assert_eq!(refused.field, name);
        }
    }

    /// Whether `value` fits `schema` in the keywords the response schemas use: `$ref`, `type`,
    /// `enum`, `required`, `properties` (when given, no others allowed), `items` and `oneOf`.
    fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.trim_start_matches("#/components/schemas/");
            return conforms(spec, &spec["components"]["schemas"][name], value, at);
        }
        if let Some(alternatives) = schema["oneOf"].as_array() {
            let fits = alternatives
                .iter()
                .filter(|s| conforms(spec, s, value, at).is_ok());
            return match fits.count() {
                1 => Ok(()),
                n => Err(format!("{at}: {value} fits {n} of oneOf {schema}")),
            };
        }
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![kind],
        };
        if !types.contains(&kind) {
            return Err(format!(
                "{at}: {value} is {kind}, the schema says {types:?}"
            ));
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
        if let (Value::Object(fields), Some(props)) = (value, schema["properties"].as_object()) {
            for required in schema["required"].as_array().into_iter().flatten() {
                let required = required.as_str().unwrap_or_default();
                if !fields.contains_key(required) {
                    return Err(format!("{at}: required `{required}` is missing"));
                }
            }
            for (k, v) in fields {
                let Some(s) = props.get(k) else {
                    return Err(format!("{at}: `{k}` is not in the schema"));
                };
                conforms(spec, s, v, &format!("{at}.{k}"))?;
            }
        }
        if let Value::Array(items) = value {
            for (i, v) in items.iter().enumerate() {
                conforms(spec, &schema["items"], v, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }

    fn task(full: bool) -> Task {
        let id = TaskId::parse("01M8KGNN77WZXS3YCVX8M82WG8").unwrap();
        Task {
            id: id.clone(),
            name: full.then(|| "nightly".into()),
            user: "alice".into(),
            task_type: TaskType::CoverageEnd,
            priority: Priority::High,
            queue: None,
            status: if full {
                Status::Failed
            } else {
                Status::Pending
            },
            version: 1,
            created: "2026-11-29T11:22:31.015Z".into(),
            updated: "2026-11-29T11:22:31.360Z".into(),
            device: "10.192.10.136".into(),
            port: 22,
            modules: vec![ccaas_domain::ModuleName::parse("tmm").unwrap()],
            session: full.then_some(id),
            flush: Flush::Signal,
            webhook: full.then(|| "https://hooks.example/T/B/secret".into()),
            email: if full {
                vec!["alice@example.com".into()]
            } else {
                Vec::new()
            },
            lease_until: None,
            lease_holder: None,
            retry_since: None,
            started: None,
            admin: false,
            result: full.then(|| json!({"session": "x"})),
            error: full.then(|| TaskError {
                code: "unreachable".into(),
                message: "device unreachable".into(),
            }),
            notified: full.then_some(Notified::GaveUp),
            merge: if full {
                vec![TaskId::parse("01M8KGNN77WZXS3YCVX8M82WG9").unwrap()]
            } else {
                Vec::new()
            },
            notified_email: full.then_some(Notified::Sent),
        }
    }

    #[test]
    fn each_response_fits_its_openapi_schema_and_together_they_write_every_property() {
        let spec = spec();
        let (full, minimal) = (task(true), task(false));
        let error = |field: Option<&'static str>| ErrorBody {
            error: crate::ErrorDetail {
                code: "invalid_field",
                field,
                message: "must be a string",
                status: field.map(|_| "running"),
            },
        };
        let session = ccaas_app::DeviceSession {
            id: full.id.clone(),
            modules: vec!["tmm".into()],
            facts: json!({}),
            opened: full.created.clone(),
            opened_ms: None,
            owner: Some("alice".into()),
            took_over: None,
        };
        let legacy = ccaas_app::DeviceSession {
            owner: None,
            ..session.clone()
        };
        let devices = |rows: Vec<&ccaas_app::DeviceSession>, next: Option<&str>| DeviceListView {
            count: rows.len(),
            collection: rows
                .into_iter()
                .map(|s| ccaas_app::view::DeviceView::of("h:22", s, ""))
                .collect(),
            next: next.map(str::to_owned),
        };
        // A total only comes on a last page; a first page with a next has none.
        let page = |next: Option<&str>| ListView {
            count: 1,
            collection: vec![ListItem::of(&full, "")],
            next: next.map(str::to_owned),
            total: next.is_none().then_some(1),
        };
        let usage = json!({
            "from": "2026-11-05", "to": "2026-12-05", "by": "user", "interval": "day",
            "buckets": [{"group": "alice", "period": "2026-12-01", "requested": 3,
                "succeeded": 2, "failed": 1, "cancelled": 0,
                "duration_ms": {"p50": 1189, "p95": 5657}}],
            "failures": [{"code": "unreachable", "period": "2026-12-01", "count": 1}],
            "truncated": false,
        });
        let no_usage = json!({
            "from": "2026-11-05", "to": "2026-12-05", "by": "status", "interval": "week",
            "buckets": [{"group": "open", "period": "2026-11-30", "requested": 1,
                "succeeded": 0, "failed": 0, "cancelled": 0, "duration_ms": null}],
            "failures": [], "truncated": true,
        });
        let point = ccaas_app::usage::CoveragePoint {
            task: TaskId::parse("01M8KGNN77WZXS3YCVX8M82WG8").unwrap(),
            session: Some("01M8KGNN77WZXS3YCVX8M82WG7".into()),
            name: Some("nightly".into()),
            user: "alice".into(),
            device: "10.0.0.1:22".into(),
            build: Some("17.1.0-0.0.16".into()),
            finished: "2026-12-01T10:00:00.000Z".into(),
            lines: ccaas_app::usage::Lines {
                hit: 3,
                total: 8,
                percent: 37.5,
            },
        };
        let bare = ccaas_app::usage::CoveragePoint {
            session: None,
            name: None,
            build: None,
            ..point.clone()
        };

        let hit = ccaas_app::view::ImpactSessionView {
            session: full.id.to_string(),
            task: full.id.to_string(),
            name: Some("nightly".into()),
            user: "alice".into(),
            build: "17.1.0-0.0.16".into(),
            device: "10.0.0.1:22".into(),
            lines_hit: 3,
        };
        let impact = |rich: bool| ImpactView {
            build: rich.then(|| "17.1.0-0.0.16".into()),
            sessions: if rich {
                vec![
                    hit.clone(),
                    ccaas_app::view::ImpactSessionView {
                        name: None,
                        ..hit.clone()
                    },
                ]
            } else {
                vec![]
            },
            uncovered: if rich {
                vec![ccaas_app::view::UncoveredView {
                    file: "src/a.c".into(),
                    lines: vec![1, 7],
                }]
            } else {
                vec![]
            },
            changed_lines: 4,
            sessions_read: 2,
        };

        let lines = |covered, total, percent| ccaas_app::view::LineTotals {
            covered,
            total,
            percent,
        };
        let side = |name: Option<&str>| ccaas_app::view::CompareSideView {
            task: full.id.to_string(),
            session: full.id.to_string(),
            build: "17.1.0-0.0.16".into(),
            name: name.map(str::to_owned),
            user: "alice".into(),
            device: "10.0.0.1:22".into(),
            lines: lines(3, 8, 37.5),
        };
        let compare = |rich: bool| ccaas_app::view::CompareView {
            base: side(rich.then_some("nightly")),
            head: side(None),
            delta: ccaas_app::view::DeltaView {
                covered: -1,
                total: 0,
                percent: -12.5,
                newly_covered: 1,
                lost: 2,
                files_changed: 1,
            },
            files: if rich {
                vec![ccaas_app::view::CompareFileView {
                    file: "src/a.c".into(),
                    newly_covered: vec![3],
                    newly_covered_count: 1,
                    lost: vec![1, 2],
                    lost_count: 2,
                    base: lines(2, 4, 50.0),
                    head: lines(1, 4, 25.0),
                }]
            } else {
                vec![]
            },
            lines_truncated: false,
            next: rich.then(|| "7372632f612e63".into()),
        };

        let cases: [(&str, Value, Value); 11] = [
            ("Compare", json!(compare(true)), json!(compare(false))),
            ("Usage", usage, no_usage),
            (
                "CoverageTrend",
                json!({"points": [point.clone()], "truncated": false}),
                json!({"points": [], "truncated": false}),
            ),
            ("CoveragePoint", json!(point), json!(bare)),
            ("Impact", json!(impact(true)), json!(impact(false))),
            (
                "DeviceList",
                json!(devices(vec![&session], Some("s1.00"))),
                json!(devices(vec![], None)),
            ),
            (
                "DeviceSession",
                json!(ccaas_app::view::DeviceView::of("h:22", &session, "")),
                json!(ccaas_app::view::DeviceView::of("h:22", &legacy, "")),
            ),
            (
                "Accepted",
                json!(AcceptedView::of(&full, "http://x")),
                json!(AcceptedView::of(&minimal, "")),
            ),
            (
                "Task",
                json!(TaskView::of(&full, "")),
                json!(TaskView::of(&minimal, "")),
            ),
            ("TaskList", json!(page(None)), json!(page(Some("7b22")))),
            ("Error", json!(error(Some("name"))), json!(error(None))),
        ];
        for (name, most, least) in cases {
            let s = schema(&spec, name);
            for v in [&most, &least] {
                conforms(&spec, s, v, name).unwrap_or_else(|e| panic!("{e}"));
            }
            let props: BTreeSet<&String> = s["properties"].as_object().unwrap().keys().collect();
            let written: BTreeSet<&String> = most.as_object().unwrap().keys().collect();
            assert_eq!(
                written, props,
                "{name}: the fullest value leaves out a property"
            );
            let required: BTreeSet<&str> = s["required"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let always: BTreeSet<&str> = least
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                always, required,
                "{name}: what is always written is what is required"
            );
        }
        // The error member is checked one level down too.
        let detail = schema(&spec, "ErrorDetail");
        let fields: BTreeSet<&String> = detail["properties"].as_object().unwrap().keys().collect();
        assert_eq!(fields.len(), 4, "{detail}");
    }

    #[test]
    fn a_response_the_openapi_does_not_allow_is_caught_by_the_conformance_check() {
        let spec = spec();
        let mut task = json!(TaskView::of(&task(false), ""));
        for (change, expect) in [
            (json!({"status": "done"}), "not one of"),
            (json!({"device": null}), "is null"),
            (json!({"attempts": 1}), "not in the schema"),
        ] {
            let mut bad = task.clone();
            for (k, v) in change.as_object().unwrap() {
                bad[k] = v.clone();
            }
            let e = conforms(&spec, schema(&spec, "Task"), &bad, "Task").unwrap_err();
            assert!(e.contains(expect), "{change}: {e}");
        }
        task.as_object_mut().unwrap().remove("modules");
        let e = conforms(&spec, schema(&spec, "Task"), &task, "Task").unwrap_err();
        assert!(e.contains("required `modules`"), "{e}");
    }
}
