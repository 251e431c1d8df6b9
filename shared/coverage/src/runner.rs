//! [`CoverageRunner`]: the start and end tasks, stage by stage, each stage idempotent.

use ccaas_app::ports::{ReportSite, SiteTotals};
use ccaas_app::{
    ArtifactStore, BuildPart, BuildStore, Clock, DeviceSession, IndexStore, LogStore, Opened,
    RunError, SessionStore, TaskRunner, device_key,
};
use ccaas_device::{Device, EndFacts, SessionFacts};
use ccaas_domain::{BuildId, DeviceAccess, Task, TaskId, TaskType, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::connector::Connector;
use crate::error::CoverageError;
use crate::render::{
    BuildNotes, MAX_WARNINGS, PageFacts, RenderWarning, Rendered, model, sources_for, write_report,
};
use crate::unpack::{UnpackLimits, unpack, unpack_notes};

/// Runner settings.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Base of report links (`CCAAS_SITE_URL`), without the trailing slash; relative links
    /// (`reports/<id>/index.html`) when empty.
    pub site_url: String,
    /// Largest raw archive read back for rendering (compressed bytes).
    pub max_raw_bytes: u64,
    /// Caps on the unpacked archive (the scratch disk its coverage files take while rendering;
    /// memory holds only their index); a build's published notes share them (their byte cap is
    /// what the raw archive left). An end task whose archive unpacks to more than
    /// `unpack.total_bytes` is refused `too_large` as soon as it is collected, before upload.
    pub unpack: UnpackLimits,
    /// Most bytes of one report's files together (on scratch disk until uploaded).
    pub max_report_bytes: u64,
    /// The render stages (unpack, engine, report, upload) that may run at once in this
    /// process, shared by every clone of the config: one by default, so the scratch disk and
    /// memory budgets (docs/deploy.md) hold one render stage however many devices a batch
    /// collects from at once.
    pub render_gate: std::sync::Arc<tokio::sync::Semaphore>,
    /// Largest `builds/<build-id>/notes.tar.gz` or `sources.tar.gz` read back (compressed).
    pub max_build_bytes: u64,
    /// Caps on the sources kept from a build's `sources.tar.gz` (only those named in the
    /// report are kept).
    pub sources: UnpackLimits,
    /// Largest command log kept per task; older records are dropped first.
    pub max_log_bytes: usize,
    /// How old an open session may grow (`CCAAS_SESSION_MAX_AGE_SECS`, 7 days by default):
    /// past it a start takes the device over and an end fails `session_expired`.
    pub session_max_age_secs: u64,
    /// Where session times and ages are read.
    pub clock: Clock,
}

/// The default maximum age of an open session: 7 days.
pub const DEFAULT_SESSION_MAX_AGE_SECS: u64 = 7 * 24 * 3600;

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            site_url: String::new(),
            max_raw_bytes: 1 << 30,
            unpack: UnpackLimits::default(),
            max_report_bytes: 4 << 30,
            render_gate: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
            max_build_bytes: 1 << 30,
            sources: UnpackLimits {
                entries: 500_000,
                entry_bytes: 32 << 20,
                total_bytes: 512 << 20,
            },
            max_log_bytes: 4 << 20,
            session_max_age_secs: DEFAULT_SESSION_MAX_AGE_SECS,
            clock: Clock::System,
        }
    }
}

/// What the collect stage found: written to `raw/<id>/facts.json` after the archive, so the
/// render stage (and any retry) knows the session without the device or the session record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collected {
    /// The session that was ended (its start task's id).
    pub session: TaskId,
    /// The device key.
    pub device: String,
    /// The session's modules.
    pub modules: Vec<String>,
    /// What `start` found.
    pub start: SessionFacts,
    /// What `end` found.
    pub end: EndFacts,
}

/// What a discard task records (`raw/<id>/facts.json`) before it closes the session, so a
/// retry after the close closes the same session again and returns the same result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discarded {
    /// The session discarded (its start task's id).
    pub session: TaskId,
    /// The device key.
    pub device: String,
    /// Who opened it.
    pub owner: Option<String>,
    /// When it was opened.
    pub since: String,
}

