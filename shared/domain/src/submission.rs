//! Parsing and validating a `POST /v1/tasks` body into typed values, naming the bad field.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::device::DeviceHost;
use crate::id::TaskId;
use crate::task::{Priority, TaskType};

/// The largest accepted request body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most modules one task may name.
pub const MAX_MODULES: usize = 32;

/// The fields a `POST /v1/tasks` body may have; any other is `unknown_field`.
pub const BODY_FIELDS: &[&str] = &["name", "user", "priority", "type", "data", "notify"];
/// The fields of a body's `data`.
pub const DATA_FIELDS: &[&str] = &["device", "modules", "session", "flush", "tasks"];
/// The most end tasks one merge task may list (and the fewest, [`MIN_MERGE_TASKS`]).
pub const MAX_MERGE_TASKS: usize = 50;
/// The fewest end tasks a merge task lists.
pub const MIN_MERGE_TASKS: usize = 2;
/// The fields of a body's `data.device`.
pub const DEVICE_FIELDS: &[&str] = &[
    "host",
    "port",
    "username",
    "password",
    "private_key",
    "host_key_sha256",
];
/// The fields of a body's `notify`.
pub const NOTIFY_FIELDS: &[&str] = &["webhook", "email"];
/// The most addresses one task's `notify.email` may list.
pub const MAX_EMAIL_RECIPIENTS: usize = 10;
/// The longest accepted email address (RFC 5321's path limit less the angle brackets).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A field that failed validation: its JSON path, a stable code and a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// `invalid_json`, `missing_field`, `invalid_field` or `unknown_field`.
    pub code: &'static str,
    /// The JSON path, such as `data.modules[1]`; empty for the body itself.
    pub field: String,
    /// What is wrong, without echoing secrets.
    pub message: String,
}

impl FieldError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            code: "invalid_field",
            field: field.into(),
            message: message.into(),
        }
    }

    fn missing(field: impl Into<String>) -> Self {
        let field = field.into();
        FieldError {
            code: "missing_field",
            message: format!("{field} is required"),
            field,
        }
    }
}

/// A daemon name: `^[a-z][a-z0-9_-]{0,31}$`. Only such names ever reach a device command.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ModuleName(String);

impl ModuleName {
    /// Parses a module name, or says why it is not one.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > 32 {
            return Err("must be 1 to 32 characters");
        }
        if !b[0].is_ascii_lowercase() {
            return Err("must start with a lowercase letter");
        }
        if !b
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
        {
            return Err("may hold only a-z, 0-9, '_' and '-'");
        }
        Ok(ModuleName(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ModuleName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ModuleName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How a task makes the daemons reset (start) or write (end) their counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Flush {
    /// SIGUSR2 → `__gcov_reset` at start, SIGUSR1 → `__gcov_dump` at end; traffic keeps
    /// flowing. Refused (`not_instrumented`) unless every process catches the signal.
    #[default]
    Signal,
    /// At end, `bigstart restart <module>`: the daemon writes at exit; interrupts traffic.
    /// At start, the same as `signal`.
    Restart,
    /// gdb attaches to each process, calls `__gcov_reset()` (start) or `__gcov_dump()` (end)
    /// and detaches: for daemons built without the signal handlers. Pauses each process for
    /// the call; refused (`gdb_missing`) where the device has no gdb.
    Gdb,
}

impl Flush {
    /// Every mode, in the order the API lists them.
    pub const ALL: [Flush; 3] = [Flush::Signal, Flush::Restart, Flush::Gdb];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Flush::Signal => "signal",
            Flush::Restart => "restart",
            Flush::Gdb => "gdb",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Flush::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// A secret (password or private key). Its `Debug` and `Display` never show it; it is
/// serialised only into the queue message.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must use it (the SSH auth call).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// How to log in to the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// Password (answered to keyboard-interactive too).
    Password(Secret),
    /// An OpenSSH private key, PEM text.
    PrivateKey(Secret),
}

/// The device's address and access. Credentials live only here and in the queue message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAccess {
    /// Host name or IP address, canonical (one spelling per device).
    pub host: DeviceHost,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub username: String,
    /// Password or key.
    pub credential: Credential,
    /// The expected host key fingerprint (`SHA256:...`), when the user pins one.
    pub host_key_sha256: Option<String>,
}

/// A validated submission.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    /// Label.
    pub name: Option<String>,
    /// The user named in the body (honoured only without auth).
    pub user: Option<String>,
    /// Queue.
    pub priority: Priority,
    /// Kind.
    pub task_type: TaskType,
    /// Device and credentials; `None` for a merge, which works on stored data only.
    pub device: Option<DeviceAccess>,
    /// Daemons, unique, in the order given.
    pub modules: Vec<ModuleName>,
    /// For an end or discard task: the start task's id.
    pub session: Option<TaskId>,
    /// Flush mode.
    pub flush: Flush,
    /// For a merge task: the end tasks to merge, [`MIN_MERGE_TASKS`] to [`MAX_MERGE_TASKS`],
    /// unique, in the order given; empty for other tasks.
    pub tasks: Vec<TaskId>,
    /// Webhook URL.
    pub webhook: Option<String>,
    /// Who gets an email notice when the task ends: 1 to [`MAX_EMAIL_RECIPIENTS`] plain
    /// addresses ([`check_email`]), unique; empty when none was asked for.
    pub email: Vec<String>,
}

