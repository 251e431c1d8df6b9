//! The coverage session protocol (BIG-IP profile) over SSH: identify, start, end. The commands
//! run here; what their output means and how start and end compare is in `facts`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use ccaas_domain::{Flush, ModuleName};

use crate::DeviceError;
use crate::archive::ArchiveValidator;
use crate::facts::{self, CounterOp, GcdaState};
pub use crate::facts::{
    BuildInfo, EndFacts, ModuleEnd, ModuleStart, ProcStart, SessionFacts, Warning,
};
use crate::log::{CommandRecord, now_rfc3339};
use crate::names::validate_modules;
use crate::profile::{Commands, DeviceProfile};
use crate::ssh::{Conn, DataSink};
use crate::target::{DeviceTarget, Limits, Timeouts};
use ccaas_app::ports::HostKeyPins;

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
    /// module's processes, checks that every one can take the reset, resets their counters
    /// (SIGUSR2, or `__gcov_reset()` through gdb for [`Flush::Gdb`]) and deletes their old
    /// `.gcda`.
    ///
    /// Not idempotent on the device (it resets counters), but repeating it is safe: a retry
    /// simply starts the session again, and the latest facts are the ones to keep.
    /// Errors: `invalid_module` (nothing sent), `unknown_module` when a module has no process,
    /// `not_instrumented` when a process does not catch SIGUSR2 (or, with gdb, its executable
    /// has no `__gcov_reset`), `gdb_missing` when gdb is asked for and absent (in those three
    /// cases no process is touched), `gdb_failed`, connection and auth errors.
    fn start(
        &self,
        modules: &[ModuleName],
        flush: Flush,
    ) -> impl Future<Output = Result<SessionFacts, DeviceError>> + Send;

    /// Closes a coverage session: compares the processes with `session` (restarts and crashes
    /// become warnings), lists new core files, flushes the counters (`flush`), waits until the
    /// `.gcda` files are stable, and streams a `tar.gz` of the modules' coverage dirs into
    /// `sink`, validating every entry on the way.
    ///
    /// Safe to retry: it never deletes anything on the device, so a retry collects the same
    /// files (plus whatever ran since). On error, whatever reached `sink` must be discarded.
    /// Errors: `not_instrumented` when a process does not catch SIGUSR1 for
    /// [`Flush::Signal`] (or has no `__gcov_dump` for [`Flush::Gdb`]) and `gdb_missing`,
    /// both before any process is touched; `no_data` when no module has a `.gcda`,
    /// `too_large` past the byte cap,
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
        facts::parse_pids(&out)
    }

    async fn cores_on(&self, c: &Conn) -> Result<Vec<String>, DeviceError> {
        let out = c.run_ok(&self.cmds().cores()).await?;
        Ok(facts::parse_cores(&out))
    }

    /// Checks, touching no process, that every target can take `op` the way `flush` asks:
    /// with gdb, that gdb is installed and each executable has the gcov function; otherwise
    /// (a signal), that each process catches the signal. Errors: `gdb_missing`,
    /// `not_instrumented` (the first process that fails), `protocol`.
    async fn check_can_take(
        &self,
        c: &Conn,
        targets: &[(String, u32)],
        op: CounterOp,
        flush: Flush,
    ) -> Result<(), DeviceError> {
        if targets.is_empty() {
            return Ok(());
        }
        if flush == Flush::Gdb {
            if !facts::parse_gdb_probe(&c.run_ok(&self.cmds().gdb_probe()).await?)? {
                return Err(DeviceError::GdbMissing);
            }
            for (module, pid) in targets {
                let out = c.run_ok(&self.cmds().gdb_symbol(op, *pid)).await?;
                if !facts::parse_gdb_symbol(&out, op.gcov_function())? {
                    return Err(DeviceError::NotInstrumented {
                        module: module.clone(),
                        pid: *pid,
                        detail: format!(
                            "gdb finds no {} in its executable (not built with --coverage, or stripped)",
                            op.gcov_function()
                        ),
                    });
                }
            }
            return Ok(());
        }
        let pids: Vec<u32> = targets.iter().map(|t| t.1).collect();
        let out = c.run_ok(&self.cmds().signal_masks(&pids)).await?;
        let masks = facts::parse_signal_masks(&out, &pids)?;
        facts::check_caught(targets, &masks, op)
    }

    /// Calls the gcov function of `op` in `pid` through gdb; whether the call returned.
    async fn gdb_call(&self, c: &Conn, op: CounterOp, pid: u32) -> Result<bool, DeviceError> {
        let out = c.run_ok(&self.cmds().gdb_call(op, pid)).await?;
        Ok(facts::gdb_call_returned(&out))
    }

    async fn start_on(
        &self,
        c: &Conn,
        modules: &[String],
        flush: Flush,
    ) -> Result<SessionFacts, DeviceError> {
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
        // Check every process first, so one that cannot take the reset touches nothing.
        let targets = targets(found.iter().map(|m| (&m.module, &m.pids)));
        self.check_can_take(c, &targets, CounterOp::Reset, flush)
            .await?;
        let started_at = now_rfc3339();
        for m in &found {
            let pids: Vec<u32> = m.pids.iter().map(|p| p.pid).collect();
            if flush == Flush::Gdb {
                for &pid in &pids {
                    if !self.gdb_call(c, CounterOp::Reset, pid).await? {
                        return Err(DeviceError::GdbFailed {
                            module: m.module.clone(),
                            pid,
                            function: CounterOp::Reset.gcov_function(),
                        });
                    }
                }
            } else {
                c.run_ok(&self.cmds().signal(CounterOp::Reset, &pids))
                    .await?;
            }
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
    ) -> Result<Vec<GcdaState>, DeviceError> {
        let out = c.run_ok(&self.cmds().gcda_state(modules)?).await?;
        facts::parse_gcda_state(&out, modules)
    }

    /// Polls the `.gcda` listing until two polls in a row agree (and, when nothing is there
    /// yet, for at least two seconds so a slow dump still lands).
    async fn wait_stable(
        &self,
        c: &Conn,
        modules: &[String],
    ) -> Result<Vec<GcdaState>, DeviceError> {
        let t0 = Instant::now();
        let mut prev: Option<Vec<GcdaState>> = None;
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
        let mut warnings: Vec<Warning> = facts::build_changed(&session.build, &build)
            .into_iter()
            .collect();
        let mut ends = Vec::new();
        for m in modules {
            let now = self.pids_on(c, m).await?;
            let (end, warning) = facts::module_end(session, m, now);
            warnings.extend(warning);
            ends.push(end);
        }
        let cores_now = self.cores_on(c).await?;
        let (new_cores, core_warnings) = facts::new_cores(session, cores_now, modules);
        warnings.extend(core_warnings);

        if flush != Flush::Restart {
            // Every process is checked before any is signalled or attached.
            let targets = targets(ends.iter().map(|e| (&e.module, &e.pids)));
            self.check_can_take(c, &targets, CounterOp::Dump, flush)
                .await?;
        }
        for e in &ends {
            let pids: Vec<u32> = e.pids.iter().map(|p| p.pid).collect();
            match flush {
                Flush::Signal if !pids.is_empty() => {
                    let o = c.run(&self.cmds().signal(CounterOp::Dump, &pids)).await?;
                    if o.exit != 0 {
                        warnings.push(facts::flush_failed(&e.module));
                    }
                }
                Flush::Signal => {}
                Flush::Gdb => {
                    let mut all = true;
                    for &pid in &pids {
                        all &= self.gdb_call(c, CounterOp::Dump, pid).await?;
                    }
                    if !all {
                        warnings.push(facts::flush_failed(&e.module));
                    }
                }
                Flush::Restart => {
                    c.run_ok(&self.cmds().restart(&e.module)?).await?;
                }
            }
        }

        let state = self.wait_stable(c, modules).await?;
        let with_data = facts::modules_with_data(&state, &mut ends, &mut warnings);
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

/// Every `(module, pid)` of the given modules, in order.
fn targets<'a>(
    modules: impl Iterator<Item = (&'a String, &'a Vec<ProcStart>)>,
) -> Vec<(String, u32)> {
    modules
        .flat_map(|(m, pids)| pids.iter().map(move |p| (m.clone(), p.pid)))
        .collect()
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
            return Err(DeviceError::TooLarge {
                limit: self.cap,
                seen: self.bytes,
            });
        }
        if let Some(v) = self.validator.as_mut() {
            v.push(chunk)
                .await
                .map_err(|reason| DeviceError::BadArchive { reason })?;
        }
        self.sink.write_all(chunk).await.map_err(DeviceError::Sink)
    }
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

    async fn start(
        &self,
        modules: &[ModuleName],
        flush: Flush,
    ) -> Result<SessionFacts, DeviceError> {
        let names: Vec<&str> = modules.iter().map(ModuleName::as_str).collect();
        let modules = validate_modules(&names)?;
        self.bounded(async {
            let c = self.connect().await?;
            let r = self.start_on(&c, &modules, flush).await;
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
