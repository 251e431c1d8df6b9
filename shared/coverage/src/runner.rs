//! [`CoverageRunner`]: the start and end tasks, stage by stage, each stage idempotent.

use ccaas_app::ports::{ReportSite, SiteFile, SiteTotals};
use ccaas_app::{
    ArtifactStore, DeviceSession, LogStore, Opened, RunError, SessionStore, TaskRunner, device_key,
    now_ms,
};
use ccaas_device::{Device, EndFacts, Flush, SessionFacts};
use ccaas_domain::{DeviceAccess, Task, TaskId, TaskType, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::connector::Connector;
use crate::error::CoverageError;
use crate::render::{MAX_WARNINGS, PageFacts, Rendered, render};
use crate::unpack::{UnpackLimits, unpack};

/// Runner settings.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Base of report links (`CCAAS_SITE_URL`), without the trailing slash; relative links
    /// (`reports/<id>/index.html`) when empty.
    pub site_url: String,
    /// Largest raw archive read back for rendering (compressed bytes).
    pub max_raw_bytes: u64,
    /// Caps on the unpacked archive (the memory rendering may take).
    pub unpack: UnpackLimits,
    /// Largest command log kept per task; older records are dropped first.
    pub max_log_bytes: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            site_url: String::new(),
            max_raw_bytes: 1 << 30,
            unpack: UnpackLimits::default(),
            max_log_bytes: 4 << 20,
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

/// Runs coverage tasks over a device connector and the stores.
#[derive(Clone, Debug)]
pub struct CoverageRunner<C, S, A, P, L> {
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
    /// Settings.
    pub config: RunnerConfig,
}

impl<C, S, A, P, L> TaskRunner for CoverageRunner<C, S, A, P, L>
where
    C: Connector,
    S: SessionStore,
    A: ArtifactStore,
    P: ReportSite,
    L: LogStore,
{
    async fn run(&self, task: &Task, access: &DeviceAccess) -> Result<Value, RunError> {
        let r = match task.task_type {
            TaskType::CoverageStart => self.start(task, access).await,
            TaskType::CoverageEnd => self.end(task, access).await,
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
    json!({
        "session": s.id,
        "build": build,
        "modules": s.modules,
        "started_at": started,
    })
}

impl<C, S, A, P, L> CoverageRunner<C, S, A, P, L>
where
    C: Connector,
    S: SessionStore,
    A: ArtifactStore,
    P: ReportSite,
    L: LogStore,
{
    /// Start: check the device's session, reset the counters, record the session.
    async fn start(&self, task: &Task, access: &DeviceAccess) -> Result<Value, CoverageError> {
        let key = device_key(&task.device, task.port);
        // Checked before any SSH: a busy device is refused without touching its counters, and
        // a retry of this same task after its session was recorded (a crash before the status
        // write) returns the recorded session without resetting the counters a second time.
        if let Some(cur) = self.sessions.current(&key).await? {
            if cur.id == task.id {
                info!(task_id = %task.id, "session already recorded by an earlier run");
                return Ok(start_result(&cur));
            }
            return Err(CoverageError::SessionOpen {
                device: key,
                session: cur.id.to_string(),
            });
        }
        let modules: Vec<String> = task.modules.iter().map(|m| m.as_str().to_owned()).collect();
        let device = self.connector.device(access);
        let started = device.start(&modules).await;
        self.append_log(&task.id, &device).await;
        // Reset before recording: a crash in between leaves no record, so the retry resets
        // again (harmless: nothing has run since) and records then. The record is a
        // conditional write, so two starts can never both own the device.
        let facts = started?;
        let rec = DeviceSession {
            id: task.id.clone(),
            modules,
            facts: serde_json::to_value(&facts)
                .map_err(|e| CoverageError::Corrupt(e.to_string()))?,
            opened: rfc3339(now_ms()),
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
        let collected = match self.artifacts.get_facts(&task.id).await? {
            // Stage 1 finished in an earlier run: the archive and its facts are in the store,
            // and the device is not touched again.
            Some(bytes) => serde_json::from_slice::<Collected>(&bytes)
                .map_err(|e| CoverageError::Corrupt(format!("facts.json: {e}")))?,
            None => self.collect(task, access).await?,
        };
        let rendered = match self.render(task, &collected).await {
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
        let files = rendered
            .files
            .iter()
            .map(|f| SiteFile {
                name: f.name.clone(),
                bytes: f.bytes.clone(),
                content_type: f.content_type.to_string(),
            })
            .collect();
        let t = rendered.totals;
        let totals = SiteTotals {
            lines: (t.lines.hit, t.lines.total),
            functions: (t.functions.hit, t.functions.total),
            branches: (t.branches.hit, t.branches.total),
        };
        self.site.publish(&task.id, files, totals).await?;
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
        let current = self.sessions.current(&key).await?;
        let session = match (&task.session, current) {
            (Some(want), Some(cur)) if &cur.id == want => cur,
            (Some(want), _) => {
                return Err(CoverageError::NoSession(format!(
                    "session {want} is not open on device {key}"
                )));
            }
            (None, Some(cur)) => cur,
            (None, None) => {
                return Err(CoverageError::NoSession(format!(
                    "device {key} has no open coverage session"
                )));
            }
        };
        let start: SessionFacts = serde_json::from_value(session.facts.clone())
            .map_err(|e| CoverageError::Corrupt(format!("session record: {e}")))?;
        let flush = match task.flush {
            ccaas_domain::Flush::Signal => Flush::Signal,
            ccaas_domain::Flush::Restart => Flush::Restart,
        };
        // The archive streams to a scratch file, never to memory; the driver caps its size.
        let scratch = tempfile::NamedTempFile::new().map_err(CoverageError::Scratch)?;
        let file = scratch.reopen().map_err(CoverageError::Scratch)?;
        let mut sink = tokio::io::BufWriter::new(tokio::fs::File::from_std(file));
        let device = self.connector.device(access);
        let ended = device.end(&start, flush, &mut sink).await;
        self.append_log(&task.id, &device).await;
        let end = ended?;
        sink.flush().await.map_err(CoverageError::Scratch)?;
        drop(sink);
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

    /// Stage 2's input and engine: the raw archive from the store (not from the device), so
    /// a retry renders the same bytes.
    async fn render(&self, task: &Task, c: &Collected) -> Result<Rendered, CoverageError> {
        let scratch = tempfile::NamedTempFile::new().map_err(CoverageError::Scratch)?;
        if !self
            .artifacts
            .get_raw(&task.id, scratch.path(), self.config.max_raw_bytes)
            .await?
        {
            return Err(CoverageError::RawMissing);
        }
        let facts = PageFacts {
            device: c.device.clone(),
            build: c.end.build.build_id.clone(),
            modules: c.modules.clone(),
            started: c.start.started_at.clone(),
            ended: c.end.ended_at.clone(),
            warnings: c.end.warnings.iter().map(|w| w.message.clone()).collect(),
        };
        let limits = self.config.unpack.clone();
        // The task's creation time stamps the Cobertura file: never the clock, so a re-render
        // gives the same bytes.
        let timestamp = task.id.unix_ms() / 1000;
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(scratch.path()).map_err(CoverageError::Scratch)?;
            let unpacked = unpack(std::io::BufReader::new(file), &limits)?;
            render(&unpacked, &facts, timestamp)
        })
        .await
        .map_err(|e| CoverageError::Report(format!("render thread: {e}")))?
    }

    fn result(&self, id: &TaskId, c: &Collected, r: &Rendered) -> Value {
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
        let mut warnings: Vec<Value> = c
            .end
            .warnings
            .iter()
            .map(|w| json!({"code": w.code, "module": w.module, "message": w.message}))
            .chain(
                r.warnings
                    .iter()
                    .map(|m| json!({"code": "engine", "message": m})),
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
            "session": c.session,
            "build": c.end.build.build_id,
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