impl Submission {
    /// The submission without its secrets, as canonical JSON: what an Idempotency-Key's
    /// replay must match. The secret is left out so that it is never stored, even hashed.
    pub fn fingerprint(&self) -> String {
        let d = self.device.as_ref();
        serde_json::json!({
            "name": self.name, "user": self.user, "priority": self.priority,
            "type": self.task_type, "host": d.map(|d| &d.host), "port": d.map(|d| d.port),
            "username": d.map(|d| &d.username), "host_key_sha256": d.map(|d| &d.host_key_sha256),
            "auth": d.map(|d| match d.credential { Credential::Password(_) => "password", Credential::PrivateKey(_) => "private_key" }),
            "modules": self.modules, "session": self.session, "flush": self.flush,
            "tasks": self.tasks, "webhook": self.webhook, "email": self.email,
        })
        .to_string()
    }
}

/// Parses and validates a request body (already known to be at most [`MAX_BODY_BYTES`]).
pub fn parse_submission(body: &[u8]) -> Result<Submission, FieldError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| FieldError {
        code: "invalid_json",
        field: String::new(),
        message: format!("the body is not valid JSON: {e}"),
    })?;
    let Value::Object(top) = value else {
        return Err(FieldError::invalid("", "the body must be a JSON object"));
    };
    reject_unknown(&top, "", BODY_FIELDS)?;

    let task_type = match top.get("type") {
        None | Some(Value::Null) => return Err(FieldError::missing("type")),
        Some(Value::String(s)) => TaskType::parse(s).ok_or_else(|| {
            FieldError::invalid(
                "type",
                "must be \"code-coverage-start\", \"code-coverage-end\", \"code-coverage-discard\" or \"code-coverage-merge\"",
            )
        })?,
        Some(_) => return Err(FieldError::invalid("type", "must be a string")),
    };
    let name = opt_text(&top, "name", "name", 200)?;
    let user = opt_string(&top, "user", "user")?
        .map(|u| check_user(&u).map(|_| u))
        .transpose()?;
    let priority = match opt_string(&top, "priority", "priority")? {
        None => Priority::Normal,
        Some(p) => Priority::parse(&p)
            .ok_or_else(|| FieldError::invalid("priority", "must be \"high\" or \"normal\""))?,
    };

    let data = match top.get("data") {
        None | Some(Value::Null) => return Err(FieldError::missing("data")),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(FieldError::invalid("data", "must be an object")),
    };
    reject_unknown(data, "data", DATA_FIELDS)?;
    if task_type == TaskType::CoverageMerge {
        // A merge works on stored reports: no device, no credentials, no modules.
        if let Some(k) = ["device", "modules", "session", "flush"]
            .into_iter()
            .find(|k| data.get(*k).is_some_and(|v| !v.is_null()))
        {
            return Err(FieldError::invalid(
                format!("data.{k}"),
                "a code-coverage-merge task takes only data.tasks (it works on stored reports, not on a device)",
            ));
        }
        let tasks = parse_tasks(data)?;
        let (webhook, email) = parse_notify(&top)?;
        return Ok(Submission {
            name,
            user,
            priority,
            task_type,
            device: None,
            modules: Vec::new(),
            session: None,
            flush: Flush::default(),
            tasks,
            webhook,
            email,
        });
    }
    if data.get("tasks").is_some_and(|v| !v.is_null()) {
        return Err(FieldError::invalid(
            "data.tasks",
            "only a code-coverage-merge task lists tasks",
        ));
    }
    let device = parse_device(data)?;
    let modules = parse_modules(data)?;
    let session = match opt_string(data, "session", "data.session")? {
        None => None,
        Some(_) if task_type == TaskType::CoverageStart => {
            return Err(FieldError::invalid(
                "data.session",
                "only a code-coverage-end or code-coverage-discard task names a session",
            ));
        }
        Some(s) => Some(
            TaskId::parse(&s)
                .ok_or_else(|| FieldError::invalid("data.session", "must be a task id"))?,
        ),
    };
    let flush = match opt_string(data, "flush", "data.flush")? {
        None => Flush::default(),
        Some(f) => Flush::parse(&f).ok_or_else(|| {
            FieldError::invalid("data.flush", "must be \"signal\", \"restart\" or \"gdb\"")
        })?,
    };
    let (webhook, email) = parse_notify(&top)?;

    Ok(Submission {
        name,
        user,
        priority,
        task_type,
        device: Some(device),
        modules,
        session,
        flush,
        tasks: Vec::new(),
        webhook,
        email,
    })
}

