//! `ccaas task ...`: start and end coverage sessions, and follow tasks, over the HTTP API.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ccaas_domain::{Flush, Priority};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Where the API is, and how to print.
#[derive(Debug, Args)]
pub struct TaskArgs {
    /// Base URL of the ccaas API.
    #[arg(
        long,
        env = "CCAAS_API",
        default_value = "http://127.0.0.1:3000",
        global = true
    )]
    api: String,
    /// A file holding the bearer token, for an API with auth on. The token can come from the
    /// environment instead (`CCAAS_TOKEN`); it is never taken on the command line.
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print the API's JSON instead of a human summary.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// Reset the daemons' counters and open a coverage session.
    Start(SessionArgs),
    /// Collect the counters, publish the report and close the session.
    End(EndArgs),
    /// Show one task.
    Get {
        /// Task id.
        id: String,
    },
    /// List tasks, newest first.
    List(ListArgs),
    /// Print a task's SSH command log (JSON lines).
    Log {
        /// Task id.
        id: String,
    },
    /// Cancel a pending task: it fails with `cancelled` and never runs. A task that already
    /// runs or finished cannot be cancelled (the API answers 409 with its status).
    Cancel {
        /// Task id.
        id: String,
    },
    /// Close the device's coverage session without collecting anything.
    Discard(DiscardArgs),
    /// List the devices with an open coverage session (device, owner, session, since).
    Devices {
        /// Rows per page (1-100).
        #[arg(long, default_value_t = 25)]
        limit: u32,
        /// Follow the cursor and print every page.
        #[arg(long)]
        all: bool,
    },
    /// Search tasks by words, "quoted phrases" and the filters user:, device:, status:, type:
    /// (`GET /v1/search`). Prints id, status, type, user, device and the matched snippet.
    Search {
        /// The query, such as `tmm "route 10.0.0.1" user:alice status:failed`.
        query: String,
        /// Hits per page (1-100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Wait until a task finishes; exit 0 if it succeeded, 1 if it failed.
    Wait {
        /// Task id.
        id: String,
        /// Give up after this many seconds (exit 3).
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
}

#[derive(Debug, Args)]
struct SessionArgs {
    /// Device host name or IP.
    #[arg(long)]
    host: String,
    /// Device SSH port.
    #[arg(long, default_value_t = 22)]
    port: u16,
    /// Device login user.
    #[arg(long, default_value = "root")]
    user: String,
    /// File holding the device password (or set CCAAS_DEVICE_PASSWORD).
    #[arg(long, conflicts_with = "key_file")]
    password_file: Option<PathBuf>,
    /// File holding an OpenSSH private key for the device.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// The device's host key (`SHA256:...`), pinned once the login succeeds; without it the
    /// pinned key is expected (a device with none is refused unless the service runs `tofu`).
    #[arg(long)]
    host_key: Option<String>,
    /// Daemons, comma-separated (for example tmm,mcpd).
    #[arg(long, value_delimiter = ',', required = true)]
    modules: Vec<String>,
    /// Queue priority.
    #[arg(long, default_value = Priority::Normal.as_str(), value_parser = priority_parser())]
    priority: Priority,
    /// A label for the task.
    #[arg(long)]
    name: Option<String>,
    /// The task's owner (used when the API runs without auth).
    #[arg(long, env = "USER")]
    owner: Option<String>,
    /// Make retries of this call safe: the same key and body return the same task.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// A URL to POST to once the task finishes (a Slack incoming webhook works). It may hold
    /// a token, so it can come from the environment instead (`CCAAS_WEBHOOK`); the API never
    /// shows it back.
    #[arg(
        long,
        env = "CCAAS_WEBHOOK",
        hide_env_values = true,
        value_name = "URL"
    )]
    webhook: Option<String>,
    /// Who gets an email notice once the task finishes or fails (repeat it, or separate
    /// addresses with commas; at most 10). The service must have a mail sender.
    #[arg(long, value_name = "ADDRESS", value_delimiter = ',')]
    email: Vec<String>,
    /// Wait for the task to finish, showing progress.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
