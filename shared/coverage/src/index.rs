//! The session's coverage index (`ccaas_impact::index`) made from the engine's model, the same
//! model the report's files are written from, and written through the [`IndexStore`] port with
//! the newest-build records the impact query starts from when no build is given.

use ccaas_app::ports::{IndexStore, LatestBuild};
use ccaas_domain::{BuildId, TaskId};
use ccaas_gcov::Coverage;
use ccaas_impact::{IndexBuilder, IndexMeta};

use crate::CoverageError;

/// The index bytes of a session's model: per file, every instrumented line and the lines whose
/// count is above zero. Deterministic (the model is in path and line order).
/// Errors: [`CoverageError::Report`] when the index cannot hold the model.
pub fn session_index(cov: &Coverage, meta: IndexMeta) -> Result<Vec<u8>, CoverageError> {
    let mut b = IndexBuilder::new(meta);
    for (path, f) in &cov.files {
        b.file(
            path,
            f.lines.iter().map(|l| l.line),
            f.lines.iter().filter(|l| l.is_covered()).map(|l| l.line),
        );
    }
    b.finish()
        .map_err(|e| CoverageError::Report(format!("the coverage index: {e}")))
}

/// Writes the index of `session`, then records `build` as the newest indexed build of every
/// device and of `device` unless a later end task's build is recorded already. Idempotent: a
/// repeat writes the same index and leaves the records as they are (a concurrent end of
/// another session may still win the record: the last writer wins).
/// Errors: [`CoverageError::Store`].
pub async fn write_index<I: IndexStore>(
    store: &I,
    build: &BuildId,
    session: &TaskId,
    device: &str,
    ended_ms: u64,
    bytes: Vec<u8>,
) -> Result<(), CoverageError> {
    store.put_index(build, session, bytes).await?;
    let latest = LatestBuild {
        build: build.clone(),
        ended_ms,
    };
    for scope in [None, Some(device)] {
        let newer = store
            .latest(scope)
            .await
            .ok()
            .flatten()
            .is_some_and(|l| l.ended_ms > ended_ms);
        if !newer {
            store.put_latest(scope, &latest).await?;
        }
    }
    Ok(())
}
