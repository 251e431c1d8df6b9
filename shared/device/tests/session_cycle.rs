//! Whole coverage sessions against the simulator: start, traffic, end, and what gcov makes of
//! the collected files.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use ccaas_app::memory::MemoryPins;
use ccaas_device::{BuildInfo, Device, DeviceProfile, Flush, ModuleStart, SessionFacts, SshDevice};
use common::{Sim, quick_timeouts};

fn device(sim: &Sim) -> SshDevice<Arc<MemoryPins>> {
    SshDevice::new(sim.password_target(), sim.profile(), Arc::default())
        .with_timeouts(quick_timeouts())
}

fn modules(names: &[&str]) -> Vec<ccaas_domain::ModuleName> {
    names
        .iter()
        .map(|s| ccaas_domain::ModuleName::parse(s).unwrap())
        .collect()
}

/// Unpacks the archive and runs `gcov --json-format` on every `.gcda`; returns
/// `function name -> execution count` for the whole archive.
fn gcov_functions(archive: &[u8], dir: &Path) -> HashMap<String, u64> {
    let gz = flate2::read::GzDecoder::new(archive);
    tar::Archive::new(gz).unpack(dir).unwrap();
    common::gcov_functions_in(dir)
}

#[tokio::test]
async fn a_session_collects_exactly_the_paths_poked_after_start() {
    let sim = Sim::up(&[]);
    let d = device(&sim);
    // Traffic before the session must not count.
    assert_eq!(sim.poke("tmm", "route 10.1.2.3"), "internal");
    assert_eq!(sim.poke("mcpd", "get color"), "ERR not found");

    let session = d
        .start(&modules(&["tmm", "mcpd"]), Flush::Signal)
        .await
        .unwrap();
    assert_eq!(session.build.build_id, "17.1.0-0.0.16-1234567");
    assert_eq!(session.modules.len(), 2);
    assert!(session.modules.iter().all(|m| m.pids.len() == 1));

    assert_eq!(sim.poke("tmm", "add 2 40"), "42");
    assert_eq!(sim.poke("mcpd", "set color blue"), "stored");

    let mut archive = Vec::new();
    let end = d.end(&session, Flush::Signal, &mut archive).await.unwrap();
    assert!(end.warnings.is_empty(), "{:?}", end.warnings);
    assert!(
        end.modules
            .iter()
            .all(|m| !m.restarted && !m.stopped && m.gcda_files == 2)
    );
    assert_eq!(end.archive.bytes, archive.len() as u64);
    assert_eq!(end.archive.gcda_files, 4);

    let tmp = tempfile::tempdir().unwrap();
    let f = gcov_functions(&archive, tmp.path());
    assert!(f["cmd_add"] >= 1, "{f:?}");
    assert!(f["cmd_set"] >= 1, "{f:?}");
    assert_eq!(f["cmd_route"], 0, "poked before start, so reset: {f:?}");
    assert_eq!(f["cmd_get"], 0, "poked before start, so reset: {f:?}");
    // The .gcno travelled beside the .gcda.
    assert!(tmp.path().join("tmm").exists() && tmp.path().join("mcpd").exists());

    let log = d.take_log();
    assert!(log.iter().any(|r| r.command.starts_with("kill -USR2 -- ")));
    assert!(log.iter().any(|r| r.command.starts_with("kill -USR1 -- ")));
    let tar = log
        .iter()
        .find(|r| r.command.starts_with("tar -czf - -C "))
        .unwrap();
    // The archive is gzip on stdout: the log records its size, not its bytes.
    assert_eq!(
        tar.stdout_tail,
        format!("<binary output, {} bytes>", archive.len())
    );
    let json = serde_json::to_string(&log).unwrap();
    assert!(
        !json.contains(&sim.password),
        "the command log holds the password"
    );
}

#[tokio::test]
async fn a_daemon_restarted_mid_session_is_flagged_and_its_new_counts_are_collected() {
    let sim = Sim::up(&[]);
    let d = device(&sim);
    let session = d
        .start(&modules(&["tmm", "mcpd"]), Flush::Signal)
        .await
        .unwrap();
    sim.bigstart(&["restart", "mcpd"]);
    assert_eq!(sim.poke("mcpd", "get nothing"), "ERR not found");
    let mut archive = Vec::new();
    let end = d.end(&session, Flush::Signal, &mut archive).await.unwrap();
    let mcpd = end.modules.iter().find(|m| m.module == "mcpd").unwrap();
    let tmm = end.modules.iter().find(|m| m.module == "tmm").unwrap();
    assert!(mcpd.restarted && !tmm.restarted);
    assert!(
        end.warnings
            .iter()
            .any(|w| w.code == "restarted" && w.module.as_deref() == Some("mcpd"))
    );
    let tmp = tempfile::tempdir().unwrap();
    assert!(gcov_functions(&archive, tmp.path())["cmd_get"] >= 1);
}