struct EndArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// The start task's id (default: the device's open session).
    #[arg(long = "session")]
    session_id: Option<String>,
    /// How to flush counters.
    #[arg(long, default_value = Flush::default().as_str(), value_parser = flush_parser())]
    flush: Flush,
}

#[derive(Debug, Args)]
struct DiscardArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// The start task's id (default: the caller's open session on the device).
    #[arg(long = "session")]
    session_id: Option<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long = "type")]
    task_type: Option<String>,
    /// `host:port`, or a host for every port of it.
    #[arg(long)]
    device: Option<String>,
    /// Only tasks created at or after this instant: an RFC 3339 date-time, or a date.
    #[arg(long)]
    from: Option<String>,
    /// Only tasks created at or before this instant (a date counts to its end).
    #[arg(long)]
    to: Option<String>,
    /// Rows per page (1-100).
    #[arg(long, default_value_t = 25)]
    limit: u32,
    /// Follow the cursor and print every page.
    #[arg(long)]
    all: bool,
}

/// `--priority`: the domain's wire names, listed in `--help`.
fn priority_parser() -> impl TypedValueParser<Value = Priority> {
    PossibleValuesParser::new(Priority::ALL.map(Priority::as_str))
        .try_map(|s| Priority::parse(&s).ok_or("not a priority"))
}

/// `--flush`: the domain's wire names, listed in `--help`.
fn flush_parser() -> impl TypedValueParser<Value = Flush> {
    PossibleValuesParser::new(Flush::ALL.map(Flush::as_str))
        .try_map(|s| Flush::parse(&s).ok_or("not a flush mode"))
}

/// The API client of `--api`, with the bearer token of `--token-file` or `CCAAS_TOKEN`.
pub(crate) fn connect(base: &str, token_file: Option<&PathBuf>, json: bool) -> Result<Api, String> {
    let headers = bearer(token_file, std::env::var("CCAAS_TOKEN").ok())?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .default_headers(headers)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    Ok(Api {
        base: base.trim_end_matches('/').to_owned(),
        client,
        json,
    })
}

/// Runs a task subcommand and returns the process exit code.
pub fn run(args: TaskArgs) -> i32 {
    let api = match connect(&args.api, args.token_file.as_ref(), args.json) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let result = match args.command {
        TaskCommand::Start(s) => submit(&api, "code-coverage-start", &s, None, None),
        TaskCommand::End(e) => submit(
            &api,
            "code-coverage-end",
            &e.session,
            e.session_id.as_deref(),
            Some(e.flush),
        ),
        TaskCommand::Get { id } => api
            .get(&format!("/v1/tasks/{}", path_segment(&id)))
            .map(|t| {
                api.print_task(&t);
                0
            }),
        TaskCommand::List(l) => list(&api, &l),
        TaskCommand::Log { id } => api
            .get_text(&format!("/v1/tasks/{}/log", path_segment(&id)))
            .map(|t| {
                print!("{t}");
                0
            }),
        TaskCommand::Cancel { id } => {
            api.delete(&format!("/v1/tasks/{}", path_segment(&id)))
                .map(|t| {
                    api.print_task(&t);
                    0
                })
        }
        TaskCommand::Discard(d) => submit(
            &api,
            "code-coverage-discard",
            &d.session,
            d.session_id.as_deref(),
            None,
        ),
        TaskCommand::Devices { limit, all } => {
            pages(&api, &format!("/v1/devices?limit={limit}"), all, |d| {
                format!(
                    "{}  {}  {}  {}  {}",
                    s_of(&d["device"]),
                    s_of(&d["owner"]),
                    s_of(&d["session"]),
                    s_of(&d["since"]),
                    d["modules"]
                        .as_array()
                        .map(|m| m.iter().map(s_of).collect::<Vec<_>>().join(","))
                        .unwrap_or_default()
                )
            })
        }
        TaskCommand::Search { query, limit } => search(&api, &query, limit),
        TaskCommand::Wait { id, timeout } => wait(&api, &id, Duration::from_secs(timeout)),
    };
    match result {
        Ok(code) => code,
        Err(msg) => fail(&msg),
    }
}

