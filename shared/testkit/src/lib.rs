//! Test support, never a dependency of shipped code: the real AWS emulator that integration
//! tests run against (moto_server, started and provisioned by `localstack/up`), its clients,
//! and the waits and dumps the tests assert with; a throttling proxy in front of it
//! ([`Throttle`]); and the BIG-IP simulator ([`Sim`]).

pub mod sim;
pub mod throttle;
pub use sim::Sim;
pub use throttle::Throttle;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `localstack/up` (idempotent: it starts moto_server only when none answers, then
/// creates the ccaas resources that are missing) against `127.0.0.1:<port>`, or against the
/// caller's `AWS_ENDPOINT_URL` (default 4566) without a port, and returns the `KEY=VALUE`
/// pairs it prints for ccaas to use. Panics (it is test support) when the script fails.
pub fn localstack_up(port: Option<u16>) -> Vec<(String, String)> {
    localstack_up_with(port, &[])
}

/// [`localstack_up`] with extra environment for the script (such as `CCAAS_MOTO_SERIAL=1`).
pub fn localstack_up_with(port: Option<u16>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    // One at a time in a process: tests run in parallel, and two `up` runs that both find
    // no emulator would both start one on the same port.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new(repo().join("localstack/up"));
    cmd.envs(extra.iter().copied());
    if let Some(port) = port {
        cmd.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("localstack/up runs");
    assert!(out.status.success(), "localstack/up failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

/// A finished command's stdout then stderr, as text (for assertions and their messages).
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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

    /// A private emulator whose moto_server handles one request at a time, so its DynamoDB
    /// conditional writes are atomic as on AWS (threaded moto's are not:
    /// `localstack/moto_serial.py`). For tests of concurrent conditional writers.
    pub fn private_serial() -> Emulator {
        let port = free_port();
        let env = localstack_up_with(Some(port), &[("CCAAS_MOTO_SERIAL", "1")]);
        Emulator {
            env,
            port,
            own: true,
        }
    }

    fn up(port: u16, own: bool) -> Emulator {
        let env = localstack_up(Some(port));
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
        localstack_up(Some(self.port));
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
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
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
    pub fn s3(&self) -> aws_sdk_s3::Client {
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
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
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

    /// A KMS client on this emulator.
    pub fn kms(&self) -> aws_sdk_kms::Client {
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .endpoint_url(self.var("AWS_ENDPOINT_URL"))
            .region(aws_sdk_kms::config::Region::new(self.var("AWS_REGION")))
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    /// Waits until the queue holds no message, visible or in flight (every delivery settled).
    pub async fn wait_drained(&self, queue_url: &str, within: Duration) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let sqs = self.sqs();
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
