//! The OpenAPI schemas of what the task API reads (feature `openapi`): the shape of a
//! `POST /v1/tasks` body, and the checked strings (user, host, task id, module name) that the
//! hand-written parser of [`crate::submission`] and [`crate::query`] accepts. They document the
//! wire for the generated docs/openapi.yaml; the parser does not use them (its field lists,
//! `BODY_FIELDS` and the others, are what the document's tests hold these shapes to).

use std::borrow::Cow;

use serde::Deserialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::id::TaskId;
use crate::submission::{Flush, ModuleName};
use crate::task::{Priority, TaskType};

/// What `check_user` accepts: task owners and device logins.
pub const USER_PATTERN: &str = "^[A-Za-z0-9._@-]{1,64}$";
/// What `DeviceHost::parse` accepts: a DNS name or an IP literal (IPv6 optionally in
/// brackets), at most 253 characters.
pub const HOST_PATTERN: &str = "^[A-Za-z0-9:\\[][A-Za-z0-9.:\\[\\]-]{0,252}$";
/// A task id as this API writes it (26 characters of Crockford base32, time first).
pub const TASK_ID_PATTERN: &str = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$";
/// What [`ModuleName::parse`] accepts.
pub const MODULE_PATTERN: &str = "^[a-z][a-z0-9_-]{0,31}$";

fn string(pattern: &str, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

/// The `User` schema: a task owner or device login name.
pub struct UserName;

impl PartialSchema for UserName {
    fn schema() -> RefOr<Schema> {
        string(USER_PATTERN, "1 to 64 of A-Z a-z 0-9 . _ @ -")
    }
}

impl ToSchema for UserName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("User")
    }
}

/// The `Host` schema: a device's host name or IP literal.
pub struct HostName;

impl PartialSchema for HostName {
    fn schema() -> RefOr<Schema> {
        string(
            HOST_PATTERN,
            "A DNS name or an IP literal, at most 253 characters",
        )
    }
}

impl ToSchema for HostName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Host")
    }
}

/// The `DeviceFilter` schema: the task list's `device`, a device key `host:port`
/// (`[v6]:port`) or a host alone.
pub struct DeviceFilter;

impl PartialSchema for DeviceFilter {
    fn schema() -> RefOr<Schema> {
        string(
            HOST_PATTERN,
            "A device, host:port ([address]:port for IPv6), or a host alone (a DNS name or an IP literal) for all its ports",
        )
    }
}

impl ToSchema for DeviceFilter {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DeviceFilter")
    }
}

impl PartialSchema for TaskId {
    fn schema() -> RefOr<Schema> {
        string(
            TASK_ID_PATTERN,
            "A task id: a 26-character ULID, which sorts by creation time",
        )
    }
}

impl ToSchema for TaskId {}

impl PartialSchema for ModuleName {
    fn schema() -> RefOr<Schema> {
        string(MODULE_PATTERN, "A daemon name, such as tmm or mcpd")
    }
}

impl ToSchema for ModuleName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Module")
    }
}

/// A coverage task to run. Unknown fields are refused (`unknown_field`); `null` is the same as
/// leaving a field out.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Submission, examples(json!({
    "name": "nightly tmm regression",
    "user": "alice",
    "priority": "normal",
    "type": "code-coverage-start",
    "data": {
        "device": {"host": "10.192.10.136", "port": 22, "username": "root",
                   "password": "...", "host_key_sha256": "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"},
        "modules": ["tmm", "mcpd"],
        "flush": "signal"
    },
    "notify": {"webhook": "https://hooks.example/T/B/x", "email": ["alice@example.com"]}
})))]
pub struct SubmissionBody {
    /// A label, at most 200 characters, no control characters.
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// Who asks (default `anonymous`); with auth on, the caller's identity replaces it.
    #[schema(value_type = Option<UserName>)]
    pub user: Option<String>,
    /// Which device's work goes first: a `high` task for a device with nothing open goes to
    /// the high queue. A task for a device with a pending or running task joins that task's
    /// queue behind it, so one device's tasks always run in submission order.
    #[schema(default = "normal")]
    pub priority: Option<Priority>,
    /// What to do.
    #[serde(rename = "type")]
    pub task_type: TaskType,
    /// The device and what to cover on it.
    pub data: DataBody,
    /// Where to report the task's end.
    pub notify: Option<NotifyBody>,
}

