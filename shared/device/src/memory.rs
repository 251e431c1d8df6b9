//! An in-memory twin of a device, for unit tests of code that drives a [`Device`].

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::DeviceError;
use crate::Flush;
use crate::archive::validate_archive;
use crate::facts::{BuildInfo, EndFacts, ModuleEnd, ModuleStart, ProcStart, SessionFacts, Warning};
use crate::log::{CommandRecord, now_rfc3339};
use crate::names::validate_modules;
use crate::session::Device;
use crate::target::Limits;

type FailFn = Box<dyn Fn() -> DeviceError + Send + Sync>;
/// A module's processes and its files (path relative to the module dir → bytes).
type ModuleState = (Vec<ProcStart>, BTreeMap<String, Vec<u8>>);

#[derive(Default)]
struct State {
    modules: BTreeMap<String, ModuleState>,
    next_pid: u32,
    fail_next: Vec<FailFn>,
    log: Vec<CommandRecord>,
    starts: u32,
    ends: u32,
    stall_after: Option<usize>,
}

/// A device held in memory: modules with processes and `.gcda` files, a scripted failure
/// queue, and the same validation and archive format as the SSH driver.
pub struct MemoryDevice {
    build: BuildInfo,
    state: Mutex<State>,
}

impl MemoryDevice {
    /// A device of the given `/VERSION` text running the given modules (one process each).
    ///
    /// # Panics
    /// When `version` is not a valid version file (a test-setup mistake).
    #[allow(
        clippy::expect_used,
        reason = "a test twin: the version text is the test's own setup, not device input"
    )]
    pub fn new(version: &str, modules: &[&str]) -> Self {
        let build = BuildInfo::parse(version).expect("valid version text");
        let mut st = State {
            next_pid: 1000,
            ..State::default()
        };
        for m in modules {
            st.next_pid += 1;
            let pid = st.next_pid;
            st.modules.insert(
                (*m).to_string(),
                (
                    vec![ProcStart {
                        pid,
                        start_ticks: u64::from(pid) * 10,
                    }],
                    BTreeMap::new(),
                ),
            );
        }
        MemoryDevice {
            build,
            state: Mutex::new(st),
        }
    }

    /// A BIG-IP 17.1.0 build 0.0.16 running `tmm` and `mcpd`.
    pub fn bigip() -> Self {
        Self::new(
            "Product: BIG-IP\nVersion: 17.1.0\nBuild: 0.0.16\nEdition: Final\n",
            &["tmm", "mcpd"],
        )
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a coverage file (e.g. `build/tmm.gcda`) in a module's dir, as a dump would.
    pub fn put_file(&self, module: &str, path: &str, bytes: &[u8]) {
        if let Some(m) = self.st().modules.get_mut(module) {
            m.1.insert(path.to_string(), bytes.to_vec());
        }
    }

    /// Restarts a module (new pid), as a crash and respawn would.
    pub fn restart(&self, module: &str) {
        let mut st = self.st();
        st.next_pid += 1;
        let pid = st.next_pid;
        if let Some(m) = st.modules.get_mut(module) {
            m.0 = vec![ProcStart {
                pid,
                start_ticks: u64::from(pid) * 10,
            }];
        }
    }

    /// Makes the next call fail with the error `make` builds (queued, first in first out).
    pub fn fail_next(&self, make: impl Fn() -> DeviceError + Send + Sync + 'static) {
        self.st().fail_next.push(Box::new(make));
    }

    /// Makes the next `end` stream only the first `bytes` of its archive and then fail as an
    /// idle timeout, as a collect that stalls mid-stream does.
    pub fn stall_next_end(&self, bytes: usize) {
        self.st().stall_after = Some(bytes);
    }

    /// How many `start` and `end` calls succeeded.
    pub fn calls(&self) -> (u32, u32) {
        let st = self.st();
        (st.starts, st.ends)
    }

    fn check_fail(&self, what: &str) -> Result<(), DeviceError> {
        let mut st = self.st();
        st.log.push(CommandRecord {
            at: now_rfc3339(),
            command: what.to_string(),
            exit: Some(0),
            ms: 0,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
        });
        if st.fail_next.is_empty() {
            Ok(())
        } else {
            let f = st.fail_next.remove(0);
            if let Some(r) = st.log.last_mut() {
                r.exit = None;
            }
            Err(f())
        }
    }
}

impl Device for MemoryDevice {
    async fn identify(&self) -> Result<BuildInfo, DeviceError> {
        self.check_fail("identify")?;
        Ok(self.build.clone())
    }

    async fn start(&self, modules: &[String], _flush: Flush) -> Result<SessionFacts, DeviceError> {
        let modules = validate_modules(modules)?;
        self.check_fail("start")?;
        let mut st = self.st();
        let mut found = Vec::new();
        for m in &modules {
            let Some((pids, _)) = st.modules.get(m) else {
                return Err(DeviceError::UnknownModule { module: m.clone() });
            };
            found.push(ModuleStart {
                module: m.clone(),
                pids: pids.clone(),
            });
        }
        for m in &modules {
            if let Some(e) = st.modules.get_mut(m) {
                e.1.retain(|p, _| !p.ends_with(".gcda"));
            }
        }
        st.starts += 1;
        Ok(SessionFacts {
            build: self.build.clone(),
            started_at: now_rfc3339(),
            modules: found,
            cores: Vec::new(),
        })
    }

