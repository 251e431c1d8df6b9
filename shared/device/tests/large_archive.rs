//! A 512 MiB archive streamed to a slow reader stays within a memory bound, and the byte cap
//! gives `too_large`. Alone in its binary so the peak RSS is this test's own.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use ccaas_app::memory::MemoryPins;
use ccaas_device::{Device, Flush, Limits, SshDevice, Timeouts};
use common::{Sim, quick_timeouts, slow_reader, write_random_file};

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_512_mib_archive_to_a_slow_reader_stays_under_256_mib_and_a_cap_overrun_is_too_large() {
    let sim = Sim::up(&[]);
    let timeouts = Timeouts {
        operation: Duration::from_secs(900),
        idle: Duration::from_secs(60),
        ..quick_timeouts()
    };
    let modules = vec!["tmm".to_string()];
    let d = SshDevice::new(
        sim.password_target(),
        sim.profile(),
        Arc::new(MemoryPins::new()),
    )
    .with_timeouts(timeouts.clone());
    let s = d.start(&modules, Flush::Signal).await.unwrap();
    let size: u64 = 512 << 20;
    write_random_file(&sim, &format!("{}/big.gcda", sim.gcov_dir("tmm")), size);

    // Over the cap: too_large, permanent, and the stream stops there.
    let capped = SshDevice::new(
        sim.password_target(),
        sim.profile(),
        Arc::new(MemoryPins::new()),
    )
    .with_timeouts(timeouts)
    .with_limits(Limits {
        archive_bytes: 32 << 20,
        ..Limits::default()
    });
    let (sink, reader) = slow_reader(Duration::ZERO, None);
    let mut sink = sink;
    let e = capped.end(&s, Flush::Signal, &mut sink).await.unwrap_err();
    drop(sink);
    assert_eq!(e.code(), "too_large", "{e}");
    assert!(!e.is_retryable());
    assert!(reader.await.unwrap() <= 32 << 20);

    // Whole: every byte reaches the slow reader, and memory stays bounded.
    let (sink, reader) = slow_reader(Duration::from_micros(500), None);
    let mut sink = sink;
    let facts = d.end(&s, Flush::Signal, &mut sink).await.unwrap();
    drop(sink);
    let got = reader.await.unwrap();
    assert_eq!(got, facts.archive.bytes);
    assert!(facts.archive.bytes > size, "{:?}", facts.archive);
    assert!(facts.archive.unpacked_bytes > size);
    let peak = peak_rss_kib();
    assert!(peak < 256 * 1024, "peak RSS {peak} KiB");
    eprintln!(
        "peak RSS {peak} KiB for a {} byte archive",
        facts.archive.bytes
    );
}
