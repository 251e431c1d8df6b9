//! `ccaas task` against the live local stack: the real emulator and a real `ccaas-local`
//! (built by `cargo build --workspace --bins`, which `scripts/test-all` runs first).

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use ccaas_testkit::text;

/// A running `ccaas-local`, and the directory of its log.
struct Local {
    child: Child,
    _log_dir: tempfile::TempDir,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ccaas-local` on a free port against the shared emulator; returns its URL.
fn spawn_local() -> (Local, String) {
    spawn_local_with(&[])
}

/// [`spawn_local`] with extra environment.
fn spawn_local_with(extra: &[(&str, &str)]) -> (Local, String) {
    spawn_local_on(ccaas_testkit::localstack_up(None), extra)
}

/// [`spawn_local_with`] on the emulator whose environment is `env`.
fn spawn_local_on(env: Vec<(String, String)>, extra: &[(&str, &str)]) -> (Local, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_ccaas")).with_file_name("ccaas-local");
    assert!(
        bin.exists(),
        "{} is missing: run cargo build --workspace --bins",
        bin.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("ccaas-local.log");
    let (child, port) = ccaas_testkit::spawn_ccaas_local(
        |port| {
            let file = std::fs::File::create(&log).expect("log file");
            let mut cmd = Command::new(&bin);
            cmd.envs(env.iter().cloned())
                .env("CCAAS_LISTEN", format!("127.0.0.1:{port}"))
                .env("CCAAS_RETRY_DELAY_SECS", "1")
                // The first transient failure is final and the lease short: a message left in
                // flight by a test process that was killed must not hold its FIFO group long.
                .env("CCAAS_RETRY_WINDOW_SECS", "0")
                .env("CCAAS_LEASE_SECS", "10")
                .envs(extra.iter().copied())
                .stdout(file.try_clone().expect("dup"))
                .stderr(file);
            cmd
        },
        &log,
    );
    let local = Local {
        child,
        _log_dir: dir,
    };
    (local, format!("http://127.0.0.1:{port}"))
}

fn ccaas(api: &str, args: &[&str]) -> Output {
    ccaas_with(api, args, &[])
}

/// [`ccaas`] with extra environment.
fn ccaas_with(api: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccaas"))
        .arg("task")
        .args(args)
        .env("CCAAS_API", api)
        .env_remove("CCAAS_DEVICE_PASSWORD")
        .env_remove("CCAAS_WEBHOOK")
        .envs(env.iter().copied())
        .output()
        .expect("ccaas runs")
}

#[test]
fn the_cli_starts_waits_gets_lists_and_logs_a_task_with_the_secret_from_a_file() {
    let (_local, api) = spawn_local();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "cli-canary-secret\n").unwrap();
    let owner = format!("cli-{}", std::process::id());
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();

    // The webhook (from the environment, as a URL with a token would be) points at a closed
    // loopback port, which ccaas-local refuses to POST to (no CCAAS_WEBHOOK_ALLOW_LOOPBACK):
    // the notification ends `gave_up`.
    let hook = format!("http://127.0.0.1:{closed_port}/hook/cli-webhook-token");
    let start = ccaas_with(
        &api,
        &[
            "--json",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            &closed_port,
            "--password-file",
            pw.to_str().unwrap(),
            "--modules",
            "tmm,mcpd",
            "--owner",
            &owner,
            "--email",
            &format!("{owner}@example.com"),
        ],
        &[("CCAAS_WEBHOOK", &hook)],
    );
    assert!(start.status.success(), "{}", text(&start));
    let accepted: serde_json::Value = serde_json::from_slice(&start.stdout).expect("JSON");
    let id = accepted["id"].as_str().unwrap().to_string();

    // No device answers: the task must end failed, and wait says so (exit 1).
    let wait = ccaas(&api, &["wait", &id, "--timeout", "120"]);
    assert_eq!(wait.status.code(), Some(1), "{}", text(&wait));
    assert!(text(&wait).contains("error:"), "{}", text(&wait));

    // The notification is recorded just after the terminal status.
    let deadline = Instant::now() + Duration::from_secs(60);
    let get = loop {
        let get = ccaas(&api, &["get", &id]);
        assert!(get.status.success(), "{}", text(&get));
        if !text(&get).contains(": pending") || Instant::now() > deadline {
            break get;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        text(&get).contains(&id) && text(&get).contains("failed"),
        "{}",
        text(&get)
    );
    assert!(text(&get).contains("webhook: gave_up"), "{}", text(&get));
    // The mail went out through the emulator's SES (localstack/up verified the sender).
    assert!(text(&get).contains("email: sent"), "{}", text(&get));

    let list = ccaas(&api, &["list", "--user", &owner, "--all"]);
    assert!(list.status.success());
    assert_eq!(
        text(&list).lines().filter(|l| l.contains(&id)).count(),
        1,
        "{}",
        text(&list)
    );

    let log = ccaas(&api, &["log", &id]);
    assert!(log.status.success(), "{}", text(&log));

    for o in [&start, &wait, &get, &list, &log] {
        assert!(
            !text(o).contains("cli-canary-secret"),
            "the CLI printed the secret"
        );
        assert!(
            !text(o).contains("cli-webhook-token"),
            "the CLI printed the webhook URL"
        );
    }
}

#[test]
fn the_cli_names_the_bad_field_and_refuses_to_run_without_a_secret() {
    let (_local, api) = spawn_local();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "x").unwrap();
    let bad = ccaas(
        &api,
        &[
            "start",
            "--host",
            "h",
            "--password-file",
            pw.to_str().unwrap(),
            "--modules",
            "tmm;touch /tmp/x",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("data.modules[0]"), "{}", text(&bad));

    let no_secret = ccaas(&api, &["start", "--host", "h", "--modules", "tmm"]);
    assert_eq!(no_secret.status.code(), Some(2));
    assert!(
        text(&no_secret).contains("--password-file"),
        "{}",
        text(&no_secret)
    );

    let missing = ccaas(&api, &["get", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("404"), "{}", text(&missing));
}

/// An HS256 token for `carol`, issuer `https://issuer.ccaas.test`, audience `ccaas`, expiring
/// in 2100, signed with the `oct` key of [`JWKS`].
const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImNsaS0xIn0.\
    eyJzdWIiOiJjYXJvbCIsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmNjYWFzLnRlc3QiLCJhdWQiOiJjY2FhcyIsImV4cCI6NDEwMjQ0NDgwMH0.\
    evNtit63CRjEXec-mKrXWqtzXEz7km7DErYh6HzSXns";
const JWKS: &str = r#"{"keys":[{"kty":"oct","kid":"cli-1","alg":"HS256",
    "k":"YSBsb2NhbCBzZWNyZXQgb2YgYXQgbGVhc3QgdGhpcnR5LXR3byBieXRlcw"}]}"#;

