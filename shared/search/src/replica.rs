//! Copies of one index between the single writer's directory and any number of readers'
//! directories, through the [`IndexFiles`] port (S3 `index/search/` on AWS; docs/design.md,
//! "Search"). tantivy's segment files never change once written and `meta.json` names the
//! files of the last commit, so: [`push`] uploads the new files the local `meta.json` names,
//! then `meta.json` last; [`pull`] downloads a newer `meta.json` and the files it names that
//! the reader lacks. Files no `meta.json` names any more are deleted by [`push`] only
//! [`GRACE_MS`] after they were first seen unnamed (recorded in `retired.json`), so a reader
//! that read the previous `meta.json` still finds its files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ccaas_app::Error;
use ccaas_app::ports::IndexFiles;

/// The commit point: the last file [`push`] uploads, the first [`pull`] reads.
pub const META: &str = "meta.json";
/// When each unnamed file was first seen unnamed (Unix ms), kept beside the index.
pub const RETIRED: &str = "retired.json";
/// How long an unnamed file stays on the store: longer than any reader takes to download the
/// files of the `meta.json` it read.
pub const GRACE_MS: u64 = 15 * 60 * 1000;
/// The largest file either side downloads.
const MAX_FILE_BYTES: u64 = 4 << 30;
/// The largest `meta.json` or `retired.json`.
const MAX_META_BYTES: u64 = 16 << 20;

fn io(e: std::io::Error) -> Error {
    Error::Unavailable {
        backend: "search index directory",
        source: Box::new(e),
    }
}

/// The files a `meta.json` names: those whose name starts with one of its segments' ids (the
/// segment's components and its delete files). Errors: [`Error::Corrupt`] when it is not
/// tantivy's `meta.json`.
pub fn named_segments(meta: &[u8]) -> Result<BTreeSet<String>, Error> {
    let v: serde_json::Value = serde_json::from_slice(meta)
        .map_err(|e| Error::Corrupt(format!("meta.json is not JSON: {e}")))?;
    let segments = v
        .get("segments")
        .and_then(|s| s.as_array())
        .ok_or_else(|| Error::Corrupt("meta.json has no segments".into()))?;
    segments
        .iter()
        .map(|s| {
            s.get("segment_id")
                .and_then(|i| i.as_str())
                .map(|i| i.replace('-', ""))
                .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| Error::Corrupt("meta.json names a segment without an id".into()))
        })
        .collect()
}

fn is_named(name: &str, segments: &BTreeSet<String>) -> bool {
    name.split_once('.')
        .is_some_and(|(stem, _)| segments.contains(stem))
}

/// What [`push`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Files uploaded, `meta.json` included.
    pub uploaded: usize,
    /// Unnamed files deleted after their grace.
    pub deleted: usize,
}

/// Uploads the committed index of `dir` (the writer's): each file its `meta.json` names that
/// the store lacks, then `meta.json`; then retires the store's unnamed files and deletes those
/// retired for [`GRACE_MS`] before `now_ms`. Safe to repeat: files are immutable, so a repeat
/// uploads only `meta.json` again. Errors: [`Error::Unavailable`], [`Error::Corrupt`] for a
/// directory without a valid `meta.json`.
pub async fn push<F: IndexFiles>(files: &F, dir: &Path, now_ms: u64) -> Result<Pushed, Error> {
    let meta = std::fs::read(dir.join(META)).map_err(io)?;
    let segments = named_segments(&meta)?;
    let remote: BTreeSet<String> = files.list().await?.into_iter().map(|f| f.name).collect();
    let mut pushed = Pushed::default();
    let mut local: Vec<String> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_named(n, &segments))
        .collect();
    local.sort();
    for name in &local {
        if !remote.contains(name) {
            files.put(name, &dir.join(name)).await?;
            pushed.uploaded += 1;
        }
    }
    files.put(META, &dir.join(META)).await?;
    pushed.uploaded += 1;

    // Retire what the new commit no longer names; delete what has been retired long enough.
    let scratch = dir.join(".retired.download");
    let mut retired: BTreeMap<String, u64> =
        match files.get(RETIRED, &scratch, MAX_META_BYTES).await? {
            Some(_) => {
                let bytes = std::fs::read(&scratch).map_err(io)?;
                serde_json::from_slice(&bytes).unwrap_or_default()
            }
            None => BTreeMap::new(),
        };
    let before = retired.clone();
    retired.retain(|name, _| remote.contains(name) && !is_named(name, &segments));
    for name in &remote {
        if name != META && name != RETIRED && !is_named(name, &segments) {
            retired.entry(name.clone()).or_insert(now_ms);
        }
    }
    let expired: Vec<String> = retired
        .iter()
        .filter(|(_, since)| now_ms.saturating_sub(**since) >= GRACE_MS)
        .map(|(n, _)| n.clone())
        .collect();
    for name in &expired {
        files.delete(name).await?;
        retired.remove(name);
        pushed.deleted += 1;
    }
    if retired != before {
        let json = serde_json::to_vec(&retired).map_err(|e| Error::Corrupt(e.to_string()))?;
        std::fs::write(&scratch, json).map_err(io)?;
        files.put(RETIRED, &scratch).await?;
    }
    let _ = std::fs::remove_file(&scratch);
    Ok(pushed)
}

