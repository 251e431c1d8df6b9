//! The coverage session protocol (BIG-IP profile): identify, start, end.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use ccaas_domain::Flush;

use crate::DeviceError;
use crate::archive::{ArchiveStats, ArchiveValidator};
use crate::log::{CommandRecord, now_rfc3339};
use crate::names::validate_modules;
use crate::pins::HostKeyPins;
use crate::profile::{Commands, DeviceProfile};
use crate::ssh::{Conn, DataSink};
use crate::target::{DeviceTarget, Limits, Timeouts};

/// What `/VERSION` says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildInfo {
    /// `Product:` (BIG-IP).
    pub product: String,
    /// `Version:` (17.1.0).
    pub version: String,
    /// `Build:` (0.0.16).
    pub build: String,
    /// `Edition:`, when present.
    pub edition: Option<String>,
    /// `JobID:`, when present.
    pub job_id: Option<String>,
    /// `<Version>-<Build>[-<JobID>]`, the key of `builds/<build-id>/` in S3; always a valid
    /// [`ccaas_domain::BuildId`].
    pub build_id: String,
}

impl BuildInfo {
    /// Parses the text of a BIG-IP `/VERSION` file.
    pub fn parse(text: &str) -> Result<BuildInfo, DeviceError> {
        let field = |key: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        let need = |key: &str| {
            field(key)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| DeviceError::Protocol {
                    detail: format!("the version file has no {key} line"),
                })
        };
        let (product, version, build) = (need("Product")?, need("Version")?, need("Build")?);
        let job_id = field("JobID").filter(|v| !v.is_empty());
        let mut build_id = format!("{version}-{build}");
        if let Some(j) = &job_id {
            build_id.push('-');
            build_id.push_str(j);
        }
        // The same check as a build id given to `ccaas build publish`: the id keys
        // `builds/<build-id>/` in S3.
        if ccaas_domain::BuildId::parse(&build_id).is_err() {
            return Err(DeviceError::Protocol {
                detail: "the version file holds characters not allowed in a build id".into(),
            });
        }
        Ok(BuildInfo {
            product,
            version,
            build,
            edition: field("Edition").filter(|v| !v.is_empty()),
            job_id,
            build_id,
        })
    }
}

/// One process of a module.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ProcStart {
    /// The pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22), so a reused pid
    /// is not mistaken for the same process.
    pub start_ticks: u64,
}

/// A module as found at the start of a session.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleStart {
    /// The module (daemon) name.
    pub module: String,
    /// Its processes.
    pub pids: Vec<ProcStart>,
}

/// What `start` found and did: store it with the session, and hand it back to `end`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionFacts {
    /// The device's build.
    pub build: BuildInfo,
    /// When the counters were reset (RFC 3339).
    pub started_at: String,
    /// The modules with their processes.
    pub modules: Vec<ModuleStart>,
    /// Core files present at the start (so `end` reports only new ones).
    pub cores: Vec<String>,
}

/// Something the report should mention.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning {
    /// `restarted`, `not_running`, `new_core`, `no_data`, `build_changed`, `flush_failed`.
    pub code: String,
    /// The module concerned, if any.
    pub module: Option<String>,
    /// A sentence for people.
    pub message: String,
}

/// A module as found at the end of a session.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleEnd {
    /// The module.
    pub module: String,
    /// Its processes before the flush.
    pub pids: Vec<ProcStart>,
    /// Its processes changed since the start (a restart or a crash and respawn).
    pub restarted: bool,
    /// It has no process left.
    pub stopped: bool,
    /// `.gcda` files found after the flush.
    pub gcda_files: u64,
}

/// What `end` found, next to the archive it streamed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndFacts {
    /// The device's build now.
    pub build: BuildInfo,
    /// When the counters were collected (RFC 3339).
    pub ended_at: String,
    /// Per module.
    pub modules: Vec<ModuleEnd>,
    /// Core files that appeared since the start.
    pub new_cores: Vec<String>,
    /// Restarts, crashes, new cores, modules without data.
    pub warnings: Vec<Warning>,
    /// The archive's counts.
    pub archive: ArchiveStats,
}

