//! The test harness: a real emulator (moto_server through `localstack/up`) and a real
//! `ccaas-local` process per test, talked to over HTTP.
#![allow(dead_code)]

pub mod sim;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// An emulator with the ccaas resources, and the environment that points at it.
pub struct Emulator {
    /// `KEY=VALUE` pairs printed by `localstack/up`.
    pub env: Vec<(String, String)>,
    /// Its port.
    pub port: u16,
    own: bool,
}

impl Emulator {
    /// The emulator every test shares (the one `scripts/test-all` started, or started now).
    pub fn shared() -> &'static Emulator {
        static SHARED: OnceLock<Emulator> = OnceLock::new();
        SHARED.get_or_init(|| {
            let port = std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .and_then(|u| {
                    u.rsplit(':')
                        .next()
                        .and_then(|p| p.trim_end_matches('/').parse().ok())
                })
                .unwrap_or(4566);
            Emulator::up(port, false)
        })
    }

    /// A private emulator on its own port, stopped when dropped: for tests that stop it,
    /// or that must see every item written.
    pub fn private() -> Emulator {
        Emulator::up(free_port(), true)
    }

    fn up(port: u16, own: bool) -> Emulator {
        let out = Command::new(repo().join("localstack/up"))
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .stderr(Stdio::inherit())
            .output()
            .expect("localstack/up runs");
        assert!(out.status.success(), "localstack/up failed");
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        Emulator { env, port, own }
    }

    /// One variable of its environment.
    pub fn var(&self, k: &str) -> String {
        self.env
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} not in the emulator env"))
    }

    /// The moto_server process id (private emulators only).
    pub fn pid(&self) -> u32 {
        let p = repo().join(format!("localstack/.state/moto-{}.pid", self.port));
        std::fs::read_to_string(p)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }

    /// Starts the emulator again on its port after it died, with fresh resources (moto keeps
    /// its state in memory only, so everything it held is gone).
    pub fn restart(&self) {
        let out = Command::new(repo().join("localstack/up"))
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            )
            .stderr(Stdio::inherit())
            .output()
            .expect("localstack/up runs");
        assert!(out.status.success(), "localstack/up failed on restart");
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the emulator process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// A DynamoDB client on this emulator.
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .endpoint_url(self.var("AWS_ENDPOINT_URL"))
            .region(aws_sdk_dynamodb::config::Region::new(
                self.var("AWS_REGION"),
            ))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// An S3 client on this emulator (path-style, as emulators need).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(self.var("AWS_ENDPOINT_URL"))
            .region(aws_sdk_s3::config::Region::new(self.var("AWS_REGION")))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An SQS client on this emulator.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .endpoint_url(self.var("AWS_ENDPOINT_URL"))
            .region(aws_sdk_sqs::config::Region::new(self.var("AWS_REGION")))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }

    /// Waits until the queue holds no message, visible or in flight (every delivery settled).
    pub async fn wait_drained(&self, queue_url: &str, within: Duration) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let sqs = self.sqs().await;
        let deadline = Instant::now() + within;
        loop {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(queue_url)
                .attribute_names(A::All)
                .send()
                .await
                .expect("queue attributes");
            let n = |k: A| {
                attrs
                    .attributes()
                    .and_then(|m| m.get(&k).cloned())
                    .unwrap_or_default()
            };
            if n(A::ApproximateNumberOfMessages) == "0"
                && n(A::ApproximateNumberOfMessagesNotVisible) == "0"
            {
                return;
            }
            assert!(Instant::now() < deadline, "{queue_url} did not drain");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Every item of a table, as debug text (for "appears nowhere" checks).
    pub async fn dump_table(&self, table: &str) -> Vec<String> {
        let out = self
            .dynamodb()
            .await
            .scan()
            .table_name(table)
            .send()
            .await
            .expect("scan");
        out.items().iter().map(|i| format!("{i:?}")).collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if self.own {
            let _ = Command::new(repo().join("localstack/down"))
                .env(
                    "AWS_ENDPOINT_URL",
                    format!("http://127.0.0.1:{}", self.port),
                )
                .status();
        }
    }
}

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
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("ccaas-local.log");
    let file = std::fs::File::create(&log).expect("log file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccaas-local"));
    cmd.envs(emu.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("CCAAS_LISTEN", format!("127.0.0.1:{port}"))
        .env("CCAAS_API_URL", &base)
        .env("CCAAS_RETRY_DELAY_SECS", "1")
        // Most tests use made-up device hosts, which fail as `unreachable` (retryable): one
        // delivery makes that final, so hundreds of such tasks do not flood the shared
        // emulator with redeliveries. Tests about retries set their own value.
        .env("CCAAS_MAX_RECEIVES", "1")
        // Every test's ccaas-local polls the shared emulator; on a loaded machine one call can
        // take longer than the production default. Outage tests set their own, shorter limit.
        .env("CCAAS_AWS_TIMEOUT_SECS", "30")
        .envs(extra.iter().copied())
        .stdout(file.try_clone().expect("dup"))
        .stderr(file);
    let child = cmd.spawn().expect("ccaas-local starts");
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

    /// Polls a task until it is succeeded or failed, and returns it.
    pub async fn wait_terminal(&self, id: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.get(&format!("/v1/tasks/{id}")).await;
            if r.status == StatusCode::OK {
                let v = r.json();
                // moto applies an UpdateItem's changes one by one, so a read can see the new
                // status before the result or error written with it: wait for both.
                if (v["status"] == "succeeded" && v["result"].is_object())
                    || (v["status"] == "failed" && v["error"].is_object())
                {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "task {id} not finished in {within:?}: {}",
                r.text
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
