//! The test harness: a real emulator (moto_server through `localstack/up`) and a real
//! `ccaas-local` process per test, talked to over HTTP.
#![allow(dead_code)]

pub mod sim;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub use ccaas_testkit::Emulator;
use reqwest::StatusCode;
use serde_json::Value;

/// A running `ccaas-local`.
pub struct App {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    child: Child,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Starts `ccaas-local` against `emu` with extra environment, and waits until it answers.
pub async fn spawn_app(emu: &Emulator, extra: &[(&str, &str)]) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("ccaas-local.log");
    let (child, port) = ccaas_testkit::spawn_ccaas_local(
        |port| {
            let file = std::fs::File::create(&log).expect("log file");
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccaas-local"));
            cmd.envs(emu.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("CCAAS_LISTEN", format!("127.0.0.1:{port}"))
                .env("CCAAS_API_URL", format!("http://127.0.0.1:{port}"))
                .env("CCAAS_RETRY_DELAY_SECS", "1")
                // Most tests use made-up device hosts, which fail as `unreachable` (retryable):
                // a zero retry window makes the first failure final, so hundreds of such
                // tasks do not flood the shared emulator with redeliveries. Tests about
                // retries set their own window.
                .env("CCAAS_RETRY_WINDOW_SECS", "0")
                // Every test's ccaas-local polls the shared emulator; on a loaded machine one
                // call can take longer than the production default. Outage tests set their
                // own, shorter limit.
                .env("CCAAS_AWS_TIMEOUT_SECS", "30")
                // Simulators are made per test with fresh host keys, and their tasks give no
                // fingerprint: trust on first use (production's default is `pinned`). Tests
                // about the policy set their own.
                .env("CCAAS_HOST_KEY_POLICY", "tofu")
                // The search index in the test's own directory: a killed process cannot
                // remove its default one under the temp dir.
                .env("CCAAS_SEARCH_DIR", dir.path().join("search"))
                .envs(extra.iter().copied())
                .stdout(file.try_clone().expect("dup"))
                .stderr(file);
            cmd
        },
        &log,
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{base}/v1/tasks?limit=1"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "ccaas-local did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    App {
        base,
        log,
        child,
        http,
        _dir: dir,
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, headers and body text.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics with the text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
}

impl App {
    /// POST /v1/tasks with a JSON content type.
    pub async fn post(&self, body: impl Into<reqwest::Body>, key: Option<&str>) -> Reply {
        self.post_as("application/json", body, key).await
    }

    /// POST /v1/tasks with any content type.
    pub async fn post_as(
        &self,
        ct: &str,
        body: impl Into<reqwest::Body>,
        key: Option<&str>,
    ) -> Reply {
        let mut req = self
            .http
            .post(format!("{}/v1/tasks", self.base))
            .header("content-type", ct)
            .body(body);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        reply(req.send().await.expect("POST answered")).await
    }

    /// A request to a path under the base URL, for tests that set their own headers.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends a request built by [`App::request`].
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        reply(req.send().await.expect("request answered")).await
    }

    /// GET a path under the base URL.
    pub async fn get(&self, path: &str) -> Reply {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET answered");
        reply(r).await
    }

    /// One whole coverage session of `user` named `name` on the simulator: a start, then
    /// `traffic` poked into the simulated daemons (a tmm `route` must answer as tmm does), then
    /// an end; both must succeed. Returns the end task, whose `result.session` is the start.
    #[allow(dead_code)] // not every live test runs sessions
    pub async fn traffic_session(
        &self,
        sim: &sim::Sim,
        user: &str,
        name: &str,
        traffic: &[&str],
    ) -> Value {
        let r = self
            .post(sim.body_with(user, "code-coverage-start", "", ""), None)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let start = r.json()["id"].as_str().unwrap().to_string();
        let started = self.wait_terminal(&start, Duration::from_secs(120)).await;
        assert_eq!(started["status"], "succeeded", "{started}");
        let answer = sim.poke(traffic);
        if traffic.get(1) == Some(&"route") {
            let want = match traffic.last() {
                Some(&"10.0.0.1") => "internal",
                _ => "external via gateway",
            };
            assert_eq!(answer, want, "{traffic:?}");
        }
        let body = sim.body_with(
            user,
            "code-coverage-end",
            &format!(r#","session":"{start}""#),
            &format!(r#","name":"{name}""#),
        );
        let r = self.post(body, None).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let end = r.json()["id"].as_str().unwrap().to_string();
        let ended = self.wait_terminal(&end, Duration::from_secs(180)).await;
        assert_eq!(ended["status"], "succeeded", "{ended}");
        assert_eq!(ended["result"]["session"], start.as_str(), "{ended}");
        ended
    }

    /// Polls a task until it is succeeded or failed, and returns it. A terminal task without
    /// its result or error fails the wait at once (see [`is_terminal`]).
    pub async fn wait_terminal(&self, id: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.get(&format!("/v1/tasks/{id}")).await;
            if r.status == StatusCode::OK {
                let v = r.json();
                if is_terminal(&v) {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "task {id} not finished in {within:?}: {}\n--- the last lines ccaas-local logged:\n{}",
                r.text,
                self.log_tail(80)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running (it never exits on its own).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the process logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines the process logged, for a failing test's message.
    pub fn log_tail(&self, n: usize) -> String {
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Whether a task (its API view) is finished: `succeeded` or `failed`. The terminal status is
/// written in one conditional write together with its `result` (succeeded) or `error`
/// (failed), so a view with the status and without that field shows a write that is not
/// atomic: it panics at once, naming the task, rather than polling on until the field shows
/// up and hiding the gap.
pub fn is_terminal(v: &Value) -> bool {
    let (field, present) = match v["status"].as_str() {
        Some("succeeded") => ("result", v["result"].is_object()),
        Some("failed") => ("error", v["error"].is_object()),
        _ => return false,
    };
    assert!(
        present,
        "task {} is {} without its {field}: the terminal write is not atomic: {v}",
        v["id"], v["status"]
    );
    true
}

async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    Reply {
        status,
        headers,
        text,
    }
}

/// A valid start-task body for `user` on `host`.
pub fn start_body(user: &str, host: &str, password: &str) -> String {
    format!(
        r#"{{"name":"nightly","type":"code-coverage-start","user":"{user}","data":{{"device":{{"host":"{host}","port":22,"username":"root","password":"{password}"}},"modules":["tmm","mcpd"]}}}}"#
    )
}

/// A name unique to this test run.
pub fn unique(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{n:x}-{}", std::process::id())
}