/// The coverage session protocol of one device.
///
/// [`SshDevice`] runs it over SSH; [`crate::MemoryDevice`] is an in-memory twin for callers'
/// unit tests. Each call is one whole operation (connect, work, disconnect).
pub trait Device: Send + Sync {
    /// Reads the device's build from its version file.
    ///
    /// Idempotent, no side effect on the device. Errors: connection and auth errors, and
    /// `protocol` when the version file lacks `Product`, `Version` or `Build`.
    fn identify(&self) -> impl Future<Output = Result<BuildInfo, DeviceError>> + Send;

    /// Opens a coverage session: validates the module names (before connecting), finds each
    /// module's processes, resets their counters (SIGUSR2) and deletes their old `.gcda`.
    ///
    /// Not idempotent on the device (it resets counters), but repeating it is safe: a retry
    /// simply starts the session again, and the latest facts are the ones to keep.
    /// Errors: `invalid_module` (nothing sent), `unknown_module` when a module has no process
    /// (nothing reset), connection and auth errors.
    fn start(
        &self,
        modules: &[String],
    ) -> impl Future<Output = Result<SessionFacts, DeviceError>> + Send;

    /// Closes a coverage session: compares the processes with `session` (restarts and crashes
    /// become warnings), lists new core files, flushes the counters (`flush`), waits until the
    /// `.gcda` files are stable, and streams a `tar.gz` of the modules' coverage dirs into
    /// `sink`, validating every entry on the way.
    ///
    /// Safe to retry: it never deletes anything on the device, so a retry collects the same
    /// files (plus whatever ran since). On error, whatever reached `sink` must be discarded.
    /// Errors: `no_data` when no module has a `.gcda`, `too_large` past the byte cap,
    /// `bad_archive` for a hostile or truncated archive, `timeout`/`reset` when the device
    /// stalls or goes away, connection and auth errors.
    fn end(
        &self,
        session: &SessionFacts,
        flush: Flush,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> impl Future<Output = Result<EndFacts, DeviceError>> + Send;

    /// Takes the command log gathered so far (oldest first), leaving it empty.
    ///
    /// Idempotent in the sense that a second call returns only newer records. Never fails.
    fn take_log(&self) -> Vec<CommandRecord>;
}

/// The SSH driver of one device.
pub struct SshDevice<P> {
    target: DeviceTarget,
    profile: DeviceProfile,
    pins: P,
    timeouts: Timeouts,
    limits: Limits,
    legacy: bool,
    log: Arc<Mutex<Vec<CommandRecord>>>,
}

impl<P> std::fmt::Debug for SshDevice<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshDevice")
            .field("target", &self.target)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl<P: HostKeyPins> SshDevice<P> {
    /// A driver with the default [`Timeouts`] and [`Limits`].
    pub fn new(target: DeviceTarget, profile: DeviceProfile, pins: P) -> Self {
        SshDevice {
            target,
            profile,
            pins,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            legacy: false,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Replaces the timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Also offers the SHA-1 key exchanges (`diffie-hellman-group14-sha1`, `-group-exchange-sha1`,
    /// `-group1-sha1`) and `hmac-sha1` MACs, for old devices that have nothing better. Off by
    /// default; set it per device, only where needed.
    pub fn with_legacy_algorithms(mut self, legacy: bool) -> Self {
        self.legacy = legacy;
        self
    }

    /// Connects, checks the host key and authenticates, then disconnects. No command is run.
    pub async fn check(&self) -> Result<(), DeviceError> {
        self.bounded(async {
            let c = self.connect().await?;
            c.close().await;
            Ok(())
        })
        .await
    }

    async fn connect(&self) -> Result<Conn, DeviceError> {
        self.profile.validate()?;
        Conn::open(
            &self.target,
            &self.pins,
            &self.timeouts,
            &self.limits,
            self.legacy,
            self.log.clone(),
        )
        .await
    }

    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, DeviceError>>,
    ) -> Result<T, DeviceError> {
        match timeout(self.timeouts.operation, fut).await {
            Ok(r) => r,
            Err(_) => Err(DeviceError::Timeout {
                stage: "operation",
                after: self.timeouts.operation,
            }),
        }
    }

    fn cmds(&self) -> Commands<'_> {
        Commands {
            profile: &self.profile,
        }
    }

    async fn identify_on(&self, c: &Conn) -> Result<BuildInfo, DeviceError> {
        let out = c.run_ok(&self.cmds().version()).await?;
        BuildInfo::parse(&String::from_utf8_lossy(&out))
    }

    async fn pids_on(&self, c: &Conn, module: &str) -> Result<Vec<ProcStart>, DeviceError> {
        let out = c.run_ok(&self.cmds().pids(module)?).await?;
        parse_pids(&out)
    }

    async fn cores_on(&self, c: &Conn) -> Result<Vec<String>, DeviceError> {
        let out = c.run_ok(&self.cmds().cores()).await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| !l.is_empty())
            .take(1000)
            .map(|l| l.chars().take(512).collect())
            .collect())
    }