#[tokio::test]
async fn flush_by_restart_collects_the_counts_written_at_exit_without_a_restart_warning() {
    let sim = Sim::up(&[]);
    let d = device(&sim);
    let session = d.start(&modules(&["tmm"]), Flush::Signal).await.unwrap();
    assert_eq!(sim.poke("tmm", "route 8.8.8.8"), "external via gateway");
    let mut archive = Vec::new();
    let end = d.end(&session, Flush::Restart, &mut archive).await.unwrap();
    assert!(end.warnings.is_empty(), "{:?}", end.warnings);
    let tmp = tempfile::tempdir().unwrap();
    let f = gcov_functions(&archive, tmp.path());
    assert!(f["cmd_route"] >= 1 && f["cmd_add"] == 0, "{f:?}");
    assert!(
        d.take_log()
            .iter()
            .any(|r| r.command == "bigstart restart tmm")
    );
}

#[tokio::test]
async fn a_module_the_device_does_not_run_is_unknown_and_nothing_is_reset() {
    let sim = Sim::up(&[]);
    let d = device(&sim);
    let e = d
        .start(&modules(&["tmm", "bd"]), Flush::Signal)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_module");
    assert!(!e.is_retryable());
    assert!(!d.take_log().iter().any(|r| r.command.starts_with("kill")));
}

#[tokio::test]
async fn a_device_without_coverage_data_gives_no_data() {
    let sim = Sim::up(&[]);
    let mut profile = sim.profile();
    // A prefix where nothing is ever written.
    profile.gcov_dir_template = format!("{}/empty/{{module}}", sim.root);
    let d = SshDevice::new(sim.password_target(), profile, Arc::new(MemoryPins::new()))
        .with_timeouts(quick_timeouts());
    let s = d.start(&modules(&["tmm"]), Flush::Signal).await.unwrap();
    let e = d.end(&s, Flush::Signal, &mut Vec::new()).await.unwrap_err();
    assert_eq!(e.code(), "no_data");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn ten_thousand_hostile_module_names_are_refused_by_the_type_and_by_the_driver_before_anything_is_sent()
 {
    use rand::{Rng, SeedableRng};
    let sim = Sim::up(&[]);
    let canary = format!("{}/home/canary", sim.root);
    let d = device(&sim);
    let payloads = [
        format!("tmm;touch {canary}"),
        format!("tmm && touch {canary}"),
        format!("$(touch {canary})"),
        format!("`touch {canary}`"),
        format!("tmm\ntouch {canary}"),
        format!("tmm|touch {canary}"),
        format!("tmm'; touch {canary}; '"),
        format!("tmm\"; touch {canary}; \""),
        format!("../../{canary}"),
        "-rf".into(),
        "TMM".into(),
        "tmm ".into(),
        String::new(),
        "a".repeat(33),
        "tmm\0".into(),
        "tmm\u{202e}".into(),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let alphabet: Vec<char> = "abc;|&$`'\"\\ \n\t()<>*?[]{}!#~/.-_=+%^@ĀЖ😀\0"
        .chars()
        .collect();
    let mut names: Vec<String> = payloads.to_vec();
    while names.len() < 10_000 {
        let len = rng.random_range(1..48);
        let mut s: String = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
            .collect();
        if ccaas_domain::ModuleName::parse(&s).is_ok() {
            s.push(';');
        }
        names.push(s);
    }
    // `start` takes `ModuleName`s, so none of these can reach it: the type refuses them.
    // Module names still reach the driver as strings in the session facts an end reads
    // back from storage; there the driver refuses them before it connects.
    let facts = |names: &[&str]| SessionFacts {
        build: BuildInfo {
            product: "BIG-IP".into(),
            version: "17.1.0".into(),
            build: "0.0.16".into(),
            edition: None,
            job_id: None,
            build_id: "17.1.0-0.0.16".into(),
        },
        started_at: "2026-12-05T00:00:00.000Z".into(),
        modules: names
            .iter()
            .map(|n| ModuleStart {
                module: n.to_string(),
                pids: Vec::new(),
            })
            .collect(),
        cores: Vec::new(),
    };
    for n in &names {
        assert!(ccaas_domain::ModuleName::parse(n).is_err(), "{n:?}");
        let e = d
            .end(&facts(&[n]), Flush::Signal, &mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_module", "{n:?}");
        // Also hidden among valid names.
        let e = d
            .end(&facts(&["tmm", n]), Flush::Signal, &mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_module", "{n:?}");
    }
    assert!(d.take_log().is_empty(), "a command was sent");
    assert!(!Path::new(&canary).exists());
    // The device was never even logged into.
    assert!(!sim.sshd_log().contains("Accepted"));
}

#[tokio::test]
async fn a_symlink_planted_in_the_coverage_dir_fails_the_collect_as_a_bad_archive() {
    let sim = Sim::up(&[]);
    let d = device(&sim);
    let s = d.start(&modules(&["tmm"]), Flush::Signal).await.unwrap();
    let link = format!("{}/evil.gcda", sim.gcov_dir("tmm"));
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let e = d.end(&s, Flush::Signal, &mut Vec::new()).await.unwrap_err();
    assert_eq!(e.code(), "bad_archive", "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn the_builtin_bigip_profile_names_the_real_paths() {
    let p = DeviceProfile::bigip();
    assert_eq!(p.gcov_dir("tmm"), "/shared/gcov/tmm");
    assert_eq!(p.version_file, "/VERSION");
}