    async fn end(
        &self,
        session: &SessionFacts,
        _flush: Flush,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<EndFacts, DeviceError> {
        let names: Vec<&str> = session.modules.iter().map(|m| m.module.as_str()).collect();
        let modules = validate_modules(&names)?;
        self.check_fail("end")?;
        let (bytes, ends, warnings, with_data) = {
            let st = self.st();
            let mut ends = Vec::new();
            let mut warnings = Vec::new();
            let mut with_data = Vec::new();
            let mut tar = tar::Builder::new(Vec::new());
            for m in &modules {
                let Some((pids, files)) = st.modules.get(m) else {
                    return Err(DeviceError::UnknownModule { module: m.clone() });
                };
                let before = session.modules.iter().find(|s| &s.module == m);
                let restarted = before.is_some_and(|b| &b.pids != pids);
                if restarted {
                    warnings.push(Warning {
                        code: "restarted".into(),
                        module: Some(m.clone()),
                        message: format!(
                            "{m} restarted during the session; its coverage is partial"
                        ),
                    });
                }
                let gcda = files.keys().filter(|p| p.ends_with(".gcda")).count() as u64;
                if gcda > 0 {
                    with_data.push(m.clone());
                    for (path, data) in files {
                        let mut h = tar::Header::new_gnu();
                        h.set_size(data.len() as u64);
                        h.set_mode(0o644);
                        tar.append_data(&mut h, format!("{m}/{path}"), data.as_slice())
                            .map_err(|e| DeviceError::BadArchive {
                                reason: e.to_string(),
                            })?;
                    }
                }
                ends.push(ModuleEnd {
                    module: m.clone(),
                    pids: pids.clone(),
                    restarted,
                    stopped: false,
                    gcda_files: gcda,
                });
            }
            if with_data.is_empty() {
                return Err(DeviceError::NoData);
            }
            let raw = tar.into_inner().map_err(DeviceError::Sink)?;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&raw).map_err(DeviceError::Sink)?;
            (
                gz.finish().map_err(DeviceError::Sink)?,
                ends,
                warnings,
                with_data,
            )
        };
        let stats = validate_archive(&bytes, &Limits::default(), &with_data)
            .map_err(|reason| DeviceError::BadArchive { reason })?;
        let stall = self.st().stall_after.take();
        if let Some(n) = stall {
            sink.write_all(&bytes[..n.min(bytes.len())])
                .await
                .map_err(DeviceError::Sink)?;
            return Err(DeviceError::Timeout {
                stage: "idle",
                after: std::time::Duration::from_secs(1),
            });
        }
        sink.write_all(&bytes).await.map_err(DeviceError::Sink)?;
        self.st().ends += 1;
        Ok(EndFacts {
            build: self.build.clone(),
            ended_at: now_rfc3339(),
            modules: ends,
            new_cores: Vec::new(),
            warnings,
            archive: stats,
        })
    }

    fn take_log(&self) -> Vec<CommandRecord> {
        std::mem::take(&mut self.st().log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_twin_runs_a_whole_session_and_flags_a_restart() {
        let d = MemoryDevice::bigip();
        let s = d
            .start(&["tmm".into(), "mcpd".into()], Flush::Signal)
            .await
            .unwrap();
        d.put_file("tmm", "build/tmm.gcda", b"data");
        d.restart("mcpd");
        let mut out = Vec::new();
        let e = d.end(&s, Flush::Signal, &mut out).await.unwrap();
        assert_eq!(e.archive.gcda_files, 1);
        assert!(
            e.warnings
                .iter()
                .any(|w| w.code == "restarted" && w.module.as_deref() == Some("mcpd"))
        );
        assert!(validate_archive(&out, &Limits::default(), &["tmm".into()]).is_ok());
        assert_eq!(d.calls(), (1, 1));
    }

    #[tokio::test]
    async fn the_twin_fails_as_scripted_and_rejects_bad_names_first() {
        let d = MemoryDevice::bigip();
        assert_eq!(
            d.start(&["x;y".into()], Flush::Signal)
                .await
                .unwrap_err()
                .code(),
            "invalid_module"
        );
        assert_eq!(
            d.start(&["bd".into()], Flush::Signal)
                .await
                .unwrap_err()
                .code(),
            "unknown_module"
        );
        d.fail_next(|| DeviceError::reset("scripted"));
        let e = d.identify().await.unwrap_err();
        assert!(e.is_retryable());
        let s = d.start(&["tmm".into()], Flush::Signal).await.unwrap();
        assert_eq!(
            d.end(&s, Flush::Signal, &mut Vec::new())
                .await
                .unwrap_err()
                .code(),
            "no_data"
        );
        assert!(!d.take_log().is_empty());
    }
}