    async fn start_on(&self, c: &Conn, modules: &[String]) -> Result<SessionFacts, DeviceError> {
        let build = self.identify_on(c).await?;
        let cores = self.cores_on(c).await?;
        let mut found = Vec::new();
        // Find every module first, so an unknown one resets nothing.
        for m in modules {
            let pids = self.pids_on(c, m).await?;
            if pids.is_empty() {
                return Err(DeviceError::UnknownModule { module: m.clone() });
            }
            found.push(ModuleStart {
                module: m.clone(),
                pids,
            });
        }
        let started_at = now_rfc3339();
        for m in &found {
            let pids: Vec<u32> = m.pids.iter().map(|p| p.pid).collect();
            c.run_ok(&self.cmds().signal("USR2", &pids)).await?;
            c.run_ok(&self.cmds().delete_gcda(&m.module)?).await?;
        }
        Ok(SessionFacts {
            build,
            started_at,
            modules: found,
            cores,
        })
    }

    async fn gcda_state(
        &self,
        c: &Conn,
        modules: &[String],
    ) -> Result<Vec<(String, u64, String)>, DeviceError> {
        let out = c.run_ok(&self.cmds().gcda_state(modules)?).await?;
        let text = String::from_utf8_lossy(&out);
        let mut v = Vec::new();
        for l in text.lines().filter(|l| !l.is_empty()) {
            let mut it = l.split(' ');
            match (
                it.next(),
                it.next().and_then(|n| n.parse().ok()),
                it.next(),
                it.next(),
            ) {
                (Some(m), Some(n), Some(sum), None) if modules.iter().any(|x| x == m) => {
                    v.push((m.to_string(), n, sum.to_string()));
                }
                _ => {
                    return Err(DeviceError::Protocol {
                        detail: "unexpected .gcda listing".into(),
                    });
                }
            }
        }
        if v.len() != modules.len() {
            return Err(DeviceError::Protocol {
                detail: "incomplete .gcda listing".into(),
            });
        }
        Ok(v)
    }

