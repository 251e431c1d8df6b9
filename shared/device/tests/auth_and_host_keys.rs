//! Authentication and host-key checks against the real OpenSSH simulator.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use ccaas_app::memory::MemoryPins;
use ccaas_app::ports::HostKeyPins;
use ccaas_device::{Credentials, Device, DeviceError, DeviceTarget, HostKeyPolicy, SshDevice};
use common::{Sim, quick_timeouts};

fn device(sim: &Sim, target: DeviceTarget, pins: Arc<MemoryPins>) -> SshDevice<Arc<MemoryPins>> {
    SshDevice::new(target, sim.profile(), pins).with_timeouts(quick_timeouts())
}

#[tokio::test]
async fn keyboard_interactive_with_the_password_logs_in_and_reads_the_build() {
    let sim = Sim::up(&[]);
    let d = device(&sim, sim.password_target(), Arc::default());
    let build = d.identify().await.unwrap();
    assert_eq!(build.product, "BIG-IP");
    assert_eq!(build.build_id, "17.1.0-0.0.16-1234567");
    assert!(
        sim.sshd_logged("Accepted keyboard-interactive/pam"),
        "{}",
        sim.sshd_log()
    );
    let log = d.take_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].exit, Some(0));
    assert!(log[0].command.starts_with("cat -- '"));
}

#[tokio::test]
async fn a_private_key_logs_in_with_publickey() {
    let sim = Sim::up(&[]);
    let d = device(&sim, sim.key_target(), Arc::default());
    d.check().await.unwrap();
    assert!(sim.sshd_logged("Accepted publickey"), "{}", sim.sshd_log());
}

#[tokio::test]
async fn the_plain_password_method_is_used_when_the_device_offers_it_instead() {
    let sim = Sim::up(&["--password-auth"]);
    let d = device(&sim, sim.password_target(), Arc::default());
    d.check().await.unwrap();
    assert!(sim.sshd_logged("Accepted password"), "{}", sim.sshd_log());
}

#[tokio::test]
async fn a_wrong_password_is_a_permanent_failure_told_as_unreachable_that_never_shows_the_secret() {
    let sim = Sim::up(&[]);
    let canary = "canary-Pa55word-7f3a";
    let t = DeviceTarget {
        auth: Credentials::Password(canary.into()),
        ..sim.password_target()
    };
    let d = device(&sim, t.clone(), Arc::default());
    let e = d.identify().await.unwrap_err();
    assert_eq!(e.code(), "unreachable");
    assert_eq!(e.concealed().map(DeviceError::code), Some("auth_failed"));
    assert!(!e.is_retryable());
    let shown = format!("{e} {e:?} {t:?} {d:?} {:?}", d.take_log());
    assert!(!shown.contains(canary), "{shown}");
}

#[tokio::test]
async fn a_wrong_private_key_is_refused() {
    let sim = Sim::up(&[]);
    let other = Sim::up(&[]);
    let t = DeviceTarget {
        auth: other.key_target().auth,
        ..sim.password_target()
    };
    let e = device(&sim, t, Arc::default()).check().await.unwrap_err();
    assert_eq!(e.code(), "unreachable");
    assert_eq!(e.concealed().map(DeviceError::code), Some("auth_failed"));
}

#[tokio::test]
async fn a_host_key_mismatch_aborts_before_any_auth_and_is_permanent() {
    let sim = Sim::up(&[]);
    let t = DeviceTarget {
        host_key_sha256: Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
        ..sim.password_target()
    };
    let e = device(&sim, t, Arc::default())
        .identify()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "host_key_mismatch", "{e}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains(&sim.host_key_sha256));
    // Wait for sshd to log the end of that connection, then look for any auth attempt.
    assert!(sim.sshd_logged("[preauth]"), "{}", sim.sshd_log());
    let log = sim.sshd_log();
    assert!(
        !log.contains("keyboard-interactive")
            && !log.contains("Accepted")
            && !log.contains("Failed"),
        "an auth attempt reached sshd:\n{log}"
    );
}