#[test]
fn the_cli_sends_the_bearer_token_from_a_file_or_the_environment_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, JWKS).unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let (_local, api) = spawn_local_with(&[
        ("CCAAS_LOCAL_WORKER", "off"),
        ("CCAAS_AUTH", "jwt"),
        ("CCAAS_AUTH_JWKS_FILE", jwks.to_str().unwrap()),
        ("CCAAS_AUTH_ISSUER", "https://issuer.ccaas.test"),
        ("CCAAS_AUTH_AUDIENCE", "ccaas"),
    ]);
    let list = ["list", "--limit", "1"];

    let none = ccaas(&api, &list);
    assert_ne!(none.status.code(), Some(0));
    assert!(text(&none).contains("HTTP 401"), "{}", text(&none));

    let from_file = Command::new(env!("CARGO_BIN_EXE_ccaas"))
        .args(["task", "--token-file", token_file.to_str().unwrap()])
        .args(list)
        .env("CCAAS_API", &api)
        .env_remove("CCAAS_TOKEN")
        .output()
        .unwrap();
    assert_eq!(from_file.status.code(), Some(0), "{}", text(&from_file));

    let from_env = Command::new(env!("CARGO_BIN_EXE_ccaas"))
        .arg("task")
        .args(list)
        .arg("--json")
        .env("CCAAS_API", &api)
        .env("CCAAS_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(from_env.status.code(), Some(0), "{}", text(&from_env));

    let signature = TOKEN.rsplit('.').next().unwrap();
    for o in [&none, &from_file, &from_env] {
        assert!(!text(o).contains(signature), "the token was printed");
    }

    let missing = Command::new(env!("CARGO_BIN_EXE_ccaas"))
        .args(["task", "--token-file", "/nonexistent/token"])
        .args(list)
        .env("CCAAS_API", &api)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("/nonexistent/token"),
        "{}",
        text(&missing)
    );
}

#[test]
fn the_cli_cancels_a_pending_task_and_lists_no_open_session() {
    // A private emulator and no worker: nothing else can take the task before the cancel.
    let emu = ccaas_testkit::Emulator::private();
    let (_local, api) = spawn_local_on(emu.env.clone(), &[("CCAAS_LOCAL_WORKER", "off")]);
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "cli-canary-secret\n").unwrap();
    let start = ccaas(
        &api,
        &[
            "--json",
            "start",
            "--host",
            "127.0.0.1",
            "--password-file",
            pw.to_str().unwrap(),
            "--modules",
            "tmm",
            "--owner",
            "cli-cancel",
        ],
    );
    assert!(start.status.success(), "{}", text(&start));
    let accepted: serde_json::Value = serde_json::from_slice(&start.stdout).expect("JSON");
    let id = accepted["id"].as_str().unwrap().to_string();

    for _ in 0..2 {
        // Cancelling again changes nothing and says the same.
        let cancel = ccaas(&api, &["cancel", &id]);
        assert!(cancel.status.success(), "{}", text(&cancel));
        assert!(text(&cancel).contains("failed"), "{}", text(&cancel));
        assert!(
            text(&cancel).contains("error: cancelled"),
            "{}",
            text(&cancel)
        );
    }
    let unknown = ccaas(&api, &["cancel", "01JD0000000000000000000009"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("not_found"), "{}", text(&unknown));

    let devices = ccaas(&api, &["--json", "devices"]);
    assert!(devices.status.success(), "{}", text(&devices));
    let page: serde_json::Value = serde_json::from_slice(&devices.stdout).expect("JSON");
    assert_eq!(page["count"], 0, "{page}");
    assert!(!text(&start).contains("cli-canary-secret"));
}