/// The `data` of a submission.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SubmissionData)]
pub struct DataBody {
    /// How to reach the device. Exactly one of `password` and `private_key`. Required by
    /// every type but `code-coverage-merge`, which refuses it.
    #[schema(schema_with = device_schema)]
    pub device: Option<DeviceBody>,
    /// The daemons to cover: 1 to 32 unique names. Required by every type but
    /// `code-coverage-merge`, which refuses it.
    #[schema(value_type = Option<std::collections::BTreeSet<ModuleName>>, min_items = 1, max_items = 32)]
    pub modules: Option<Vec<ModuleName>>,
    /// End tasks only: the id of the start task whose session this ends.
    pub session: Option<TaskId>,
    /// How an end task flushes the counters.
    #[schema(default = "signal")]
    pub flush: Option<Flush>,
    /// `code-coverage-merge` only (and required there): the succeeded `code-coverage-end`
    /// tasks of one build to merge, 2 to 50 unique ids.
    #[schema(value_type = Option<std::collections::BTreeSet<TaskId>>, min_items = 2, max_items = 50)]
    pub tasks: Option<Vec<TaskId>>,
}

/// The `data.device` of a submission.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceBody {
    /// The device's address.
    #[schema(value_type = HostName)]
    pub host: String,
    /// Its SSH port.
    #[schema(minimum = 1, maximum = 65535, default = 22)]
    pub port: Option<u16>,
    /// The login.
    #[schema(value_type = UserName)]
    pub username: String,
    /// The password. Never stored, logged or echoed: it travels only in the queue message,
    /// sealed with KMS.
    #[schema(min_length = 1, max_length = 1024, write_only)]
    pub password: Option<String>,
    /// An OpenSSH or PEM private key, the text of the key file. Never stored, logged or
    /// echoed, like the password.
    #[schema(
        min_length = 1,
        max_length = 16384,
        pattern = "PRIVATE KEY-----",
        write_only
    )]
    pub private_key: Option<String>,
    /// The host key's fingerprint as `ssh-keygen -lf` prints it; without it the first key
    /// seen is pinned.
    #[schema(pattern = "^SHA256:[A-Za-z0-9+/=]{43,44}$")]
    pub host_key_sha256: Option<String>,
}

/// The `notify` of a submission.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SubmissionNotify)]
pub struct NotifyBody {
    /// An `http://` or `https://` URL that gets a POST once the task finishes. Never shown
    /// back: it may hold a token.
    #[schema(max_length = 2048, pattern = "^https?://[^/\\s]")]
    pub webhook: Option<String>,
    /// Who gets an email notice (plain text and HTML) once the task finishes or fails: 1 to
    /// 10 unique plain addresses `local@domain`, no display names. Refused with 400
    /// `email_disabled` when the service has no sender (`CCAAS_MAIL_FROM`).
    #[schema(value_type = Option<Vec<EmailAddress>>, min_items = 1, max_items = 10)]
    pub email: Option<Vec<String>>,
}

/// What [`crate::submission::check_email`] accepts (the DNS label rules are checked beyond
/// this pattern).
pub const EMAIL_PATTERN: &str = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";

/// The `EmailAddress` schema: a plain address `local@domain`.
pub struct EmailAddress;

impl PartialSchema for EmailAddress {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(EMAIL_PATTERN))
            .max_length(Some(254))
            .description(Some(
                "A plain email address local@domain (at most 64 characters before the @, 254 in all)",
            ))
            .into()
    }
}

impl ToSchema for EmailAddress {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EmailAddress")
    }
}

/// The device object's schema: its fields, and exactly one of `password` and `private_key`
/// given as a string (a `null` one counts as left out, as the parser has it).
fn device_schema() -> Schema {
    let given = |field: &str| {
        ObjectBuilder::new()
            .property(field, ObjectBuilder::new().schema_type(Type::String))
            .required(field)
            .build()
    };
    let exactly_one = OneOfBuilder::new()
        .item(given("password"))
        .item(given("private_key"));
    AllOfBuilder::new()
        .item(DeviceBody::schema())
        .item(exactly_one)
        .build()
        .into()
}