    /// Polls the `.gcda` listing until two polls in a row agree (and, when nothing is there
    /// yet, for at least two seconds so a slow dump still lands).
    async fn wait_stable(
        &self,
        c: &Conn,
        modules: &[String],
    ) -> Result<Vec<(String, u64, String)>, DeviceError> {
        let t0 = Instant::now();
        let mut prev: Option<Vec<(String, u64, String)>> = None;
        loop {
            let now = self.gcda_state(c, modules).await?;
            let total: u64 = now.iter().map(|x| x.1).sum();
            if prev.as_ref() == Some(&now) && (total > 0 || t0.elapsed() >= Duration::from_secs(2))
            {
                return Ok(now);
            }
            if t0.elapsed() >= self.timeouts.flush {
                return Err(DeviceError::Timeout {
                    stage: "flush",
                    after: self.timeouts.flush,
                });
            }
            prev = Some(now);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn end_on(
        &self,
        c: &Conn,
        session: &SessionFacts,
        modules: &[String],
        flush: Flush,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<EndFacts, DeviceError> {
        let build = self.identify_on(c).await?;
        let mut warnings = Vec::new();
        if build.build_id != session.build.build_id {
            warnings.push(Warning {
                code: "build_changed".into(),
                module: None,
                message: format!(
                    "the device build changed during the session ({} -> {})",
                    session.build.build_id, build.build_id
                ),
            });
        }
        let mut ends = Vec::new();
        for m in modules {
            let now = self.pids_on(c, m).await?;
            let before: BTreeSet<ProcStart> = session
                .modules
                .iter()
                .find(|s| &s.module == m)
                .map(|s| s.pids.iter().copied().collect())
                .unwrap_or_default();
            let after: BTreeSet<ProcStart> = now.iter().copied().collect();
            let stopped = now.is_empty();
            let restarted = !stopped && before != after;
            if stopped {
                warnings.push(Warning {
                    code: "not_running".into(),
                    module: Some(m.clone()),
                    message: format!("{m} is not running: it crashed or was stopped during the session; its coverage is partial"),
                });
            } else if restarted {
                warnings.push(Warning {
                    code: "restarted".into(),
                    module: Some(m.clone()),
                    message: format!("{m} restarted during the session; its coverage is partial"),
                });
            }
            ends.push(ModuleEnd {
                module: m.clone(),
                pids: now,
                restarted,
                stopped,
                gcda_files: 0,
            });
        }
        let cores_now = self.cores_on(c).await?;
        let new_cores: Vec<String> = cores_now
            .into_iter()
            .filter(|x| !session.cores.contains(x))
            .collect();
        for core in &new_cores {
            let module = modules
                .iter()
                .find(|m| {
                    core.rsplit('/')
                        .next()
                        .is_some_and(|f| f.contains(m.as_str()))
                })
                .cloned();
            warnings.push(Warning {
                code: "new_core".into(),
                module,
                message: format!("new core file {core}"),
            });
        }

        for e in &ends {
            match flush {
                Flush::Signal if !e.pids.is_empty() => {
                    let pids: Vec<u32> = e.pids.iter().map(|p| p.pid).collect();
                    let o = c.run(&self.cmds().signal("USR1", &pids)).await?;
                    if o.exit != 0 {
                        warnings.push(Warning {
                            code: "flush_failed".into(),
                            module: Some(e.module.clone()),
                            message: format!("could not signal {} to dump its counters", e.module),
                        });
                    }
                }
                Flush::Signal => {}
                Flush::Restart => {
                    c.run_ok(&self.cmds().restart(&e.module)?).await?;
                }
            }
        }

        let state = self.wait_stable(c, modules).await?;
        let mut with_data = Vec::new();
        for (m, n, _) in &state {
            if let Some(e) = ends.iter_mut().find(|e| &e.module == m) {
                e.gcda_files = *n;
            }
            if *n > 0 {
                with_data.push(m.clone());
            } else {
                warnings.push(Warning {
                    code: "no_data".into(),
                    module: Some(m.clone()),
                    message: format!("{m} left no .gcda file"),
                });
            }
        }
        if with_data.is_empty() {
            return Err(DeviceError::NoData);
        }

        let mut archive = ArchiveSink {
            sink,
            validator: Some(ArchiveValidator::new(&self.limits, &with_data)),
            bytes: 0,
            cap: self.limits.archive_bytes,
        };
        let cmd = self.cmds().tar(&with_data)?;
        let exit = c.exec(&cmd, &mut archive).await?;
        if exit != 0 {
            // The data was stable a moment ago (wait_stable), so a failing tar is taken as the
            // data moving under it (a daemon restarting), which a retry reads again; a tar
            // that always fails still ends the task once the retries run out.
            return Err(DeviceError::DataChanged { command: cmd, exit });
        }
        let stats = archive
            .validator
            .take()
            .ok_or_else(|| DeviceError::BadArchive {
                reason: "validator gone".into(),
            })?
            .finish()
            .await
            .map_err(|reason| DeviceError::BadArchive { reason })?;
        archive.sink.flush().await.map_err(DeviceError::Sink)?;
        Ok(EndFacts {
            build,
            ended_at: now_rfc3339(),
            modules: ends,
            new_cores,
            warnings,
            archive: stats,
        })
    }
}

/// Disconnects politely after a success; after a failure just drops the connection (which
/// aborts its socket), so a dead or stalled peer cannot delay the error.
async fn finish<T>(c: Conn, r: Result<T, DeviceError>) -> Result<T, DeviceError> {
    if r.is_ok() {
        c.close().await;
    }
    r
}

struct ArchiveSink<'a> {
    sink: &'a mut (dyn AsyncWrite + Unpin + Send),
    validator: Option<ArchiveValidator>,
    bytes: u64,
    cap: u64,
}

impl DataSink for ArchiveSink<'_> {
    async fn data(&mut self, chunk: &[u8]) -> Result<(), DeviceError> {
        self.bytes += chunk.len() as u64;
        if self.bytes > self.cap {
            return Err(DeviceError::TooLarge { limit: self.cap });
        }
        if let Some(v) = self.validator.as_mut() {
            v.push(chunk)
                .await
                .map_err(|reason| DeviceError::BadArchive { reason })?;
        }
        self.sink.write_all(chunk).await.map_err(DeviceError::Sink)
    }
}

fn parse_pids(out: &[u8]) -> Result<Vec<ProcStart>, DeviceError> {
    let text = String::from_utf8_lossy(out);
    let mut v = Vec::new();
    for l in text.lines().filter(|l| !l.is_empty()) {
        let mut it = l.split(' ');
        match (
            it.next(),
            it.next().and_then(|p| p.parse::<u32>().ok()),
            it.next().and_then(|t| t.parse::<u64>().ok()),
            it.next(),
        ) {
            (Some("pid"), Some(pid), Some(start_ticks), None) if pid > 1 => {
                v.push(ProcStart { pid, start_ticks })
            }
            _ => {
                return Err(DeviceError::Protocol {
                    detail: "unexpected process listing".into(),
                });
            }
        }
        if v.len() > 4096 {
            return Err(DeviceError::Protocol {
                detail: "too many processes".into(),
            });
        }
    }
    v.sort();
    v.dedup();
    Ok(v)
}

impl<P: HostKeyPins> Device for SshDevice<P> {
    async fn identify(&self) -> Result<BuildInfo, DeviceError> {
        self.bounded(async {
            let c = self.connect().await?;
            let r = self.identify_on(&c).await;
            finish(c, r).await
        })
        .await
    }