/// `notify`: absent or `null` for none, else an object of `webhook` and `email`.
fn parse_notify(top: &Map<String, Value>) -> Result<(Option<String>, Vec<String>), FieldError> {
    match top.get("notify") {
        None | Some(Value::Null) => Ok((None, Vec::new())),
        Some(Value::Object(n)) => {
            reject_unknown(n, "notify", NOTIFY_FIELDS)?;
            let webhook = match opt_text(n, "webhook", "notify.webhook", 2048)? {
                None => None,
                Some(url) => Some(check_webhook(url)?),
            };
            Ok((webhook, parse_email(n)?))
        }
        Some(_) => Err(FieldError::invalid("notify", "must be an object")),
    }
}

/// A merge's `data.tasks`: [`MIN_MERGE_TASKS`] to [`MAX_MERGE_TASKS`] task ids, unique
/// (case-insensitively, as ids parse), each refused by its index.
fn parse_tasks(data: &Map<String, Value>) -> Result<Vec<TaskId>, FieldError> {
    let list = match data.get("tasks") {
        None | Some(Value::Null) => return Err(FieldError::missing("data.tasks")),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(FieldError::invalid(
                "data.tasks",
                "must be a list of end task ids",
            ));
        }
    };
    if list.len() < MIN_MERGE_TASKS || list.len() > MAX_MERGE_TASKS {
        return Err(FieldError::invalid(
            "data.tasks",
            format!("must list {MIN_MERGE_TASKS} to {MAX_MERGE_TASKS} end task ids"),
        ));
    }
    let mut out: Vec<TaskId> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let field = format!("data.tasks[{i}]");
        let Value::String(s) = v else {
            return Err(FieldError::invalid(field, "must be a string"));
        };
        let id =
            TaskId::parse(s).ok_or_else(|| FieldError::invalid(&field, "must be a task id"))?;
        if let Some(j) = out.iter().position(|t| *t == id) {
            return Err(FieldError::invalid(
                field,
                format!("repeats data.tasks[{j}]"),
            ));
        }
        out.push(id);
    }
    Ok(out)
}

