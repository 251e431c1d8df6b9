//! Faults injected by a small TCP proxy between the driver and the simulator's sshd.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ccaas_app::memory::MemoryPins;
use ccaas_device::{Device, DeviceError, Flush, Limits, SshDevice, Timeouts, validate_archive};
use common::{Fault, Proxy, Sim, quick_timeouts, slow_reader, write_random_file};

fn timeouts() -> Timeouts {
    Timeouts {
        handshake: Duration::from_secs(2),
        auth: Duration::from_secs(2),
        idle: Duration::from_secs(2),
        ..quick_timeouts()
    }
}

fn via(sim: &Sim, proxy: &Proxy) -> SshDevice<Arc<MemoryPins>> {
    SshDevice::new(sim.via(proxy.port), sim.profile(), Arc::default()).with_timeouts(timeouts())
}

fn module_names() -> Vec<String> {
    vec!["tmm".into(), "mcpd".into()]
}

fn modules() -> Vec<ccaas_domain::ModuleName> {
    ["tmm", "mcpd"]
        .iter()
        .map(|m| ccaas_domain::ModuleName::parse(m).unwrap())
        .collect()
}

#[tokio::test]
async fn a_silent_server_fails_retryably_within_the_handshake_timeout_plus_a_second() {
    let sim = Sim::up(&[]);
    let proxy = Proxy::start(sim.port, Fault::Silent);
    let d = via(&sim, &proxy);
    let t0 = Instant::now();
    let e = d.identify().await.unwrap_err();
    let took = t0.elapsed();
    assert_eq!(e.code(), "unreachable", "{e}");
    assert_eq!(e.concealed().map(DeviceError::code), Some("timeout"));
    assert!(e.is_retryable());
    assert!(
        took < timeouts().handshake + Duration::from_secs(1),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_silent_auth_on_the_real_sshd_fails_retryably_within_the_auth_timeout_plus_a_second() {
    let sim = Sim::up(&[]);
    let proxy = Proxy::start(sim.port, Fault::SilentAfterKex);
    let d = via(&sim, &proxy);
    let e = d.identify().await.unwrap_err();
    let since_kex = proxy
        .fault_at
        .lock()
        .unwrap()
        .expect("the key exchange went through")
        .elapsed();
    assert_eq!(e.code(), "unreachable", "{e}");
    let cause = e.concealed().expect("the cause is kept");
    assert_eq!(cause.code(), "timeout");
    assert!(cause.to_string().contains("auth"), "{cause}");
    assert!(e.is_retryable());
    assert!(
        since_kex < timeouts().auth + Duration::from_secs(1),
        "{since_kex:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_unreachable_and_retryable() {
    // Bound and never listening: refused for as long as `_held` lives, and no one else's.
    let (_held, port) = common::refused_port();
    let sim = Sim::up(&[]);
    let d = SshDevice::new(sim.via(port), sim.profile(), Arc::new(MemoryPins::new()))
        .with_timeouts(timeouts());
    let e = d.identify().await.unwrap_err();
    assert_eq!(e.code(), "unreachable");
    assert_eq!(e.concealed().map(DeviceError::code), Some("unreachable"));
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_stall_after_one_mebibyte_aborts_within_the_idle_timeout_plus_a_second() {
    let sim = Sim::up(&[]);
    let direct = SshDevice::new(
        sim.password_target(),
        sim.profile(),
        Arc::new(MemoryPins::new()),
    )
    .with_timeouts(timeouts());
    let s = direct.start(&modules(), Flush::Signal).await.unwrap();
    write_random_file(&sim, &format!("{}/big.gcda", sim.gcov_dir("tmm")), 8 << 20);

    let proxy = Proxy::start(sim.port, Fault::StallAfter(1 << 20));
    let d = via(&sim, &proxy);
    let mut out = Vec::new();
    let e = d.end(&s, Flush::Signal, &mut out).await.unwrap_err();
    let stalled_at = proxy.fault_at.lock().unwrap().expect("the proxy stalled");
    let after_stall = stalled_at.elapsed();
    assert_eq!(e.code(), "timeout", "{e}");
    assert!(e.is_retryable());
    assert!(
        after_stall < timeouts().idle + Duration::from_secs(1),
        "{after_stall:?}"
    );
    assert!(validate_archive(&out, &Limits::default(), &module_names()).is_err());
}

#[tokio::test]
async fn a_reset_at_random_offsets_never_yields_a_truncated_success() {
    use rand::{Rng, SeedableRng};
    let sim = Sim::up(&[]);
    let direct = SshDevice::new(
        sim.password_target(),
        sim.profile(),
        Arc::new(MemoryPins::new()),
    )
    .with_timeouts(timeouts());
    let s = direct.start(&modules(), Flush::Signal).await.unwrap();
    let big = 2u64 << 20;
    write_random_file(&sim, &format!("{}/big.gcda", sim.gcov_dir("tmm")), big);

    // A clean run through the proxy measures the whole conversation.
    let proxy = Proxy::start(sim.port, Fault::None);
    let mut out = Vec::new();
    via(&sim, &proxy)
        .end(&s, Flush::Signal, &mut out)
        .await
        .unwrap();
    let total = proxy.down_bytes.load(std::sync::atomic::Ordering::SeqCst);
    assert!(total > big, "{total}");

    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut offsets: Vec<u64> = (0..4).map(|_| rng.random_range(0..total / 8)).collect();
    offsets.extend((0..10).map(|_| rng.random_range(total / 8..total)));
    let mut failures = 0;
    for off in offsets {
        proxy.set_fault(Fault::ResetAfter(off));
        let mut out = Vec::new();
        match via(&sim, &proxy).end(&s, Flush::Signal, &mut out).await {
            Err(e) => {
                failures += 1;
                assert!(
                    e.is_retryable(),
                    "cut at {off} of {total}: {e} ({})",
                    e.code()
                );
            }
            Ok(facts) => {
                // Only acceptable when the cut fell after everything that matters: then the
                // archive is whole.
                let stats = validate_archive(&out, &Limits::default(), &module_names())
                    .unwrap_or_else(|r| panic!("cut at {off}: success with a bad archive: {r}"));
                assert_eq!(stats, facts.archive);
                assert!(stats.unpacked_bytes > big);
            }
        }
    }
    assert!(failures >= 12, "only {failures} cuts failed");
}

#[tokio::test]
async fn a_device_reboot_mid_collect_fails_retryably_and_the_retry_succeeds() {
    let sim = Arc::new(Sim::up(&[]));
    let d = SshDevice::new(
        sim.password_target(),
        sim.profile(),
        Arc::new(MemoryPins::new()),
    )
    .with_timeouts(timeouts());
    let s = d.start(&modules(), Flush::Signal).await.unwrap();
    write_random_file(&sim, &format!("{}/big.gcda", sim.gcov_dir("tmm")), 64 << 20);

    let sim2 = sim.clone();
    let (sink, reader) = slow_reader(
        Duration::from_millis(2),
        Some((256 << 10, Box::new(move || sim2.reboot()))),
    );
    let mut sink = sink;
    let e = d.end(&s, Flush::Signal, &mut sink).await.unwrap_err();
    drop(sink);
    let got = reader.await.unwrap();
    assert!(got >= 256 << 10);
    assert!(e.is_retryable(), "{e} ({})", e.code());

    // The reboot script has finished by the time sshd answers again; retry until it does.
    let mut last = None;
    for _ in 0..20 {
        let mut out = Vec::new();
        match d.end(&s, Flush::Signal, &mut out).await {
            Ok(facts) => {
                assert!(
                    facts.modules.iter().all(|m| m.restarted),
                    "{:?}",
                    facts.modules
                );
                assert!(validate_archive(&out, &Limits::default(), &module_names()).is_ok());
                return;
            }
            Err(e) => {
                assert!(e.is_retryable(), "{e}");
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    panic!("no retry succeeded: {last:?}");
}