#[tokio::test]
async fn with_tofu_the_first_key_seen_is_pinned_and_a_changed_key_is_refused() {
    let sim = Sim::up(&[]);
    let pins = Arc::new(MemoryPins::new());
    let t = DeviceTarget {
        host_key_sha256: None,
        host_key_policy: HostKeyPolicy::Tofu,
        ..sim.password_target()
    };
    device(&sim, t.clone(), pins.clone()).check().await.unwrap();
    assert_eq!(
        pins.pinned(&sim.host, sim.port).await.unwrap().as_deref(),
        Some(sim.host_key_sha256.as_str())
    );
    // Same key again: still fine.
    device(&sim, t.clone(), pins.clone()).check().await.unwrap();

    // The "device" is replaced on the same address: a new host key.
    let port = sim.port;
    let old_key = sim.host_key_sha256.clone();
    drop(sim);
    let root = format!("/tmp/ccaas-device-test-{port}");
    let out = std::process::Command::new(common::sim_dir().join("up"))
        .args(["--port", &port.to_string(), "--root", &root])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let guard = SimRoot(root.clone());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = DeviceTarget {
        auth: Credentials::Password(v["password"].as_str().unwrap().to_string()),
        ..t
    };
    let e = SshDevice::new(
        t,
        ccaas_device::DeviceProfile::simulator(&root),
        pins.clone(),
    )
    .with_timeouts(quick_timeouts())
    .check()
    .await
    .unwrap_err();
    assert_eq!(e.code(), "host_key_mismatch");
    assert_eq!(
        pins.pinned("127.0.0.1", port).await.unwrap().as_deref(),
        Some(old_key.as_str()),
        "the pin must not change"
    );
    drop(guard);
}

struct SimRoot(String);
impl Drop for SimRoot {
    fn drop(&mut self) {
        let _ = std::process::Command::new(common::sim_dir().join("down"))
            .args(["--root", &self.0, "--purge"])
            .output();
    }
}

#[tokio::test]
async fn a_legacy_only_device_needs_the_per_device_legacy_flag() {
    let sim = Sim::up(&["--legacy-kex"]);
    let e = device(&sim, sim.password_target(), Arc::default())
        .check()
        .await
        .unwrap_err();
    // Before a login every failure is `unreachable`; the operator's log keeps the cause.
    assert_eq!(e.code(), "unreachable", "{e}");
    assert_eq!(
        e.concealed().map(DeviceError::code),
        Some("no_common_algorithm")
    );
    assert!(!e.is_retryable());
    device(&sim, sim.password_target(), Arc::default())
        .with_legacy_algorithms(true)
        .check()
        .await
        .unwrap();
    assert!(sim.sshd_logged("Accepted keyboard-interactive/pam"));
}

#[tokio::test]
async fn with_tofu_a_wrong_password_writes_no_pin_and_the_next_good_login_pins() {
    let sim = Sim::up(&[]);
    let pins = Arc::new(MemoryPins::new());
    let tofu = DeviceTarget {
        host_key_sha256: None,
        host_key_policy: HostKeyPolicy::Tofu,
        ..sim.password_target()
    };
    let wrong = DeviceTarget {
        auth: Credentials::Password(format!("{}-wrong", sim.password)),
        ..tofu.clone()
    };
    let e = device(&sim, wrong, pins.clone()).check().await.unwrap_err();
    assert_eq!(e.code(), "unreachable");
    assert!(pins.snapshot().is_empty(), "{:?}", pins.snapshot());
    device(&sim, tofu, pins.clone()).check().await.unwrap();
    assert_eq!(
        pins.pinned(&sim.host, sim.port).await.unwrap().as_deref(),
        Some(sim.host_key_sha256.as_str())
    );
}

#[tokio::test]
async fn with_policy_pinned_an_unknown_device_is_refused_without_connecting() {
    // Refused if anything connected: `unreachable`. `host_key_unknown` proves nothing did.
    let (_held, port) = common::refused_port();
    let sim = Sim::up(&[]);
    let pins = Arc::new(MemoryPins::new());
    let t = DeviceTarget {
        host_key_sha256: None,
        host_key_policy: HostKeyPolicy::Pinned,
        ..sim.via(port)
    };
    let e = device(&sim, t, pins.clone()).check().await.unwrap_err();
    assert_eq!(e.code(), "host_key_unknown", "{e}");
    assert!(!e.is_retryable());
    assert!(pins.snapshot().is_empty());
}

#[tokio::test]
async fn a_given_fingerprint_is_pinned_after_the_login_so_later_tasks_need_none() {
    let sim = Sim::up(&[]);
    let pins = Arc::new(MemoryPins::new());
    device(&sim, sim.password_target(), pins.clone())
        .check()
        .await
        .unwrap();
    assert_eq!(
        pins.pinned(&sim.host, sim.port).await.unwrap().as_deref(),
        Some(sim.host_key_sha256.as_str())
    );
    let later = DeviceTarget {
        host_key_sha256: None,
        host_key_policy: HostKeyPolicy::Pinned,
        ..sim.password_target()
    };
    device(&sim, later, pins).check().await.unwrap();
}