/// Runs coverage tasks over a device connector and the stores.
#[derive(Clone, Debug)]
pub struct CoverageRunner<C, S, A, P, L, B, I> {
    /// Builds device drivers.
    pub connector: C,
    /// Open sessions per device.
    pub sessions: S,
    /// Private per-task artifacts (`raw/`).
    pub artifacts: A,
    /// The report site (`reports/` and the site-wide index).
    pub site: P,
    /// Command logs (`logs/`).
    pub logs: L,
    /// Published build notes and sources (`builds/`).
    pub builds: B,
    /// Per-session coverage indexes (`index/`).
    pub indexes: I,
    /// Settings.
    pub config: RunnerConfig,
}

impl<C, S, A, P, L, B, I> TaskRunner for CoverageRunner<C, S, A, P, L, B, I>
where
    C: Connector,
    S: SessionStore,
    A: ArtifactStore,
    P: ReportSite,
    L: LogStore,
    B: BuildStore,
    I: IndexStore,
{
    async fn run(&self, task: &Task, access: &DeviceAccess) -> Result<Value, RunError> {
        let r = match task.task_type {
            TaskType::CoverageStart => self.start(task, access).await,
            TaskType::CoverageEnd => self.end(task, access).await,
            TaskType::CoverageDiscard => self.discard(task).await,
            // A merge works on stored data; the worker sends it to `run_without_device`.
            TaskType::CoverageMerge => self.merge(task).await,
        };
        if let Err(e) = &r {
            info!(task_id = %task.id, code = %e.code(), retryable = e.is_retryable(), error = %e, "coverage task failed");
        }
        r.map_err(RunError::from)
    }

    async fn run_without_device(&self, task: &Task) -> Result<Value, RunError> {
        let r = match task.task_type {
            TaskType::CoverageMerge => self.merge(task).await,
            other => Err(CoverageError::Corrupt(format!(
                "a {} task needs its device access, and its message carried none",
                other.as_str()
            ))),
        };
        if let Err(e) = &r {
            info!(task_id = %task.id, code = %e.code(), retryable = e.is_retryable(), error = %e, "coverage task failed");
        }
        r.map_err(RunError::from)
    }
}

fn start_result(s: &DeviceSession) -> Value {
    let build = s
        .facts
        .get("build")
        .and_then(|b| b.get("build_id"))
        .cloned()
        .unwrap_or(Value::Null);
    let started = s.facts.get("started_at").cloned().unwrap_or(Value::Null);
    let mut r = json!({
        "session": s.id,
        "build": build,
        "modules": s.modules,
        "started_at": started,
    });
    if let Some(old) = &s.took_over {
        r["took_over"] = json!(old);
    }
    r
}

