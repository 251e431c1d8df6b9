//! Test support, never a dependency of shipped code: the real AWS emulator that integration
//! tests run against (moto_server, started and provisioned by `localstack/up`), its clients,
//! and the waits and dumps the tests assert with; a throttling proxy in front of it
//! ([`Throttle`]); and the BIG-IP simulator ([`Sim`]).

// Test support panics on purpose: a failed setup (an emulator that does not start, a simulator
// that prints no JSON) must fail the test that asked for it, right there. It is a dev-dependency
// only, so no input of the shipped service ever reaches these unwraps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod sim;
pub mod throttle;
pub use sim::Sim;
pub use throttle::Throttle;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
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

/// A loopback port that was free a moment ago. Nothing holds it: another process may take it
/// before the caller binds it, so a child process started on it must be checked to listen
/// there itself (see [`spawn_ccaas_local`], [`Sim::up_with`]); prefer letting the child bind
/// port 0 and report its port where it can (as [`Emulator::private`] does with moto).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A loopback port that refuses connections for as long as the returned socket lives: the
/// socket is bound there and never listens, so no other process can take the port and every
/// connection to it is refused (for "nothing answers there" cases).
pub fn refused_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .expect("bind port 0");
    let port = socket.local_addr().expect("its address").port();
    (socket, port)
}

/// Polls `done` every 50 ms until it gives a value, and panics with `what` after `within`.
fn poll<T>(within: Duration, what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} (after {within:?})");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `ccaas-local` on a free loopback port and returns the process and its port once it
/// listens there. `command(port)` builds the process for that port: it sets `CCAAS_LISTEN` to
/// `127.0.0.1:<port>` (and whatever else, `CCAAS_API_URL` with the port) and sends stdout and
/// stderr to `log`, created afresh.
///
/// Why a retry on a new port, not a held port or port 0: ccaas-local cannot inherit a bound
/// socket, and its port must be known before it starts (its self links carry it), so it
/// cannot bind port 0 either. The port from [`free_port`] can be taken by another process
/// before ccaas-local binds it; then ccaas-local exits (`cannot listen on ...`), and it is
/// started again on another port. It counts as started only once it prints that it listens on
/// that port, which it does after its own bind succeeded, so an answer on the port from some
/// other process is never taken for it.
pub fn spawn_ccaas_local(mut command: impl FnMut(u16) -> Command, log: &Path) -> (Child, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut child = command(port).spawn().expect("ccaas-local starts");
        let ready = format!("ccaas-local listening on http://127.0.0.1:{port}");
        let started = poll(Duration::from_secs(60), "ccaas-local did not start", || {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains(&ready) {
                return Some(true);
            }
            match child.try_wait() {
                Ok(None) => None,
                _ if text.contains("cannot listen on") => Some(false),
                _ => panic!("ccaas-local exited before it listened: {text}"),
            }
        });
        if started {
            return (child, port);
        }
        eprintln!("port {port} was taken before ccaas-local bound it; trying another");
    }
    panic!("ccaas-local found no free port in 5 tries");
}

/// Starts moto_server (`serial`: the one-request-at-a-time `localstack/moto_serial.py`) on
/// `127.0.0.1:<port>` (0: a port the kernel picks, so none can be taken from under it),
/// logging to `log`, and returns it with the port it listens on: the one its own startup line
/// names, which it prints only after its bind succeeded. `None` when it exits first: the port
/// was taken.
fn start_moto(port: u16, log: &Path, serial: bool) -> Option<(Child, u16)> {
    let venv = std::env::var_os("CCAAS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    let bin = venv.join("bin/moto_server");
    if !bin.exists() {
        // localstack/up installs moto into the venv when it starts the shared emulator.
        Emulator::shared();
    }
    let out = std::fs::File::create(log).expect("moto log file");
    let mut cmd = if serial {
        let mut c = Command::new(venv.join("bin/python"));
        c.arg(repo().join("localstack/moto_serial.py"));
        c
    } else {
        Command::new(&bin)
    };
    let mut child = cmd
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", bin.display()));
    let bound = poll(Duration::from_secs(60), "moto_server did not start", || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // The whole number: the line may be read half written.
        let named = text
            .split(" * Running on http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| {
                rest.find(|c: char| !c.is_ascii_digit())
                    .map(|end| &rest[..end])
            })
            .and_then(|digits| digits.parse::<u16>().ok());
        match (named, child.try_wait()) {
            (Some(p), _) => Some(Some(p)),
            (None, Ok(None)) => None,
            (None, _) => Some(None),
        }
    });
    match bound {
        Some(p) => Some((child, p)),
        None => {
            let _ = child.wait();
            None
        }
    }
}