/// `notify.email`: absent or `null` for none, else a list of 1 to [`MAX_EMAIL_RECIPIENTS`]
/// unique plain addresses, each named by its index when it is refused.
fn parse_email(n: &Map<String, Value>) -> Result<Vec<String>, FieldError> {
    let list = match n.get("email") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(FieldError::invalid(
                "notify.email",
                "must be a list of email addresses",
            ));
        }
    };
    if list.is_empty() || list.len() > MAX_EMAIL_RECIPIENTS {
        return Err(FieldError::invalid(
            "notify.email",
            format!("must list 1 to {MAX_EMAIL_RECIPIENTS} addresses"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let field = format!("notify.email[{i}]");
        let Value::String(addr) = v else {
            return Err(FieldError::invalid(field, "must be a string"));
        };
        check_email(addr).map_err(|why| FieldError::invalid(&field, why))?;
        if let Some(j) = out.iter().position(|a| a.eq_ignore_ascii_case(addr)) {
            return Err(FieldError::invalid(
                field,
                format!("repeats notify.email[{j}]"),
            ));
        }
        out.push(addr.clone());
    }
    Ok(out)
}

/// Checks a plain email address, `local@domain`, as a notice may be sent to (and as
/// `CCAAS_MAIL_FROM` must be): at most [`MAX_EMAIL_CHARS`] characters; a local part of 1 to
/// 64 RFC 5322 `atext` characters (`A-Z a-z 0-9` and ``!#$%&'*+/=?^_`{|}~-``) in dot-separated
/// runs; a DNS domain of at least two labels (`A-Z a-z 0-9 -`, 1 to 63 each, no leading or
/// trailing hyphen). So no space, newline, comma, quote, angle bracket or display name: an
/// address can never add a header or a recipient. Errors: why not, without echoing it.
pub fn check_email(addr: &str) -> Result<(), &'static str> {
    if addr.is_empty() || addr.len() > MAX_EMAIL_CHARS {
        return Err("must be an email address of at most 254 characters");
    }
    let Some((local, domain)) = addr.split_once('@') else {
        return Err("must be an address such as alice@example.com");
    };
    let atext = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&c);
    if local.is_empty()
        || local.len() > 64
        || local
            .split('.')
            .any(|run| run.is_empty() || !run.bytes().all(atext))
    {
        return Err(
            "must be a plain address local@domain: a local part of letters, digits and !#$%&'*+/=?^_`{|}~-, dots between them, no spaces, quotes, commas or angle brackets",
        );
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err("must end in a DNS domain such as example.com");
    }
    Ok(())
}

fn parse_device(data: &Map<String, Value>) -> Result<DeviceAccess, FieldError> {
    let dev = match data.get("device") {
        None | Some(Value::Null) => return Err(FieldError::missing("data.device")),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(FieldError::invalid("data.device", "must be an object")),
    };
    reject_unknown(dev, "data.device", DEVICE_FIELDS)?;
    let host = opt_string(dev, "host", "data.device.host")?
        .ok_or_else(|| FieldError::missing("data.device.host"))?;
    let host = parse_host(&host)?;
    let port = match dev.get("port") {
        None | Some(Value::Null) => 22,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(p @ 1..=65535) => p as u16,
            _ => {
                return Err(FieldError::invalid(
                    "data.device.port",
                    "must be an integer from 1 to 65535",
                ));
            }
        },
        Some(_) => {
            return Err(FieldError::invalid(
                "data.device.port",
                "must be an integer from 1 to 65535",
            ));
        }
    };
    let username = opt_string(dev, "username", "data.device.username")?
        .ok_or_else(|| FieldError::missing("data.device.username"))?;
    if !is_account_name(&username) {
        return Err(FieldError::invalid(
            "data.device.username",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-', '@'",
        ));
    }
    // Secrets are checked for presence and shape only; messages never quote them.
    let password = secret(dev, "password", "data.device.password", 1024)?;
    let key = secret(dev, "private_key", "data.device.private_key", 16 * 1024)?;
    let credential = match (password, key) {
        (Some(p), None) => Credential::Password(p),
        (None, Some(k)) => {
            if !k.expose().contains("PRIVATE KEY-----") {
                return Err(FieldError::invalid(
                    "data.device.private_key",
                    "must be an OpenSSH or PEM private key",
                ));
            }
            Credential::PrivateKey(k)
        }
        (None, None) => {
            return Err(FieldError {
                code: "missing_field",
                field: "data.device.password".into(),
                message: "data.device.password or data.device.private_key is required".into(),
            });
        }
        (Some(_), Some(_)) => {
            return Err(FieldError::invalid(
                "data.device.private_key",
                "give either password or private_key, not both",
            ));
        }
    };
    let host_key_sha256 = opt_string(dev, "host_key_sha256", "data.device.host_key_sha256")?;
    if let Some(fp) = &host_key_sha256 {
        check_fingerprint(fp)?;
    }
    Ok(DeviceAccess {
        host,
        port,
        username,
        credential,
        host_key_sha256,
    })
}

