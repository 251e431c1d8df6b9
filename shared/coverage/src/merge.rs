//! The merge task (`code-coverage-merge`): several end tasks' raw archives of one build through
//! the same engine into one report, published like an end's, with its own line index.
//!
//! No device and no session: each end task's collect record (`raw/<id>/facts.json`) gives its
//! build, and its raw archive (`raw/<id>/gcda.tar.gz`) its counters. The archives are unpacked
//! into scratch files under one budget for them all, then one engine pass
//! ([`crate::render::model_of`]) puts each object's `.gcda` of every session into one unit,
//! whose counters the engine sums before solving it, as for several runs of one program.
//! Inputs are read in the order the task lists them and nothing reads the clock, so a retry
//! publishes the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use ccaas_app::ports::{ReportSite, SiteTotals};
use ccaas_app::{ArtifactStore, BuildPart, BuildStore, IndexStore, LogStore, SessionStore};
use ccaas_domain::{BuildId, Task, TaskId, rfc3339};
use serde_json::{Value, json};
use tracing::info;

use crate::connector::Connector;
use crate::error::CoverageError;
use crate::render::{BuildNotes, PageFacts, RenderWarning, model_of, sources_for, write_report};
use crate::runner::{Collected, CoverageRunner, blocking};
use crate::unpack::{UnpackLimits, unpack, unpack_notes};

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
    /// Merge: read each end task's record (all of one build, else `mixed_builds`), unpack every
    /// raw archive (one budget for all, else `too_large`), run the engine once over them,
    /// publish the report, write the merge's line index. Idempotent: a retry writes the same
    /// bytes. Errors: permanent `not_mergeable`, `mixed_builds`, `too_large` and the render's
    /// codes; retryable store and scratch failures.
    pub(crate) async fn merge(&self, task: &Task) -> Result<Value, CoverageError> {
        if task.merge.len() < 2 {
            return Err(CoverageError::NotMergeable(
                "a merge lists at least two end tasks".into(),
            ));
        }
        // The records first: they are small and decide the build before any archive is read.
        let mut ends: Vec<(TaskId, Collected)> = Vec::with_capacity(task.merge.len());
        for id in &task.merge {
            let Some(bytes) = self.artifacts.get_facts(id).await? else {
                return Err(CoverageError::NotMergeable(format!(
                    "task {id} has no collected coverage data: only a code-coverage-end task \
                     that collected its session can be merged, while its raw data is kept \
                     (the bucket's raw/ expiry)"
                )));
            };
            let c = serde_json::from_slice::<Collected>(&bytes).map_err(|_| {
                CoverageError::NotMergeable(format!(
                    "task {id} is not a code-coverage-end task with collected coverage data"
                ))
            })?;
            ends.push((id.clone(), c));
        }
        let mut builds: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (id, c) in &ends {
            builds
                .entry(c.end.build.build_id.as_str())
                .or_default()
                .push(id.to_string());
        }
        if builds.len() > 1 {
            let each: Vec<String> = builds
                .iter()
                .map(|(b, ids)| format!("{b} ({})", ids.join(", ")))
                .collect();
            return Err(CoverageError::MixedBuilds(format!(
                "the end tasks ran on {} builds: {}; a merge takes the end tasks of one build",
                builds.len(),
                each.join("; ")
            )));
        }
        let build_text = ends[0].1.end.build.build_id.clone();
        let build = BuildId::parse(&build_text).map_err(|_| {
            CoverageError::NotMergeable(format!(
                "the end tasks' build id {build_text:?} is not a valid build id, so their \
                 notes cannot be matched"
            ))
        })?;
        // One render stage at a time per process, as an end's: the scratch disk holds one
        // archive's unpacked files (and the build's notes) at a time.
        let _slot = self
            .config
            .render_gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| CoverageError::Report(format!("render gate: {e}")))?;
        let clock = std::time::Instant::now();
        // Every archive unpacked into scratch files (memory holds their indexes), under one
        // budget for all of them together: the disk an end's render may take.
        let mut sets = Vec::with_capacity(ends.len());
        let total = self.config.unpack.total_bytes;
        let mut left = total;
        for (id, _) in &ends {
            let scratch = tempfile::NamedTempFile::new().map_err(CoverageError::Scratch)?;
            if !self
                .artifacts
                .get_raw(id, scratch.path(), self.config.max_raw_bytes)
                .await?
            {
                return Err(CoverageError::NotMergeable(format!(
                    "task {id}'s raw coverage archive is missing"
                )));
            }
            let limits = UnpackLimits {
                total_bytes: left,
                ..self.config.unpack.clone()
            };
            let unpacked = blocking(move || {
                let file = std::fs::File::open(scratch.path()).map_err(CoverageError::Scratch)?;
                let u = unpack(std::io::BufReader::new(file), &limits);
                drop(scratch);
                u
            })
            .await
            .map_err(|e| match e {
                // Named as the merge's: the budget is for all its sessions together.
                CoverageError::TooLarge { seen, .. } => CoverageError::TooLarge {
                    what: format!(
                        "the merged sessions' coverage data (unpacked, up to end task {id})"
                    ),
                    limit: total,
                    seen: seen.saturating_add(total - left),
                },
                other => other,
            })?;
            left = left.saturating_sub(unpacked.bytes());
            sets.push(unpacked);
        }
        let needs_notes = sets.iter().any(|u| {
            u.data.files.keys().any(|d| {
                !sets.iter().any(|v| {
                    v.notes
                        .contains(&format!("{}.gcno", d.trim_end_matches(".gcda")))
                })
            })
        });
        let mut notes = BuildNotes {
            build: Some(build_text.clone()),
            notes: None,
        };
        if needs_notes && let Some(f) = self.fetch(&build, BuildPart::Notes).await? {
            let limits = UnpackLimits {
                total_bytes: left,
                ..self.config.unpack.clone()
            };
            let key = notes.key();
            notes.notes = Some(
                blocking(move || {
                    let file = std::fs::File::open(f.path()).map_err(CoverageError::Scratch)?;
                    unpack_notes(std::io::BufReader::new(file), &limits).map_err(|e| {
                        e.into_coverage(|why| {
                            CoverageError::BadNotes(format!("{key} is not usable: {why}"))
                        })
                    })
                })
                .await?,
            );
        }
        // One engine pass over every archive: each object's `.gcda` of all sessions in one
        // unit, their counters summed before it is solved. The unpacked sets go with it.
        let (cov, mut warnings) = blocking(move || {
            let refs: Vec<&crate::unpack::Unpacked> = sets.iter().collect();
            model_of(&refs, &notes)
        })
        .await?;
        info!(task_id = %task.id, stage = "engine", secs = clock.elapsed().as_secs_f64(),
            merged = ends.len(), files = cov.files.len(), lines = cov.totals.lines.total,
            "stage done");

        let render_clock = std::time::Instant::now();
        let sources_file = match self.fetch(&build, BuildPart::Sources).await {
            Ok(f) => f,
            Err(CoverageError::Store(ccaas_app::Error::Corrupt(why))) => {
                warnings.push(RenderWarning {
                    code: "sources_unusable",
                    message: format!("{why}; the pages list the instrumented lines only"),
                });
                None
            }
            Err(e) => return Err(e),
        };
        let devices: BTreeSet<&str> = ends.iter().map(|(_, c)| c.device.as_str()).collect();
        let modules: BTreeSet<String> = ends
            .iter()
            .flat_map(|(_, c)| c.modules.iter().cloned())
            .collect();
        let facts = PageFacts {
            device: format!(
                "merge of {} sessions on {}",
                ends.len(),
                devices.into_iter().collect::<Vec<_>>().join(", ")
            ),
            build: build_text.clone(),
            modules: modules.into_iter().collect(),
            started: ends
                .iter()
                .map(|(_, c)| c.start.started_at.clone())
                .min()
                .unwrap_or_default(),
            ended: ends
                .iter()
                .map(|(_, c)| c.end.ended_at.clone())
                .max()
                .unwrap_or_default(),
            warnings: ends
                .iter()
                .flat_map(|(id, c)| {
                    c.end
                        .warnings
                        .iter()
                        .map(move |w| format!("end task {id}: {}", w.message))
                })
                .collect(),
        };
        // The merge's own line index: the merge is its session, its creation time its recency.
        let meta = ccaas_impact::IndexMeta {
            session: task.id.to_string(),
            task: task.id.to_string(),
            name: task.name.clone().unwrap_or_default(),
            user: task.user.clone(),
            build: build_text.clone(),
            device: String::new(),
            ended_ms: task.id.unix_ms(),
        };
        let source_limits = self.config.sources.clone();
        let max_report_bytes = self.config.max_report_bytes;
        let timestamp = task.id.unix_ms() / 1000;
        let sources_key = format!("builds/{build}/sources.tar.gz");
        let (rendered, index) = blocking(move || {
            let sources = sources_for(
                &cov,
                sources_file.as_ref().map(|f| f.path()),
                &source_limits,
                &sources_key,
                &mut warnings,
            )?;
            drop(sources_file);
            let index = crate::index::session_index(&cov, meta)?;
            let r = write_report(
                &cov,
                &facts,
                warnings,
                &sources,
                timestamp,
                max_report_bytes,
            )?;
            Ok((r, index))
        })
        .await?;
        info!(task_id = %task.id, stage = "render", secs = render_clock.elapsed().as_secs_f64(),
            "stage done");
        let t = rendered.totals;
        let totals = SiteTotals {
            lines: (t.lines.hit, t.lines.total),
            functions: (t.functions.hit, t.functions.total),
            branches: (t.branches.hit, t.branches.total),
        };
        crate::publish::publish(&self.site, &task.id, rendered.files.clone(), totals).await?;
        // After the report, as an end's: the index never names a report that is not there.
        self.indexes
            .put_merged_index(&build, &task.id, index)
            .await?;
        info!(task_id = %task.id, merged = ends.len(), build = %build, "coverage reports merged");
        let mut result = self.report_result(&task.id, &rendered);
        result["build"] = json!(build_text);
        result["merged"] = json!(task.merge);
        result["sessions"] = json!(ends.iter().map(|(_, c)| &c.session).collect::<Vec<_>>());
        result["ended_at"] = json!(rfc3339(task.id.unix_ms()));
        Ok(result)
    }
}