/// The `Authorization` header from `--token-file` (first) or `CCAAS_TOKEN`, if either is set.
/// The value is marked sensitive so it never appears in debug output.
pub(crate) fn bearer(
    file: Option<&PathBuf>,
    env: Option<String>,
) -> Result<reqwest::header::HeaderMap, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    let token = match file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the token file {}: {e}", p.display()))?,
        ),
        None => env,
    };
    let Some(token) = token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(headers);
    };
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "the bearer token has characters a header cannot carry".to_string())?;
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    Ok(headers)
}

pub(crate) fn fail(msg: &str) -> i32 {
    eprintln!("ccaas: {msg}");
    2
}

/// Task ids are ASCII; anything else is sent percent-encoded so it cannot change the path.
pub(crate) fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The API's base URL, an HTTP client carrying the bearer token, and whether to print JSON.
pub(crate) struct Api {
    base: String,
    client: reqwest::blocking::Client,
    pub(crate) json: bool,
}

impl Api {
    pub(crate) fn get(&self, path: &str) -> Result<Value, String> {
        let text = self.get_text(path)?;
        serde_json::from_str(&text).map_err(|e| format!("the API answered with non-JSON: {e}"))
    }

    fn delete(&self, path: &str) -> Result<Value, String> {
        let r = self
            .client
            .delete(format!("{}{path}", self.base))
            .send()
            .map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        serde_json::from_str(&answer(r)?)
            .map_err(|e| format!("the API answered with non-JSON: {e}"))
    }

    fn get_text(&self, path: &str) -> Result<String, String> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        answer(r)
    }

    fn print_task(&self, t: &Value) {
        if self.json {
            println!("{t}");
            return;
        }
        let s = |k: &str| t[k].as_str().unwrap_or("-").to_owned();
        println!(
            "{}  {}  {}  {}",
            s("id"),
            s("status"),
            s("type"),
            s("device")
        );
        if let Some(link) = t["result"]["link"].as_str() {
            println!("report: {link}");
        }
        if let Some(lines) = t["result"]["summary"]["lines"].as_object() {
            println!(
                "lines: {}/{} ({}%)",
                lines.get("covered").unwrap_or(&Value::Null),
                lines.get("total").unwrap_or(&Value::Null),
                lines.get("percent").unwrap_or(&Value::Null)
            );
        }
        if let Some(w) = t["result"]["warnings"].as_array() {
            for w in w {
                println!(
                    "warning: {}",
                    w.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| w.to_string())
                );
            }
        }
        if t["error"].is_object() {
            println!(
                "error: {}: {}",
                s_of(&t["error"]["code"]),
                s_of(&t["error"]["message"])
            );
        }
        if let Some(e) = t["notify"]["email"].as_str() {
            println!("email: {e}");
        }
        if let Some(w) = t["notify"]["webhook"].as_str() {
            println!("webhook: {w}");
        }
    }
}