fn parse_modules(data: &Map<String, Value>) -> Result<Vec<ModuleName>, FieldError> {
    let list = match data.get("modules") {
        None | Some(Value::Null) => return Err(FieldError::missing("data.modules")),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(FieldError::invalid(
                "data.modules",
                "must be a list of module names",
            ));
        }
    };
    if list.is_empty() || list.len() > MAX_MODULES {
        return Err(FieldError::invalid(
            "data.modules",
            format!("must name 1 to {MAX_MODULES} modules"),
        ));
    }
    let mut out: Vec<ModuleName> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let field = format!("data.modules[{i}]");
        let Value::String(s) = v else {
            return Err(FieldError::invalid(field, "must be a string"));
        };
        let m = ModuleName::parse(s).map_err(|why| {
            FieldError::invalid(&field, format!("is not a module name: it {why}"))
        })?;
        if out.contains(&m) {
            return Err(FieldError::invalid(field, "is named twice"));
        }
        out.push(m);
    }
    Ok(out)
}

fn reject_unknown(m: &Map<String, Value>, at: &str, known: &[&str]) -> Result<(), FieldError> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => {
            let field = if at.is_empty() {
                printable(k)
            } else {
                format!("{at}.{}", printable(k))
            };
            Err(FieldError {
                code: "unknown_field",
                message: format!("{field} is not a known field"),
                field,
            })
        }
    }
}

/// Shows a user-given key safely in an error: at most 64 characters, control characters escaped.
fn printable(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_default).collect()
}

fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<String>, FieldError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if s.chars().any(|c| c.is_control()) {
                return Err(FieldError::invalid(
                    field,
                    "must not contain control characters",
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(FieldError::invalid(field, "must be a string")),
    }
}

fn opt_text(
    m: &Map<String, Value>,
    key: &str,
    field: &str,
    max_chars: usize,
) -> Result<Option<String>, FieldError> {
    let s = opt_string(m, key, field)?;
    if let Some(s) = &s
        && s.chars().count() > max_chars
    {
        return Err(FieldError::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(s)
}

fn secret(
    m: &Map<String, Value>,
    key: &str,
    field: &str,
    max: usize,
) -> Result<Option<Secret>, FieldError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(FieldError::invalid(field, "must not be empty"))
        }
        Some(Value::String(s)) if s.len() > max => Err(FieldError::invalid(
            field,
            format!("must be at most {max} bytes"),
        )),
        Some(Value::String(s)) if s.contains('\0') => {
            Err(FieldError::invalid(field, "must not contain NUL"))
        }
        Some(Value::String(s)) => Ok(Some(Secret::new(s.clone()))),
        Some(_) => Err(FieldError::invalid(field, "must be a string")),
    }
}

/// Whether `s` is 1 to 64 characters of `A-Za-z0-9._@-` (task owners and device logins).
fn is_account_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'@'))
}