    async fn start(&self, modules: &[String]) -> Result<SessionFacts, DeviceError> {
        let modules = validate_modules(modules)?;
        self.bounded(async {
            let c = self.connect().await?;
            let r = self.start_on(&c, &modules).await;
            finish(c, r).await
        })
        .await
    }

    async fn end(
        &self,
        session: &SessionFacts,
        flush: Flush,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<EndFacts, DeviceError> {
        let names: Vec<&str> = session.modules.iter().map(|m| m.module.as_str()).collect();
        let modules = validate_modules(&names)?;
        self.bounded(async {
            let c = self.connect().await?;
            let r = self.end_on(&c, session, &modules, flush, sink).await;
            finish(c, r).await
        })
        .await
    }

    fn take_log(&self) -> Vec<CommandRecord> {
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: &str = "Product: BIG-IP\nVersion: 17.1.0\nBuild: 0.0.16\nSequence: 17.1.0.0.0.16\nEdition: Final\nJobID: 1234567\n";

    #[test]
    fn the_build_id_joins_version_build_and_job() {
        let b = BuildInfo::parse(VERSION).unwrap();
        assert_eq!(b.build_id, "17.1.0-0.0.16-1234567");
        assert_eq!(b.edition.as_deref(), Some("Final"));
        let b = BuildInfo::parse("Product: BIG-IP\nVersion: 16.1.3\nBuild: 0.0.12\n").unwrap();
        assert_eq!(b.build_id, "16.1.3-0.0.12");
    }

    #[test]
    fn a_version_file_without_build_or_with_odd_characters_is_refused() {
        assert_eq!(
            BuildInfo::parse("Product: BIG-IP\nVersion: 1\n")
                .unwrap_err()
                .code(),
            "protocol"
        );
        assert!(BuildInfo::parse("Product: x\nVersion: 1/../\nBuild: 2\n").is_err());
    }

    #[test]
    fn process_listings_are_parsed_strictly() {
        assert_eq!(
            parse_pids(b"pid 12 345\npid 13 346\n").unwrap(),
            [
                ProcStart {
                    pid: 12,
                    start_ticks: 345
                },
                ProcStart {
                    pid: 13,
                    start_ticks: 346
                }
            ]
        );
        assert!(parse_pids(b"").unwrap().is_empty());
        for bad in [
            &b"pid x 1\n"[..],
            b"12 345\n",
            b"pid 12 345 extra\n",
            b"pid 1 5\n",
        ] {
            assert!(parse_pids(bad).is_err());
        }
    }
}
