//! Do no harm: a daemon that does not catch the flush signal is never signalled (the task
//! fails `not_instrumented` and every daemon keeps running with its counters), and
//! `Flush::Gdb` resets and dumps such a daemon through gdb, or is refused where gdb is absent.
//! Against the simulator with a `--plain-module` daemon (built with --coverage, no handlers).

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccaas_app::memory::MemoryPins;
use ccaas_device::{Device, DeviceError, Flush, SshDevice};
use common::{Sim, quick_timeouts};

fn device(sim: &Sim) -> SshDevice<Arc<MemoryPins>> {
    SshDevice::new(sim.password_target(), sim.profile(), Arc::default())
        .with_timeouts(quick_timeouts())
}

fn modules(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// `function name -> execution count` from `gcov --json-format` over every `.gcda` under `dir`.
fn gcov_functions_in(dir: &Path) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "gcda") {
                let o = Command::new("gcov")
                    .args(["--json-format", "--stdout"])
                    .arg(p.file_name().unwrap())
                    .current_dir(p.parent().unwrap())
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                for line in String::from_utf8_lossy(&o.stdout).lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    for f in v["files"].as_array().unwrap() {
                        for func in f["functions"].as_array().unwrap() {
                            let name = func["name"].as_str().unwrap().to_string();
                            let n = func["execution_count"].as_u64().unwrap();
                            *out.entry(name).or_insert(0) += n;
                        }
                    }
                }
            }
        }
    }
    out
}

/// The `.gcda` files under `dir` with their sizes.
fn gcda_listing(dir: &str) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "gcda") {
                let len = p.metadata().map(|m| m.len()).unwrap_or(0);
                v.push((p.display().to_string(), len));
            }
        }
    }
    v.sort();
    v
}