impl<C, S, A, P, L, B, I> CoverageRunner<C, S, A, P, L, B, I>
where
    C: Connector,
    S: SessionStore,
    A: ArtifactStore,
    P: ReportSite,
    L: LogStore,
    B: BuildStore,
    I: IndexStore,
{
    /// Start: check the device's session, reset the counters, record the session.
    async fn start(&self, task: &Task, access: &DeviceAccess) -> Result<Value, CoverageError> {
        let key = device_key(&task.device, task.port);
        // Checked before any SSH: a busy device is refused without touching its counters, and
        // a retry of this same task after its session was recorded (a crash before the status
        // write) returns the recorded session without resetting the counters a second time.
        let mut took_over = None;
        if let Some(cur) = self.sessions.current(&key).await? {
            if cur.id == task.id {
                info!(task_id = %task.id, "session already recorded by an earlier run");
                return Ok(start_result(&cur));
            }
            let now = self.config.clock.now_ms();
            if !cur.is_expired(now, self.config.session_max_age_secs) {
                return Err(CoverageError::SessionOpen {
                    device: key,
                    session: cur.id.to_string(),
                });
            }
            // An expired session is taken over: closed unended (its counters are reset by
            // this start), conditional on its id so a concurrent end or discard is not undone.
            let closed = self.sessions.close(&key, &cur.id).await?;
            warn!(task_id = %task.id, device = %key, session = %cur.id, owner = ?cur.owner,
                since = %cur.opened, closed, "taking over an expired coverage session");
            took_over = Some(cur.id);
        }
        let device = self.connector.device(access);
        let started = device.start(&task.modules, task.flush).await;
        self.append_log(&task.id, &device).await;
        // Reset before recording: a crash in between leaves no record, so the retry resets
        // again (harmless: nothing has run since) and records then. The record is a
        // conditional write, so two starts can never both own the device.
        let facts = started?;
        let now = self.config.clock.now_ms();
        let rec = DeviceSession {
            id: task.id.clone(),
            modules: task.modules.iter().map(|m| m.as_str().to_owned()).collect(),
            facts: serde_json::to_value(&facts)
                .map_err(|e| CoverageError::Corrupt(e.to_string()))?,
            opened: rfc3339(now),
            opened_ms: Some(now),
            owner: Some(task.user.clone()),
            took_over,
        };
        match self.sessions.open(&key, &rec).await? {
            Opened::New => Ok(start_result(&rec)),
            Opened::Already => match self.sessions.current(&key).await? {
                Some(cur) if cur.id == task.id => Ok(start_result(&cur)),
                _ => Ok(start_result(&rec)),
            },
            Opened::Busy(other) => Err(CoverageError::SessionOpen {
                device: key,
                session: other.to_string(),
            }),
        }
    }

    /// End: collect (stage 1) unless already done, render and publish (stage 2), close.
    async fn end(&self, task: &Task, access: &DeviceAccess) -> Result<Value, CoverageError> {
        let clock = std::time::Instant::now();
        let collected = match self.artifacts.get_facts(&task.id).await? {
            // Stage 1 finished in an earlier run: the archive and its facts are in the store,
            // and the device is not touched again.
            Some(bytes) => serde_json::from_slice::<Collected>(&bytes)
                .map_err(|e| CoverageError::Corrupt(format!("facts.json: {e}")))?,
            None => {
                let c = self.collect(task, access).await?;
                info!(task_id = %task.id, stage = "collect", secs = clock.elapsed().as_secs_f64(),
                    archive_bytes = c.end.archive.bytes, unpacked_bytes = c.end.archive.unpacked_bytes,
                    files = c.end.archive.files, "stage done");
                c
            }
        };
        // Held until the report is uploaded: its files wait on scratch disk until then.
        let _slot = self
            .config
            .render_gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| CoverageError::Report(format!("render gate: {e}")))?;
        let (rendered, index) = match self.render(task, &collected).await {
            Ok(r) => r,
            Err(e) if !e.is_retryable() => {
                // The data is safe in raw/ for a later re-render; a report that can never be
                // built must not keep the device's session open and block the next start.
                let _ = self
                    .sessions
                    .close(&collected.device, &collected.session)
                    .await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        // The site writes the report's index.html last and then the site-wide list: a
        // half-published report is never linked, and a retry rewrites the same bytes.
        let files = rendered.files.clone();
        let t = rendered.totals;
        let totals = SiteTotals {
            lines: (t.lines.hit, t.lines.total),
            functions: (t.functions.hit, t.functions.total),
            branches: (t.branches.hit, t.branches.total),
        };
        let clock = std::time::Instant::now();
        crate::publish::publish(&self.site, &task.id, files, totals).await?;
        // The device's stable link moves only once the report it points to is complete.
        crate::publish::publish_latest(&self.site, &task.device, task.port, &task.id).await?;
        info!(task_id = %task.id, stage = "publish", secs = clock.elapsed().as_secs_f64(),
            files = rendered.files.len(), bytes = rendered.files.iter().map(|f| f.len()).sum::<u64>(),
            "stage done");
        // The index after the report (the impact query lists a session only once its report is
        // there) and before the close, so a retry after a crash writes the same bytes again.
        match (BuildId::parse(&collected.end.build.build_id), index) {
            (Ok(build), Some(bytes)) => {
                let len = bytes.len();
                let clock = std::time::Instant::now();
                crate::index::write_index(
                    &self.indexes,
                    &build,
                    &collected.session,
                    &collected.device,
                    task.id.unix_ms(),
                    bytes,
                )
                .await?;
                info!(task_id = %task.id, stage = "index", secs = clock.elapsed().as_secs_f64(),
                    build = %build, bytes = len, "stage done");
            }
            _ => {
                warn!(task_id = %task.id, build = %collected.end.build.build_id,
                    "no coverage index: the session's build id is not a valid build id");
            }
        }
        // Close after the report is published: a crash before leaves the session open and the
        // retry (which skips the collect) re-publishes the same bytes, then closes. Closing is
        // conditional on the session id, so a later session is never closed by mistake.
        let closed = self
            .sessions
            .close(&collected.device, &collected.session)
            .await?;
        info!(task_id = %task.id, session = %collected.session, closed, "coverage session ended");
        Ok(self.result(&task.id, &collected, &rendered))
    }

    /// Stage 1: finds the session, streams the device's archive into a scratch file, uploads
    /// it, then writes the facts record.
    async fn collect(
        &self,
        task: &Task,
        access: &DeviceAccess,
    ) -> Result<Collected, CoverageError> {
        let key = device_key(&task.device, task.port);
        let session = self.session_of(task, &key).await?;
        if session.is_expired(self.config.clock.now_ms(), self.config.session_max_age_secs) {
            return Err(CoverageError::SessionExpired(format!(
                "session {} on device {key} was opened {} and is older than {} s; discard it \
                 (code-coverage-discard) or start a new one, which takes the device over",
                session.id, session.opened, self.config.session_max_age_secs
            )));
        }
        let start: SessionFacts = serde_json::from_value(session.facts.clone())
            .map_err(|e| CoverageError::Corrupt(format!("session record: {e}")))?;
        // The archive streams to a scratch file, never to memory; the driver caps its size.
        let scratch = tempfile::NamedTempFile::new().map_err(CoverageError::Scratch)?;
        let file = scratch.reopen().map_err(CoverageError::Scratch)?;
        let mut sink = tokio::io::BufWriter::new(tokio::fs::File::from_std(file));
        let device = self.connector.device(access);
        let ended = device.end(&start, task.flush, &mut sink).await;
        self.append_log(&task.id, &device).await;
        let end = ended?;
        sink.flush().await.map_err(CoverageError::Scratch)?;
        drop(sink);
        // The device's check walked the whole stream: an archive that would unpack past the
        // render stage's budget is refused now, with its size, before upload or render.
        let budget = self.config.unpack.total_bytes;
        if end.archive.unpacked_bytes > budget {
            return Err(CoverageError::TooLarge {
                what: format!(
                    "the session's coverage data ({} files, {} bytes compressed; unpacked)",
                    end.archive.files, end.archive.bytes
                ),
                limit: budget,
                seen: end.archive.unpacked_bytes,
            });
        }
        // The archive goes up before the facts record, so a record always means a complete
        // archive. A crash in between collects again: `end` never deletes device data.
        self.artifacts.put_raw(&task.id, scratch.path()).await?;
        let collected = Collected {
            session: session.id.clone(),
            device: key,
            modules: session.modules.clone(),
            start,
            end,
        };
        let json =
            serde_json::to_vec(&collected).map_err(|e| CoverageError::Corrupt(e.to_string()))?;
        self.artifacts.put_facts(&task.id, json).await?;
        Ok(collected)
    }

    /// The session an end or discard task acts on, if its submitter may close it: the one
    /// `data.session` names (it must be open on the device), else the device's open session
    /// only when it is the submitter's own (an admin names another user's session).
    async fn session_of(&self, task: &Task, key: &str) -> Result<DeviceSession, CoverageError> {
        let current = self.sessions.current(key).await?;
        let session = match (&task.session, current) {
            (Some(want), Some(cur)) if &cur.id == want => cur,
            (Some(want), _) => {
                return Err(CoverageError::NoSession(format!(
                    "session {want} is not open on device {key}"
                )));
            }
            (None, Some(cur)) => {
                if !cur.may_be_closed_by(&task.user, false) {
                    return Err(CoverageError::SessionNotOwned(format!(
                        "the session open on device {key} ({}) is not {}'s; a task without \
                         data.session acts only on its user's own session",
                        cur.id, task.user
                    )));
                }
                cur
            }
            (None, None) => {
                return Err(CoverageError::NoSession(format!(
                    "device {key} has no open coverage session"
                )));
            }
        };
        if !session.may_be_closed_by(&task.user, task.admin) {
            return Err(CoverageError::SessionNotOwned(format!(
                "session {} on device {key} is {}'s; only its owner or an admin may end or \
                 discard it",
                session.id,
                session.owner.as_deref().unwrap_or("another user")
            )));
        }
        Ok(session)
    }

    /// Discard: close the session without collecting (no SSH, no flush, no report). The
    /// record goes first, so a retry after the close finds it and closes the same session
    /// (a no-op) rather than failing `no_session`.
    async fn discard(&self, task: &Task) -> Result<Value, CoverageError> {
        let rec = match self.artifacts.get_facts(&task.id).await? {
            Some(bytes) => serde_json::from_slice::<Discarded>(&bytes)
                .map_err(|e| CoverageError::Corrupt(format!("facts.json: {e}")))?,
            None => {
                let key = device_key(&task.device, task.port);
                let s = self.session_of(task, &key).await?;
                let rec = Discarded {
                    session: s.id,
                    device: key,
                    owner: s.owner,
                    since: s.opened,
                };
                let json =
                    serde_json::to_vec(&rec).map_err(|e| CoverageError::Corrupt(e.to_string()))?;
                self.artifacts.put_facts(&task.id, json).await?;
                rec
            }
        };
        let closed = self.sessions.close(&rec.device, &rec.session).await?;
        info!(task_id = %task.id, session = %rec.session, closed, "coverage session discarded");
        Ok(json!({
            "session": rec.session,
            "discarded": true,
            "owner": rec.owner,
            "since": rec.since,
        }))
    }

    /// Stage 2's input and engine: the raw archive from the store (not from the device), so
    /// a retry renders the same bytes; the build's published notes when a `.gcda` has no
    /// `.gcno` beside it, and the build's published sources for the pages.
    async fn render(
        &self,
        task: &Task,
        c: &Collected,
    ) -> Result<(Rendered, Option<Vec<u8>>), CoverageError> {
        let scratch = tempfile::NamedTempFile::new().map_err(CoverageError::Scratch)?;
        if !self
            .artifacts
            .get_raw(&task.id, scratch.path(), self.config.max_raw_bytes)
            .await?
        {
            return Err(CoverageError::RawMissing);
        }
        let limits = self.config.unpack.clone();
        let engine_clock = std::time::Instant::now();
        // Streamed into scratch files; the compressed copy goes as soon as it is read.
        let unpacked = blocking(move || {
            let file = std::fs::File::open(scratch.path()).map_err(CoverageError::Scratch)?;
            let u = unpack(std::io::BufReader::new(file), &limits);
            drop(scratch);
            u
        })
        .await?;
        // The data was written by the build that ran at the end of the session.
        let build = BuildId::parse(&c.end.build.build_id).ok();
        let needs_notes = unpacked.data.files.keys().any(|d| {
            !unpacked
                .notes
                .contains(&format!("{}.gcno", d.trim_end_matches(".gcda")))
        });
        let notes_file = match (&build, needs_notes) {
            (Some(b), true) => self.fetch(b, BuildPart::Notes).await?,
            _ => None,
        };
        let build_text = build.as_ref().map(|b| b.to_string());
        // The notes share the raw archive's budget: together never more than its cap.
        let notes_limits = UnpackLimits {
            total_bytes: self
                .config
                .unpack
                .total_bytes
                .saturating_sub(unpacked.bytes()),
            ..self.config.unpack.clone()
        };
        let task_id = task.id.clone();
        // Stage 2a, the engine: the notes archive is unpacked and dropped, then the units are
        // solved one at a time; the unpacked sets go when the model is made.
        let (cov, mut warnings, notes_key) = blocking(move || {
            let mut notes = BuildNotes {
                build: build_text,
                notes: None,
            };
            if let Some(f) = &notes_file {
                let key = notes.key();
                let file = std::fs::File::open(f.path()).map_err(CoverageError::Scratch)?;
                let published = unpack_notes(std::io::BufReader::new(file), &notes_limits)
                    .map_err(|e| {
                        e.into_coverage(|why| CoverageError::BadNotes(format!(
                            "{key} is not usable: {why}; publish the build's notes again with `ccaas build publish`"
                        )))
                    })?;
                notes.notes = Some(published);
            }
            // Each compressed download goes as soon as it is unpacked (docs/deploy.md counts
            // on it: scratch disk holds one archive and the unpacked sets, not every archive).
            drop(notes_file);
            let (cov, warnings) = model(&unpacked, &notes)?;
            info!(task_id = %task_id, stage = "engine", secs = engine_clock.elapsed().as_secs_f64(),
                files = cov.files.len(), lines = cov.totals.lines.total, "stage done");
            Ok((cov, warnings, notes.key()))
        })
        .await?;
        // Stage 2b, the report: the sources are fetched only now, once the unpacked sets are
        // gone from scratch disk.
        let render_clock = std::time::Instant::now();
        let sources_file = match &build {
            Some(b) => match self.fetch(b, BuildPart::Sources).await {
                Ok(f) => f,
                // Sources only decorate the pages: an oversized object is a warning.
                Err(CoverageError::Store(ccaas_app::Error::Corrupt(why))) => {
                    warnings.push(RenderWarning {
                        code: "sources_unusable",
                        message: format!("{why}; the pages list the instrumented lines only"),
                    });
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let facts = PageFacts {
            device: c.device.clone(),
            build: c.end.build.build_id.clone(),
            modules: c.modules.clone(),
            started: c.start.started_at.clone(),
            ended: c.end.ended_at.clone(),
            warnings: c.end.warnings.iter().map(|w| w.message.clone()).collect(),
        };
        // The index's facts: the end task's, and its creation time as the session's recency
        // (never the clock, so a re-render gives the same bytes).
        let meta = ccaas_impact::IndexMeta {
            session: c.session.to_string(),
            task: task.id.to_string(),
            name: task.name.clone().unwrap_or_default(),
            user: task.user.clone(),
            build: c.end.build.build_id.clone(),
            device: c.device.clone(),
            ended_ms: task.id.unix_ms(),
        };
        let indexed = BuildId::parse(&c.end.build.build_id).is_ok();
        let source_limits = self.config.sources.clone();
        let max_report_bytes = self.config.max_report_bytes;
        let task_id = task.id.clone();
        // The task's creation time stamps the Cobertura file: never the clock, so a re-render
        // gives the same bytes.
        let timestamp = task.id.unix_ms() / 1000;
        blocking(move || {
            let key = notes_key.replace("notes.tar.gz", "sources.tar.gz");
            let sources = sources_for(
                &cov,
                sources_file.as_ref().map(|f| f.path()),
                &source_limits,
                &key,
                &mut warnings,
            )?;
            drop(sources_file);
            // From the same model as the report's files, so its lines are the report's.
            let index = match indexed {
                true => Some(crate::index::session_index(&cov, meta)?),
                false => None,
            };
            let r = write_report(
                &cov,
                &facts,
                warnings,
                &sources,
                timestamp,
                max_report_bytes,
            );
            info!(task_id = %task_id, stage = "render", secs = render_clock.elapsed().as_secs_f64(),
                ok = r.is_ok(), "stage done");
            Ok((r?, index))
        })
        .await
    }

    /// Downloads a build's part into a scratch file; `None` when it was never published.
    pub(crate) async fn fetch(
        &self,
        build: &BuildId,
        part: BuildPart,
    ) -> Result<Option<tempfile::NamedTempFile>, CoverageError> {
        let scratch = tempfile::NamedTempFile::new().map_err(CoverageError::Scratch)?;
        let found = self
            .builds
            .get_part(build, part, scratch.path(), self.config.max_build_bytes)
            .await;
        match found {
            Ok(true) => Ok(Some(scratch)),
            Ok(false) => Ok(None),
            // An oversized notes archive is the user's upload: name it.
            Err(ccaas_app::Error::Corrupt(why)) if part == BuildPart::Notes => {
                Err(CoverageError::BadNotes(format!(
                    "{why}; publish smaller notes with `ccaas build publish`"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn result(&self, id: &TaskId, c: &Collected, r: &Rendered) -> Value {
        let mut warnings: Vec<Value> = c
            .end
            .warnings
            .iter()
            .map(|w| json!({"code": w.code, "module": w.module, "message": w.message}))
            .collect();
        let mut out = self.report_result_with(id, r, &mut warnings);
        out["session"] = json!(c.session);
        out["build"] = json!(c.end.build.build_id);
        out
    }

    /// A published report's part of a task result: `link`, `summary`, `files` and the
    /// render's `warnings` (at most [`MAX_WARNINGS`]).
    pub(crate) fn report_result(&self, id: &TaskId, r: &Rendered) -> Value {
        self.report_result_with(id, r, &mut Vec::new())
    }

    /// [`Self::report_result`] with `first` warnings before the render's.
    fn report_result_with(&self, id: &TaskId, r: &Rendered, first: &mut Vec<Value>) -> Value {
        let base = if self.config.site_url.is_empty() {
            format!("reports/{id}/")
        } else {
            format!(
                "{}/reports/{id}/",
                self.config.site_url.trim_end_matches('/')
            )
        };
        let counter = |c: ccaas_gcov::Counter| {
            json!({
                "covered": c.hit,
                "total": c.total,
                "percent": (c.percent() * 100.0).round() / 100.0,
            })
        };
        let mut warnings: Vec<Value> = std::mem::take(first)
            .into_iter()
            .chain(
                r.warnings
                    .iter()
                    .map(|w| json!({"code": w.code, "message": w.message})),
            )
            .collect();
        if warnings.len() > MAX_WARNINGS {
            let more = warnings.len() - (MAX_WARNINGS - 1);
            warnings.truncate(MAX_WARNINGS - 1);
            warnings.push(json!({"code": "more", "message": format!("{more} more warnings")}));
        }
        json!({
            "link": format!("{base}index.html"),
            "summary": {
                "lines": counter(r.totals.lines),
                "functions": counter(r.totals.functions),
                "branches": counter(r.totals.branches),
            },
            "files": {
                "lcov": format!("{base}coverage.info"),
                "cobertura": format!("{base}cobertura.xml"),
                "json": format!("{base}summary.json"),
                "badge": format!("{base}badge.svg"),
            },
            "warnings": warnings,
        })
    }

    /// Appends this run's device commands to `logs/<id>.jsonl`. A retry keeps the earlier
    /// runs' records; past the cap the oldest lines go. The log is diagnostic: a store failure
    /// here is logged and does not fail the task.
    async fn append_log(&self, id: &TaskId, device: &impl Device) {
        let records = device.take_log();
        if records.is_empty() {
            return;
        }
        let mut buf = match self.logs.read_log(id).await {
            Ok(Some(b)) => b,
            Ok(None) => Vec::new(),
            Err(e) => {
                warn!(task_id = %id, error = %e, "could not read the command log; appending to nothing");
                Vec::new()
            }
        };
        for r in &records {
            if let Ok(line) = serde_json::to_vec(r) {
                buf.extend_from_slice(&line);
                buf.push(b'\n');
            }
        }
        if buf.len() > self.config.max_log_bytes {
            let cut = buf.len() - self.config.max_log_bytes;
            let start = buf[cut..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |p| cut + p + 1);
            buf.drain(..start);
        }
        if let Err(e) = self.logs.write_log(id, buf).await {
            warn!(task_id = %id, error = %e, "could not write the command log");
        }
    }
}

/// Runs CPU-bound work (unpacking, the engine, the writers) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CoverageError> + Send + 'static,
) -> Result<T, CoverageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CoverageError::Report(format!("render thread: {e}")))?
}
