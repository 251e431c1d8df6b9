//! The password never shows up in TRACE-level logs (ours and russh's), errors or the command
//! log, over a whole session. Alone in its binary because it installs the global subscriber.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use ccaas_app::memory::MemoryPins;
use ccaas_device::{Credentials, Device, DeviceTarget, Flush, SshDevice};
use common::{Sim, quick_timeouts};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_password_appears_nowhere_in_trace_logs_errors_or_the_command_log() {
    let cap = Capture::default();
    let c2 = cap.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || c2.clone())
        .try_init()
        .unwrap();

    let sim = Sim::up(&[]);
    let d = SshDevice::new(
        sim.password_target(),
        sim.profile(),
        Arc::new(MemoryPins::new()),
    )
    .with_timeouts(quick_timeouts());
    let s = d.start(&["tmm".to_string()], Flush::Signal).await.unwrap();
    sim.poke("tmm", "add 1 1");
    let facts = d.end(&s, Flush::Signal, &mut Vec::new()).await.unwrap();
    let bad = SshDevice::new(
        DeviceTarget {
            auth: Credentials::Password(format!("{}-wrong", sim.password)),
            ..sim.password_target()
        },
        sim.profile(),
        Arc::new(MemoryPins::new()),
    )
    .with_timeouts(quick_timeouts());
    let err = bad.identify().await.unwrap_err();

    let logs = String::from_utf8_lossy(&cap.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("userauth_success"),
        "russh's own log records were not captured"
    );
    assert!(
        logs.contains("device command"),
        "our records were not captured"
    );
    let everything = format!(
        "{logs}\n{}\n{}\n{err}\n{err:?}\n{:?}\n{:?}",
        serde_json::to_string(&d.take_log()).unwrap(),
        serde_json::to_string(&facts).unwrap(),
        bad.take_log(),
        d,
    );
    assert_eq!(everything.matches(sim.password.as_str()).count(), 0);
}