/// Brings the index in `dir` (a reader's, or the writer's before it opens) up to the store's
/// last commit, unless the store's `meta.json` still has the tag `known`. Answers the new tag,
/// or `None` when nothing changed (or the store has no index yet). Downloads only the files
/// `dir` lacks, writes `meta.json` last (so the directory always holds a whole commit), then
/// removes the files it no longer names. Errors: [`Error::Unavailable`]; [`Error::Corrupt`]
/// for a `meta.json` that is not tantivy's.
pub async fn pull<F: IndexFiles>(
    files: &F,
    dir: &Path,
    known: Option<&str>,
) -> Result<Option<String>, Error> {
    let Some(tag) = files.tag(META).await? else {
        return Ok(None);
    };
    if known == Some(tag.as_str()) {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let staged = dir.join(".meta.json.download");
    let Some(tag) = files.get(META, &staged, MAX_META_BYTES).await? else {
        return Ok(None);
    };
    let segments = named_segments(&std::fs::read(&staged).map_err(io)?)?;
    let remote = files.list().await?;
    for f in remote.iter().filter(|f| is_named(&f.name, &segments)) {
        let path = dir.join(&f.name);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == f.size) {
            continue;
        }
        let part = dir.join(format!(".{}.download", f.name));
        if files.get(&f.name, &part, MAX_FILE_BYTES).await?.is_none() {
            return Err(Error::Corrupt(format!(
                "meta.json names {} but the store has no such file",
                f.name
            )));
        }
        std::fs::rename(&part, &path).map_err(io)?;
    }
    std::fs::rename(&staged, dir.join(META)).map_err(io)?;
    for entry in std::fs::read_dir(dir).map_err(io)?.flatten() {
        if let Ok(name) = entry.file_name().into_string()
            && name != META
            && !name.starts_with('.')
            && !is_named(&name, &segments)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(Some(tag))
}

/// The single writer's step (the body of the stream-fed `functions/indexer` Lambda): brings
/// `dir` up to the store's last commit, opens the writer there, upserts the documents of `ids` (each task as stored now, with its log; a task gone
/// from the store is skipped), and pushes the new commit. Answers how many documents it wrote.
/// Idempotent: the same ids again write the same documents. Must run in one process at a
/// time per store (reserved concurrency 1): two would each push a commit of their own.
/// Errors: [`Error::Unavailable`], [`Error::Corrupt`].
pub async fn apply<F, S, L>(
    files: &F,
    dir: &Path,
    store: &S,
    logs: &L,
    ids: &[ccaas_domain::TaskId],
    now_ms: u64,
) -> Result<usize, Error>
where
    F: IndexFiles,
    S: ccaas_app::TaskStore,
    L: ccaas_app::LogStore,
{
    use ccaas_app::TaskSearch;
    pull(files, dir, None).await?;
    let docs = ccaas_app::search::docs_of(store, logs, ids).await?;
    let index = crate::TantivySearch::open(dir)?;
    index.upsert(&docs).await?;
    drop(index);
    push(files, dir, now_ms).await?;
    Ok(docs.len())
}

/// How often a reader asks the store whether a newer commit exists (one `HEAD meta.json`).
pub const REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// The reader side as a [`TaskSearch`]: searches a local copy in `dir` that it brings up to
/// the store's last commit at most every [`REFRESH`] (a `HEAD` of `meta.json`, then only the
/// new files). What the submit Lambda serves `GET /v1/search` from with
/// `CCAAS_SEARCH=tantivy` (docs/design.md, "Search"). Before the store holds a first commit,
/// every search answers no hits (no task has been indexed yet). Upserts are refused: the
/// store has one writer.
pub struct ReplicaSearch<F> {
    files: F,
    dir: std::path::PathBuf,
    state: tokio::sync::Mutex<Option<Loaded>>,
}

struct Loaded {
    index: crate::TantivySearch,
    tag: String,
    checked: std::time::Instant,
}

impl<F> ReplicaSearch<F> {
    /// A reader of `files` that keeps its copy in `dir` (created on the first search).
    pub fn new(files: F, dir: std::path::PathBuf) -> Self {
        ReplicaSearch {
            files,
            dir,
            state: tokio::sync::Mutex::new(None),
        }
    }
}

impl<F: IndexFiles> ReplicaSearch<F> {
    /// The current index, pulled and reloaded when the store has a newer commit and the last
    /// check is older than [`REFRESH`]; `None` while the store holds no commit yet (a new
    /// stack before its first indexed task).
    async fn current(&self) -> Result<Option<crate::TantivySearch>, Error> {
        let mut state = self.state.lock().await;
        if let Some(l) = state.as_ref()
            && l.checked.elapsed() < REFRESH
        {
            return Ok(Some(l.index.clone()));
        }
        let known = state.as_ref().map(|l| l.tag.clone());
        match pull(&self.files, &self.dir, known.as_deref()).await? {
            Some(tag) => {
                let index = match state.take() {
                    Some(l) => {
                        l.index.reload()?;
                        l.index
                    }
                    None => crate::TantivySearch::open_reader(&self.dir)?,
                };
                *state = Some(Loaded {
                    index: index.clone(),
                    tag,
                    checked: std::time::Instant::now(),
                });
                Ok(Some(index))
            }
            None => match state.as_mut() {
                Some(l) => {
                    l.checked = std::time::Instant::now();
                    Ok(Some(l.index.clone()))
                }
                None => Ok(None),
            },
        }
    }
}

impl<F: IndexFiles> ccaas_app::TaskSearch for ReplicaSearch<F> {
    async fn upsert(&self, _docs: &[ccaas_app::SearchDoc]) -> Result<(), Error> {
        Err(crate::SearchError::ReadOnly.into())
    }

    async fn search(
        &self,
        query: &ccaas_domain::SearchQuery,
    ) -> Result<ccaas_app::SearchPage, Error> {
        match self.current().await? {
            Some(index) => index.search(query).await,
            // Nothing indexed yet: no task matches.
            None => Ok(ccaas_app::SearchPage {
                hits: Vec::new(),
                total: 0,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meta_json_names_its_segments_files_and_nothing_else() {
        let meta = br#"{"index_settings":{},"segments":[{"segment_id":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","max_doc":3,"deletes":null}],"schema":[],"opstamp":4}"#;
        let named = named_segments(meta).unwrap();
        assert!(is_named("0f1e2d3c4b5a69788796a5b4c3d2e1f0.idx", &named));
        assert!(is_named("0f1e2d3c4b5a69788796a5b4c3d2e1f0.4.del", &named));
        assert!(!is_named("aaaa2d3c4b5a69788796a5b4c3d2e1f0.idx", &named));
        assert!(!is_named("meta.json", &named));
        for bad in [
            &b"{}"[..],
            b"not json",
            br#"{"segments":[{"segment_id":"../x"}]}"#,
        ] {
            assert!(matches!(named_segments(bad), Err(Error::Corrupt(_))));
        }
    }
}