/// An emulator with the ccaas resources, and the environment that points at it.
pub struct Emulator {
    /// `KEY=VALUE` pairs printed by `localstack/up`.
    pub env: Vec<(String, String)>,
    /// Its port.
    pub port: u16,
    /// A private emulator's moto_server process.
    own: Option<Own>,
}

/// The moto_server process of a private emulator.
struct Own {
    child: Mutex<Child>,
    log: PathBuf,
    /// One request at a time (`localstack/moto_serial.py`).
    serial: bool,
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
            let env = localstack_up(Some(port));
            Emulator {
                env,
                port,
                own: None,
            }
        })
    }

    /// A private emulator on its own port, stopped when dropped: for tests that stop it,
    /// or that must see every item written.
    ///
    /// moto_server binds port 0 and names the port it got, so no other process can take the
    /// port between a choice and the bind (a port chosen here and handed over could be, and
    /// `localstack/up` would then provision whatever answers there as if it were ours).
    pub fn private() -> Emulator {
        Emulator::start_private(false)
    }

    /// A private emulator whose moto_server handles one request at a time, so its DynamoDB
    /// conditional writes are atomic as on AWS (threaded moto's are not:
    /// `localstack/moto_serial.py`). For tests of concurrent conditional writers.
    pub fn private_serial() -> Emulator {
        Emulator::start_private(true)
    }

    fn start_private(serial: bool) -> Emulator {
        static N: AtomicU32 = AtomicU32::new(0);
        let log = std::env::temp_dir().join(format!(
            "ccaas-moto-{}-{}.log",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let (child, port) = start_moto(0, &log, serial).unwrap_or_else(|| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("moto_server exited on port 0: {text}")
        });
        // It answers now, so `up` only creates the resources.
        let env = localstack_up(Some(port));
        Emulator {
            env,
            port,
            own: Some(Own {
                child: Mutex::new(child),
                log,
                serial,
            }),
        }
    }

    fn own(&self) -> &Own {
        self.own
            .as_ref()
            .expect("only a private emulator is stopped, signalled or restarted")
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
        self.own()
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .id()
    }

    /// Starts the emulator again on its port after it died, with fresh resources (moto keeps
    /// its state in memory only, so everything it held is gone). It must be the same port,
    /// since the processes under test point at it: if another process took the port while the
    /// emulator was down, the new moto_server exits, and this panics saying so rather than
    /// provisioning that other process.
    pub fn restart(&self) {
        let own = self.own();
        let log = &own.log;
        let mut child = own.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        let (again, port) = start_moto(self.port, log, own.serial).unwrap_or_else(|| {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!(
                "port {} was taken while the emulator was down: {text}",
                self.port
            )
        });
        assert_eq!(port, self.port, "moto_server restarted on another port");
        *child = again;
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

    /// The SDK configuration of this emulator (its endpoint, region and test credentials),
    /// as the binaries build theirs with `ccaas_aws::sdk_config`, with the same three attempts.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.var("AWS_ENDPOINT_URL"))
            .region(aws_config::Region::new(self.var("AWS_REGION")))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .load()
            .await
    }

    /// The mails SES sent on this emulator, as moto keeps them (`GET /moto-api/data.json`,
    /// its `ses` `Message` models: `id`, `source`, `subject`, `body` (the HTML part when
    /// there is one), `destinations`). Every mail sent since moto started, by any test.
    pub async fn ses_messages(&self) -> Vec<serde_json::Value> {
        let url = format!(
            "{}/moto-api/data.json",
            self.var("AWS_ENDPOINT_URL").trim_end_matches('/')
        );
        let data: serde_json::Value = reqwest::get(&url)
            .await
            .expect("moto answers")
            .json()
            .await
            .expect("moto's data.json is JSON");
        data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The mails SES sent on this emulator to `to`.
    pub async fn ses_messages_to(&self, to: &str) -> Vec<serde_json::Value> {
        self.ses_messages()
            .await
            .into_iter()
            .filter(|m| {
                m["destinations"]["ToAddresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == to))
            })
            .collect()
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
        if let Some(own) = &self.own {
            let mut child = own.child.lock().unwrap_or_else(|e| e.into_inner());
            // A test may leave it stopped (SIGSTOP): SIGKILL ends it all the same.
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&own.log);
        }
    }
}