pub(crate) fn s_of(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

/// Turns a response into its body, or an error naming the API's error code and field.
pub(crate) fn answer(r: reqwest::blocking::Response) -> Result<String, String> {
    let status = r.status();
    let text = r.text().map_err(|e| format!("reading the answer: {e}"))?;
    if status.is_success() {
        return Ok(text);
    }
    let detail = serde_json::from_str::<Value>(&text)
        .ok()
        .map(|v| {
            let e = &v["error"];
            match e["field"].as_str() {
                Some(f) => format!("{} ({f}): {}", s_of(&e["code"]), s_of(&e["message"])),
                None => format!("{}: {}", s_of(&e["code"]), s_of(&e["message"])),
            }
        })
        .unwrap_or(text);
    Err(format!("HTTP {}: {detail}", status.as_u16()))
}

fn read_secret(s: &SessionArgs) -> Result<(&'static str, String), String> {
    let from_file = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    if let Some(p) = &s.key_file {
        return Ok(("private_key", from_file(p)?));
    }
    if let Some(p) = &s.password_file {
        return Ok((
            "password",
            from_file(p)?.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    match std::env::var("CCAAS_DEVICE_PASSWORD") {
        Ok(p) if !p.is_empty() => Ok(("password", p)),
        _ => Err("give --password-file, --key-file, or set CCAAS_DEVICE_PASSWORD".into()),
    }
}

fn submit(
    api: &Api,
    task_type: &str,
    s: &SessionArgs,
    session: Option<&str>,
    flush: Option<Flush>,
) -> Result<i32, String> {
    let (secret_field, secret) = read_secret(s)?;
    let mut device = json!({"host": s.host, "port": s.port, "username": s.user});
    device[secret_field] = json!(secret);
    if let Some(k) = &s.host_key {
        device["host_key_sha256"] = json!(k);
    }
    let mut data = json!({"device": device, "modules": s.modules});
    if let Some(id) = session {
        data["session"] = json!(id);
    }
    if let Some(f) = flush {
        data["flush"] = json!(f.as_str());
    }
    let mut body = json!({
        "type": task_type,
        "priority": s.priority.as_str(),
        "data": data,
    });
    if let Some(n) = &s.name {
        body["name"] = json!(n);
    }
    if let Some(o) = &s.owner {
        body["user"] = json!(o);
    }
    let mut notify = serde_json::Map::new();
    if let Some(w) = s.webhook.as_deref().filter(|w| !w.is_empty()) {
        notify.insert("webhook".into(), json!(w));
    }
    let email: Vec<&str> = s
        .email
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    if !email.is_empty() {
        notify.insert("email".into(), json!(email));
    }
    if !notify.is_empty() {
        body["notify"] = serde_json::Value::Object(notify);
    }
    let mut req = api
        .client
        .post(format!("{}/v1/tasks", api.base))
        .json(&body);
    if let Some(k) = &s.idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req
        .send()
        .map_err(|e| format!("cannot reach {}: {e}", api.base))?;
    let accepted: Value = serde_json::from_str(&answer(r)?)
        .map_err(|e| format!("the API answered with non-JSON: {e}"))?;
    let id = accepted["id"].as_str().unwrap_or_default().to_owned();
    if !s.wait {
        if api.json {
            println!("{accepted}");
        } else {
            println!(
                "{id}  {}  {}",
                s_of(&accepted["status"]),
                s_of(&accepted["selflink"])
            );
        }
        return Ok(0);
    }
    wait(api, &id, Duration::from_secs(6 * 3600))
}

fn wait(api: &Api, id: &str, timeout: Duration) -> Result<i32, String> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let t = api.get(&format!("/v1/tasks/{}", path_segment(id)))?;
        let status = s_of(&t["status"]);
        if status != last {
            eprintln!("[{:>5}s] {id}: {status}", started.elapsed().as_secs());
            last = status.clone();
        } else {
            eprint!(".");
            let _ = std::io::stderr().flush();
        }
        match status.as_str() {
            "succeeded" => {
                api.print_task(&t);
                return Ok(0);
            }
            "failed" => {
                api.print_task(&t);
                return Ok(1);
            }
            _ => {}
        }
        if started.elapsed() > timeout {
            eprintln!();
            return Ok(3);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn list(api: &Api, l: &ListArgs) -> Result<i32, String> {
    let mut q = vec![format!("limit={}", l.limit)];
    for (k, v) in [
        ("status", &l.status),
        ("user", &l.user),
        ("type", &l.task_type),
        ("device", &l.device),
        ("from", &l.from),
        ("to", &l.to),
    ] {
        if let Some(v) = v {
            q.push(format!("{k}={}", path_segment(v)));
        }
    }
    pages(api, &format!("/v1/tasks?{}", q.join("&")), l.all, |t| {
        format!(
            "{}  {:<9}  {:<19}  {}  {}",
            s_of(&t["id"]),
            s_of(&t["status"]),
            s_of(&t["type"]),
            s_of(&t["user"]),
            s_of(&t["timestamp"])
        )
    })
}

/// One page of `GET /v1/search`: a row per hit, its snippet with the matched words in
/// `[brackets]`, or the response's JSON with `--json`.
fn search(api: &Api, query: &str, limit: u32) -> Result<i32, String> {
    let page = api.get(&format!(
        "/v1/search?q={}&limit={limit}",
        path_segment(query)
    ))?;
    if api.json {
        println!("{page}");
        return Ok(0);
    }
    for hit in page["hits"].as_array().into_iter().flatten() {
        println!(
            "{}  {:<9}  {:<19}  {}  {}  {}",
            s_of(&hit["id"]),
            s_of(&hit["status"]),
            s_of(&hit["type"]),
            s_of(&hit["user"]),
            s_of(&hit["device"]),
            s_of(&hit["name"])
        );
        if let Some(line) = snippet_line(&hit["snippet"]) {
            println!("    {line}");
        }
    }
    eprintln!(
        "{} of {} hits{}",
        page["count"],
        page["total"],
        if page["next"].is_string() {
            " (narrow the query, or raise --limit)"
        } else {
            ""
        }
    );
    Ok(0)
}

/// A snippet as one line, `field: text` with each highlighted range in `[...]` and line
/// breaks as spaces; `None` for a hit without one. Ranges that do not fit the text are
/// skipped, never sliced.
fn snippet_line(snippet: &Value) -> Option<String> {
    let text = snippet["text"].as_str()?;
    let mut out = format!("{}: ", s_of(&snippet["field"]));
    let mut at = 0;
    for r in snippet["highlight"].as_array().into_iter().flatten() {
        let (Some(s), Some(e)) = (r[0].as_u64(), r[1].as_u64()) else {
            continue;
        };
        let (s, e) = (s as usize, e as usize);
        if s < at || e < s || text.get(at..s).is_none() || text.get(s..e).is_none() {
            continue;
        }
        out.push_str(&text[at..s]);
        out.push('[');
        out.push_str(&text[s..e]);
        out.push(']');
        at = e;
    }
    out.push_str(text.get(at..).unwrap_or(""));
    Some(out.replace(['\n', '\r'], " "))
}

/// Prints the pages of a listing at `first` (a path with its query), a `row` per item of
/// each page's `collection` (or each page's JSON with `--json`), following the `next` cursor
/// when `all`.
fn pages(api: &Api, first: &str, all: bool, row: impl Fn(&Value) -> String) -> Result<i32, String> {
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(n) => format!("{first}&next={}", path_segment(n)),
            None => first.to_owned(),
        };
        let page = api.get(&path)?;
        if api.json {
            println!("{page}");
        } else {
            for item in page["collection"].as_array().into_iter().flatten() {
                println!("{}", row(item));
            }
        }
        match page["next"].as_str() {
            Some(n) if all => next = Some(n.to_owned()),
            Some(n) => {
                if !api.json {
                    eprintln!("more: --all, or the cursor {n}");
                }
                return Ok(0);
            }
            None => return Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_line_brackets_the_highlights_and_skips_ranges_that_do_not_fit() {
        let s =
            json!({"field": "log", "text": "tmsh show\nroute ok", "highlight": [[5, 9], [10, 15]]});
        assert_eq!(snippet_line(&s).unwrap(), "log: tmsh [show] [route] ok");
        let bad = json!({"field": "name", "text": "é x", "highlight": [[1, 2], [3, 99], [0, 2]]});
        assert_eq!(snippet_line(&bad).unwrap(), "name: [é] x");
        assert_eq!(snippet_line(&Value::Null), None);
    }
}

/// `ccaas merge`: one report of several end tasks of one build (a `code-coverage-merge` task).
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The succeeded `code-coverage-end` tasks to merge, 2 to 50 ids, all of one build.
    #[arg(required = true, num_args = 2..=50, value_name = "TASK")]
    tasks: Vec<String>,
    /// A label for the merge task.
    #[arg(long)]
    name: Option<String>,
    /// The task's owner (used when the API runs without auth).
    #[arg(long, env = "USER")]
    owner: Option<String>,
    /// Queue priority.
    #[arg(long, default_value = Priority::Normal.as_str(), value_parser = priority_parser())]
    priority: Priority,
    /// Make retries of this call safe: the same key and body return the same task.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Wait for the merge to finish, showing progress; exit 0 if it succeeded, 1 if it failed.
    #[arg(long)]
    wait: bool,
    /// Base URL of the ccaas API.
    #[arg(long, env = "CCAAS_API", default_value = "http://127.0.0.1:3000")]
    api: String,
    /// A file holding the bearer token (or `CCAAS_TOKEN`).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print the API's JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

/// The `POST /v1/tasks` body of a merge.
fn merge_body(m: &MergeArgs) -> Value {
    let mut body = json!({
        "type": "code-coverage-merge",
        "priority": m.priority.as_str(),
        "data": {"tasks": m.tasks},
    });
    if let Some(n) = &m.name {
        body["name"] = json!(n);
    }
    if let Some(o) = &m.owner {
        body["user"] = json!(o);
    }
    body
}

/// Runs `ccaas merge`; the exit code (0 accepted or succeeded, 1 failed, 2 refused or
/// unreachable, 3 timed out waiting).
pub fn run_merge(m: MergeArgs) -> i32 {
    let api = match connect(&m.api, m.token_file.as_ref(), m.json) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let mut req = api
        .client
        .post(format!("{}/v1/tasks", api.base))
        .json(&merge_body(&m));
    if let Some(k) = &m.idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    let sent = req
        .send()
        .map_err(|e| format!("cannot reach {}: {e}", api.base))
        .and_then(answer)
        .and_then(|t| {
            serde_json::from_str::<Value>(&t)
                .map_err(|e| format!("the API answered with non-JSON: {e}"))
        });
    let accepted = match sent {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let id = s_of(&accepted["id"]);
    if !m.wait {
        if api.json {
            println!("{accepted}");
        } else {
            println!(
                "{id}  {}  {}",
                s_of(&accepted["status"]),
                s_of(&accepted["selflink"])
            );
        }
        return 0;
    }
    match wait(&api, &id, Duration::from_secs(6 * 3600)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        merge: MergeArgs,
    }

    #[test]
    fn merge_takes_two_to_fifty_ids_and_sends_them_as_data_tasks() {
        let c = Cli::try_parse_from(["ccaas", "01A", "01B", "--name", "both", "--owner", "al"])
            .unwrap();
        let b = merge_body(&c.merge);
        assert_eq!(b["type"], "code-coverage-merge");
        assert_eq!(b["data"]["tasks"], json!(["01A", "01B"]));
        assert_eq!(
            (b["name"].as_str(), b["user"].as_str()),
            (Some("both"), Some("al"))
        );
        assert!(b["data"].get("device").is_none());
        assert!(Cli::try_parse_from(["ccaas", "01A"]).is_err());
        let many: Vec<String> = (0..51).map(|i| format!("id{i}")).collect();
        assert!(Cli::try_parse_from(std::iter::once("ccaas".to_string()).chain(many)).is_err());
    }
}