/// Waits (10 s at most) until `dir` holds `n` non-empty `.gcda` files, unchanged over two looks.
fn wait_for_gcda(dir: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut prev = Vec::new();
    loop {
        let now = gcda_listing(dir);
        if now.len() == n && now.iter().all(|(_, len)| *len > 0) && now == prev {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no stable .gcda in {dir}: {now:?}"
        );
        prev = now;
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_start_naming_a_daemon_without_handlers_fails_not_instrumented_and_signals_nothing() {
    let sim = Sim::up(&["--plain-module", "bigd"]);
    let (tmm, bigd) = (sim.pid("tmm"), sim.pid("bigd"));
    let d = device(&sim);
    // Traffic before the start: a reset (SIGUSR2) would zero it.
    assert_eq!(sim.poke("tmm", "route 10.1.2.3"), "internal");
    assert_eq!(sim.poke("bigd", "echo hello"), "hello");

    let e = d
        .start(&modules(&["tmm", "bigd"]), Flush::Signal)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_instrumented");
    assert!(!e.is_retryable());
    match &e {
        DeviceError::NotInstrumented { module, pid, .. } => {
            assert_eq!((module.as_str(), *pid), ("bigd", bigd));
        }
        other => panic!("{other:?}"),
    }
    let message = e.to_string();
    assert!(
        message.contains("bigd") && message.contains(&format!("pid {bigd}")),
        "{message}"
    );
    let log = d.take_log();
    let commands: Vec<&str> = log.iter().map(|r| r.command.as_str()).collect();
    assert!(
        commands.iter().any(|c| c.contains("SigCgt")),
        "{commands:?}"
    );
    assert!(
        !commands
            .iter()
            .any(|c| c.starts_with("kill") || c.contains("-delete") || c.contains("gdb")),
        "something was signalled or deleted: {commands:?}"
    );

    // The plain daemon lives and serves; SIGUSR2 would have killed it.
    assert!(alive(bigd));
    assert_eq!(sim.poke("bigd", "count"), "1");
    // tmm got no reset: its own dump (our SIGUSR1, sent here) still counts the route.
    let st = Command::new("kill")
        .args(["-USR1", &tmm.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    wait_for_gcda(&sim.gcov_dir("tmm"), 2);
    let f = gcov_functions_in(Path::new(&sim.gcov_dir("tmm")));
    assert_eq!(f["cmd_route"], 1, "tmm's counters were reset: {f:?}");
    assert!(alive(tmm));
}

#[tokio::test]
async fn flush_by_gdb_resets_and_dumps_a_daemon_without_handlers_with_the_exact_counts() {
    let sim = Sim::up(&["--plain-module", "bigd"]);
    let bigd = sim.pid("bigd");
    let d = device(&sim);
    // Before the session: reset by the start, so not counted.
    for _ in 0..2 {
        assert_eq!(sim.poke("bigd", "echo before"), "before");
    }
    let session = d.start(&modules(&["bigd"]), Flush::Gdb).await.unwrap();
    assert_eq!(session.modules[0].pids[0].pid, bigd);
    for i in 0..3 {
        assert_eq!(sim.poke("bigd", &format!("echo {i}")), i.to_string());
    }
    assert_eq!(sim.poke("bigd", "count"), "5");

    // The same session ended by signal is refused before anything is sent.
    let e = d
        .end(&session, Flush::Signal, &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_instrumented");
    assert!(alive(bigd));

    let mut archive = Vec::new();
    let end = d.end(&session, Flush::Gdb, &mut archive).await.unwrap();
    assert!(end.warnings.is_empty(), "{:?}", end.warnings);
    assert_eq!(end.modules[0].gcda_files, 2);
    assert!(!end.modules[0].restarted);
    assert!(alive(bigd), "gdb must leave the daemon running");
    assert_eq!(sim.poke("bigd", "ping"), "pong");

    let tmp = tempfile::tempdir().unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(&archive[..]))
        .unpack(tmp.path())
        .unwrap();
    let f = gcov_functions_in(tmp.path());
    // 3 echoes and one count since the reset; the 2 echoes before it are gone.
    assert_eq!(f["cmd_echo"], 3, "{f:?}");
    assert_eq!(f["handle"], 4, "{f:?}");

    let log = d.take_log();
    let gdb_calls: Vec<&str> = log
        .iter()
        .map(|r| r.command.as_str())
        .filter(|c| c.contains(&format!("attach {bigd}")))
        .collect();
    assert_eq!(gdb_calls.len(), 2, "{gdb_calls:?}");
    assert!(gdb_calls[0].contains("__gcov_reset") && gdb_calls[1].contains("__gcov_dump"));
    assert!(!log.iter().any(|r| r.command.starts_with("kill")));
}

#[tokio::test]
async fn flush_by_gdb_on_a_device_without_gdb_is_refused_before_any_process_is_touched() {
    let sim = Sim::up(&["--plain-module", "bigd", "--no-gdb"]);
    let bigd = sim.pid("bigd");
    let d = device(&sim);
    assert_eq!(sim.poke("bigd", "echo x"), "x");
    let e = d
        .start(&modules(&["tmm", "bigd"]), Flush::Gdb)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "gdb_missing");
    assert!(!e.is_retryable());
    let log = d.take_log();
    assert!(
        !log.iter().any(|r| r.command.starts_with("kill")
            || r.command.contains("-delete")
            || r.command.starts_with("gdb")),
        "{log:?}"
    );
    assert!(alive(bigd));
    assert_eq!(sim.poke("bigd", "count"), "1");
}

#[tokio::test]
async fn flush_by_gdb_refuses_a_daemon_built_without_coverage_naming_it() {
    let sim = Sim::up(&["--plain-module", "bigd"]);
    let d = device(&sim);
    // A daemon that is not a --coverage build: the login user's own `sleep` stands in.
    let id = Command::new("id")
        .args(["-u", &sim.username])
        .output()
        .unwrap();
    let uid: u32 = String::from_utf8_lossy(&id.stdout).trim().parse().unwrap();
    let sleeper = Command::new("sleep").arg("600").uid(uid).spawn().unwrap();
    let mut sleeper = KillOnDrop(sleeper);
    let e = d
        .start(&modules(&["bigd", "sleep"]), Flush::Gdb)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_instrumented", "{e}");
    assert!(e.to_string().contains("sleep"), "{e}");
    assert!(
        !d.take_log().iter().any(|r| r.command.contains("attach")),
        "a process was attached"
    );
    assert!(alive(sim.pid("bigd")));
    assert!(sleeper.0.try_wait().unwrap().is_none(), "sleep was touched");
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