/// A user name: 1 to 64 characters of `A-Za-z0-9._@-`.
pub fn check_user(u: &str) -> Result<(), FieldError> {
    if !is_account_name(u) {
        return Err(FieldError::invalid(
            "user",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-', '@'",
        ));
    }
    Ok(())
}

/// A host: a DNS name or an IPv4/IPv6 literal (any `inet_aton` form, IPv6 with or without
/// brackets), at most 253 characters, in its canonical form ([`DeviceHost`]).
pub fn parse_host(h: &str) -> Result<DeviceHost, FieldError> {
    DeviceHost::parse(h).map_err(|why| FieldError::invalid("data.device.host", why))
}

fn check_fingerprint(fp: &str) -> Result<(), FieldError> {
    let body = fp.strip_prefix("SHA256:").unwrap_or("");
    let ok = (43..=44).contains(&body.len())
        && body
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='));
    if ok {
        Ok(())
    } else {
        Err(FieldError::invalid(
            "data.device.host_key_sha256",
            "must be an OpenSSH SHA256 fingerprint such as SHA256:abc...",
        ))
    }
}

fn check_webhook(url: String) -> Result<String, FieldError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => {
            Ok(url)
        }
        _ => Err(FieldError::invalid(
            "notify.webhook",
            "must be an http or https URL",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(data: &str) -> String {
        format!(
            r#"{{"type":"code-coverage-start","user":"alice","data":{{"device":{{"host":"10.0.0.1","username":"root","password":"pw"}},"modules":["tmm","mcpd"]{data}}}}}"#
        )
    }

    fn with_notify(notify: &str) -> Result<Submission, FieldError> {
        let b = format!(
            r#"{{"type":"code-coverage-end","data":{{"device":{{"host":"h","username":"u","password":"p"}},"modules":["tmm"]}},"notify":{notify}}}"#
        );
        parse_submission(b.as_bytes())
    }

    #[test]
    fn notify_email_takes_one_to_ten_plain_addresses() {
        let s = with_notify(r#"{"email":["alice@example.com","qa.team+ccaas@lab.example.co.uk"]}"#)
            .expect("valid");
        assert_eq!(
            s.email,
            ["alice@example.com", "qa.team+ccaas@lab.example.co.uk"]
        );
        assert_eq!(s.webhook, None);
        let ten: Vec<String> = (0..10).map(|i| format!("\"u{i}@example.com\"")).collect();
        let s = with_notify(&format!(r#"{{"email":[{}]}}"#, ten.join(","))).expect("ten");
        assert_eq!(s.email.len(), 10);
        assert!(
            with_notify(r#"{"email":null}"#)
                .expect("null")
                .email
                .is_empty()
        );
        assert!(with_notify(r#"{}"#).expect("none").email.is_empty());
        assert!(s.fingerprint().contains("u9@example.com"));
    }

    #[test]
    fn notify_email_refuses_empty_long_and_non_list_values_naming_notify_email() {
        let eleven: Vec<String> = (0..11).map(|i| format!("\"u{i}@example.com\"")).collect();
        for bad in [
            r#"{"email":[]}"#.to_string(),
            format!(r#"{{"email":[{}]}}"#, eleven.join(",")),
            r#"{"email":"alice@example.com"}"#.to_string(),
            r#"{"email":{"to":"alice@example.com"}}"#.to_string(),
        ] {
            let e = with_notify(&bad).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_str()),
                ("invalid_field", "notify.email"),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_address_that_could_add_a_header_or_recipient_is_named_by_its_index() {
        let long = format!("{}@example.com", "a".repeat(65));
        let longer = format!("a@{}.com", "b".repeat(250));
        for bad in [
            "alice@example.com\r\nBcc: eve@evil.example",
            "alice@example.com\nSubject: hi",
            "alice@example.com, eve@evil.example",
            "Alice <alice@example.com>",
            "alice smith@example.com",
            "\"alice\"@example.com",
            "alice@example.com>",
            "alice@@example.com",
            "alice@localhost",
            "alice@-example.com",
            "alice@example..com",
            ".alice@example.com",
            "alice.@example.com",
            "al..ice@example.com",
            "@example.com",
            "alice@",
            "alice",
            "",
            "alice@exämple.com",
            long.as_str(),
            longer.as_str(),
        ] {
            let body = serde_json::json!({"email": ["ok@example.com", "ok2@example.com", bad]});
            let e = with_notify(&body.to_string()).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_str()),
                ("invalid_field", "notify.email[2]"),
                "{bad:?}"
            );
            assert!(
                !e.message.contains("evil"),
                "the address is not echoed: {}",
                e.message
            );
        }
        let e = with_notify(r#"{"email":["a@example.com", 7]}"#).unwrap_err();
        assert_eq!(e.field, "notify.email[1]");
        let e = with_notify(r#"{"email":["a@example.com", "A@Example.com"]}"#).unwrap_err();
        assert_eq!(e.field, "notify.email[1]");
        assert!(
            e.message.contains("repeats notify.email[0]"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_minimal_start_task_parses_with_defaults() {
        let s = parse_submission(body("").as_bytes()).expect("valid");
        assert_eq!(s.device.as_ref().map(|d| d.port), Some(22));
        assert!(s.tasks.is_empty());
        assert_eq!(s.priority, Priority::Normal);
        assert_eq!(s.flush, Flush::Signal);
        assert_eq!(s.modules.len(), 2);
    }

    #[test]
    fn a_hostile_module_name_is_named_by_its_index() {
        let b = r#"{"type":"code-coverage-start","data":{"device":{"host":"h","username":"u","password":"p"},"modules":["tmm","tmm; touch /tmp/x"]}}"#;
        let e = parse_submission(b.as_bytes()).unwrap_err();
        assert_eq!(e.field, "data.modules[1]");
        assert_eq!(e.code, "invalid_field");
    }

    #[test]
    fn a_start_task_may_not_name_a_session() {
        let e = parse_submission(body(r#","session":"01ARZ3NDEKTSV4RRFFQ69G5FAV""#).as_bytes())
            .unwrap_err();
        assert_eq!(e.field, "data.session");
    }

    #[test]
    fn errors_never_quote_the_password() {
        let b = r#"{"type":"code-coverage-start","data":{"device":{"host":"h","username":"u","password":"canary-3141","port":"x"},"modules":["tmm"]}}"#;
        let e = parse_submission(b.as_bytes()).unwrap_err();
        assert!(!format!("{e:?} {e}").contains("canary-3141"));
        let ok = parse_submission(body("").replace("\"pw\"", "\"canary-3141\"").as_bytes())
            .expect("valid");
        assert!(!format!("{ok:?}").contains("canary-3141"));
        assert!(!ok.fingerprint().contains("canary-3141"));
    }

    #[test]
    fn module_names_follow_the_pattern_exactly() {
        let longest = format!("a{}", "b".repeat(31));
        for good in [
            "tmm",
            "mcpd",
            "a",
            "bd-2",
            "a_b",
            "bd_2-x",
            longest.as_str(),
        ] {
            assert!(ModuleName::parse(good).is_ok(), "{good}");
        }
        let too_long = format!("a{}", "b".repeat(32));
        for bad in [
            "",
            "Tmm",
            "1tmm",
            "-tmm",
            "tmm;",
            "tmm;id",
            "tmm ",
            "a b",
            "tm/m",
            "../x",
            "tmm\n",
            "ţmm",
            "$(id)",
            "`id`",
            too_long.as_str(),
        ] {
            assert!(ModuleName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flush_modes_are_spelled_the_same_on_the_wire_in_serde_and_by_name() {
        for f in Flush::ALL {
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
            assert_eq!(Flush::parse(f.as_str()), Some(f));
            assert_eq!(
                serde_json::from_value::<Flush>(serde_json::json!(f.as_str())).unwrap(),
                f
            );
        }
        assert_eq!(Flush::ALL.map(Flush::as_str), ["signal", "restart", "gdb"]);
        assert_eq!(Flush::parse("Signal"), None);
        let e = parse_submission(body(r#","flush":"sigusr1""#).as_bytes()).unwrap_err();
        assert_eq!(e.field, "data.flush");
        assert_eq!(e.message, "must be \"signal\", \"restart\" or \"gdb\"");
    }

    fn merge(data: &str) -> Result<Submission, FieldError> {
        let b = format!(r#"{{"type":"code-coverage-merge","name":"nightly","data":{data}}}"#);
        parse_submission(b.as_bytes())
    }

    const E1: &str = "01JD0000000000000000000001";
    const E2: &str = "01JD0000000000000000000002";

    #[test]
    fn a_merge_lists_two_to_fifty_end_task_ids_and_needs_no_device() {
        let s = merge(&format!(r#"{{"tasks":["{E1}","{E2}"]}}"#)).expect("valid");
        assert_eq!(s.task_type, TaskType::CoverageMerge);
        assert_eq!(s.device, None);
        assert!(s.modules.is_empty());
        assert_eq!(
            s.tasks,
            [TaskId::parse(E1).unwrap(), TaskId::parse(E2).unwrap()]
        );
        assert!(s.fingerprint().contains(E2));
        let fifty: Vec<String> = (0..50)
            .map(|i| format!("\"{}\"", TaskId::from_parts(1_700_000_000_000, i)))
            .collect();
        let s = merge(&format!(r#"{{"tasks":[{}]}}"#, fifty.join(","))).expect("fifty");
        assert_eq!(s.tasks.len(), 50);
    }

    #[test]
    fn a_merge_of_fewer_than_two_or_more_than_fifty_tasks_is_refused_naming_data_tasks() {
        let many: Vec<String> = (0..51)
            .map(|i| format!("\"{}\"", TaskId::from_parts(1_700_000_000_000, i)))
            .collect();
        for bad in [
            format!(r#"{{"tasks":["{E1}"]}}"#),
            r#"{"tasks":[]}"#.to_string(),
            format!(r#"{{"tasks":[{}]}}"#, many.join(",")),
            format!(r#"{{"tasks":"{E1}"}}"#),
        ] {
            let e = merge(&bad).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_str()),
                ("invalid_field", "data.tasks"),
                "{bad}"
            );
        }
        let e = merge("{}").unwrap_err();
        assert_eq!((e.code, e.field.as_str()), ("missing_field", "data.tasks"));
    }

    #[test]
    fn a_bad_or_repeated_id_in_a_merge_is_named_by_its_index() {
        let e = merge(&format!(r#"{{"tasks":["{E1}","not-an-id"]}}"#)).unwrap_err();
        assert_eq!(e.field, "data.tasks[1]");
        let e = merge(&format!(r#"{{"tasks":["{E1}",7]}}"#)).unwrap_err();
        assert_eq!(e.field, "data.tasks[1]");
        let lower = E1.to_lowercase();
        let e = merge(&format!(r#"{{"tasks":["{E1}","{E2}","{lower}"]}}"#)).unwrap_err();
        assert_eq!(e.field, "data.tasks[2]");
        assert!(e.message.contains("repeats data.tasks[0]"), "{}", e.message);
    }

    #[test]
    fn a_merge_takes_no_device_modules_session_or_flush_and_other_types_take_no_tasks() {
        for (extra, field) in [
            (
                r#""device":{"host":"h","username":"u","password":"canary-99"}"#,
                "data.device",
            ),
            (r#""modules":["tmm"]"#, "data.modules"),
            (r#""session":"01JD0000000000000000000003""#, "data.session"),
            (r#""flush":"gdb""#, "data.flush"),
        ] {
            let e = merge(&format!(r#"{{"tasks":["{E1}","{E2}"],{extra}}}"#)).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_str()),
                ("invalid_field", field),
                "{extra}"
            );
            assert!(!e.message.contains("canary-99"));
        }
        let e =
            parse_submission(body(&format!(r#","tasks":["{E1}","{E2}"]"#)).as_bytes()).unwrap_err();
        assert_eq!(e.field, "data.tasks");
    }
}
