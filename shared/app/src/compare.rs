//! The compare use case (`GET /v1/compare?base=TASK&head=TASK`): the lines a head session
//! newly covered and lost against a base session of the same build, per file, and both totals,
//! from the two sessions' coverage indexes ([`IndexStore`]) and the pure compare of
//! [`ccaas_impact::compare`].
//!
//! A task is mapped to its index by [`index_of`], the one place that knows where a task's index
//! lies (today: a succeeded `code-coverage-end` task's session index). Both indexes are read
//! part by part ([`ccaas_impact::compare::parts`]) in byte ranges of at most [`CHUNK`] bytes per
//! side, so memory holds a chunk of each index and the files kept for the answer (at most
//! [`MAX_FILES`] files of at most [`MAX_LINES`] line numbers per list), whatever the indexes'
//! sizes.

use ccaas_domain::submission::FieldError;
use ccaas_domain::{BuildId, Status, Task, TaskId, TaskType};
use ccaas_impact::compare::{Compare, in_part, parts};
use ccaas_impact::index::Header;
use ccaas_impact::{FileEntry, LineTotals};

use crate::Error;
use crate::impact::HEAD_READ;
use crate::ports::{IndexStore, TaskStore};
use crate::view::{
    CompareFileView, CompareSideView, CompareView, DeltaView, LineTotals as LinesView,
};

/// The query parameters.
pub const COMPARE_PARAMS: &[&str] = &["base", "head", "limit", "cursor"];
/// Files listed per page unless `limit` says otherwise.
pub const DEFAULT_FILES: usize = 100;
/// The most files one page lists.
pub const MAX_FILES: usize = 500;
/// The most line numbers of one file's `newly_covered` or `lost` list (the counts are exact).
pub const MAX_LINES: usize = 2_000;
/// The longest byte range read from an index at once.
pub const CHUNK: u64 = 1 << 20;
/// The most bytes of a report path a cursor holds: a cursor is at most twice as many hex
/// characters, which keeps the URL of a next page short (the API's other cursors are at most
/// 2,048 characters too).
pub const CURSOR_PATH_BYTES: usize = 1024;
/// The longest cursor, in characters.
const MAX_CURSOR: usize = 2 * CURSOR_PATH_BYTES;

/// Where a task's coverage index lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexSource {
    /// A session's index (`index/coverage/<build>/<session>.idx`), written by its end task.
    Session {
        /// The session's build.
        build: BuildId,
        /// The session id (the end task's `result.session`).
        session: TaskId,
    },
    /// A merge task's index (`index/merged/<build>/<task>.idx`), written by the merge.
    Merged {
        /// The build of the merged sessions.
        build: BuildId,
        /// The merge task.
        task: TaskId,
    },
}

impl IndexSource {
    /// The build of the index.
    pub fn build(&self) -> &BuildId {
        match self {
            IndexSource::Session { build, .. } | IndexSource::Merged { build, .. } => build,
        }
    }

    /// Bytes `offset .. offset + len` of the index (see [`IndexStore::read_index`]). Read-only.
    /// Errors: [`Error::Unavailable`], [`Error::Corrupt`].
    pub async fn read<X: IndexStore>(
        &self,
        store: &X,
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        match self {
            IndexSource::Session { build, session } => {
                store.read_index(build, session, offset, len).await
            }
            IndexSource::Merged { build, task } => {
                store.read_merged_index(build, task, offset, len).await
            }
        }
    }
}

fn field_error(code: &'static str, field: &str, message: String) -> FieldError {
    FieldError {
        code,
        field: field.into(),
        message,
    }
}

/// Where the index of `task` lies: a succeeded `code-coverage-end` task's session index, named
/// by its `result.session` and `result.build`, or a succeeded `code-coverage-merge` task's
/// merged index, named by its id and `result.build`. The one mapping from a task to its index.
/// Pure. Errors, naming `field`: [`Error::Incompatible`] `not_comparable` (a start or discard)
/// or `task_not_succeeded`; [`Error::Absent`] `no_index` (a result without a session or a
/// valid build id).
pub fn index_of(task: &Task, field: &str) -> Result<IndexSource, Error> {
    if !matches!(
        task.task_type,
        TaskType::CoverageEnd | TaskType::CoverageMerge
    ) {
        return Err(Error::Incompatible(field_error(
            "not_comparable",
            field,
            format!(
                "{field} is a {} task; only code-coverage-end and code-coverage-merge tasks have a coverage index",
                task.task_type.as_str()
            ),
        )));
    }
    if task.status != Status::Succeeded {
        return Err(Error::Incompatible(field_error(
            "task_not_succeeded",
            field,
            format!(
                "{field} is {}; only a succeeded end or merge task has a coverage index",
                task.status.as_str()
            ),
        )));
    }
    let result = task.result.as_ref();
    let text = |k: &str| result.and_then(|r| r.get(k)).and_then(|v| v.as_str());
    let no_index = || {
        Error::Absent(field_error(
            "no_index",
            field,
            format!(
                "{field} has no coverage index (its session's build id is not a valid build id)"
            ),
        ))
    };
    let build = text("build")
        .and_then(|b| BuildId::parse(b).ok())
        .ok_or_else(no_index)?;
    if task.task_type == TaskType::CoverageMerge {
        return Ok(IndexSource::Merged {
            build,
            task: task.id.clone(),
        });
    }
    let session = text("session")
        .and_then(TaskId::parse)
        .ok_or_else(no_index)?;
    Ok(IndexSource::Session { build, session })
}

/// A parsed `GET /v1/compare` query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompareQuery {
    /// The base task.
    pub base: TaskId,
    /// The head task.
    pub head: TaskId,
    /// Files per page.
    pub limit: usize,
    /// List files whose path sorts after this one.
    pub after: Option<String>,
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Invalid(field_error("invalid_field", field, message.into()))
}

/// The cursor of the page after the one that ended with `path`: its hex, of at most its first
/// [`CURSOR_PATH_BYTES`] bytes (a longer path's page may list that path again on the next).
pub fn cursor_of(path: &str) -> String {
    let mut end = path.len().min(CURSOR_PATH_BYTES);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path.as_bytes()[..end]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn path_of_cursor(c: &str) -> Option<String> {
    if c.len() > MAX_CURSOR || !c.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..c.len())
        .step_by(2)
        .map(|i| c.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

impl CompareQuery {
    /// Parses the query's parameters. Errors: [`Error::Invalid`] naming the parameter:
    /// `missing_field` (`base`, `head`), `unknown_field`, `invalid_field` (a task id that is
    /// not one, a repeated parameter, `limit` outside 1..=500, a `cursor` not of this API).
    pub fn parse<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, Error> {
        let (mut base, mut head, mut limit, mut cursor) = (None, None, None, None);
        for (k, v) in params {
            let slot = match k {
                "base" => &mut base,
                "head" => &mut head,
                "limit" => &mut limit,
                "cursor" => &mut cursor,
                other => {
                    let shown: String = other.chars().take(64).collect();
                    return Err(Error::Invalid(field_error(
                        "unknown_field",
                        &shown,
                        format!(
                            "unknown parameter {shown:?}; the parameters are base, head, limit, cursor"
                        ),
                    )));
                }
            };
            if slot.replace(v).is_some() {
                return Err(invalid(k, format!("{k} is given twice")));
            }
        }
        let task = |field: &str, v: Option<&str>| match v {
            None | Some("") => Err(Error::Invalid(field_error(
                "missing_field",
                field,
                format!(
                    "{field} is required: the id of a succeeded code-coverage-end or code-coverage-merge task"
                ),
            ))),
            Some(s) => TaskId::parse(s).ok_or_else(|| {
                invalid(
                    field,
                    format!("{field} is not a task id (26 characters of Crockford base32)"),
                )
            }),
        };
        let base = task("base", base)?;
        let head = task("head", head)?;
        let limit = match limit {
            None => DEFAULT_FILES,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_FILES).contains(n))
                .ok_or_else(|| invalid("limit", format!("limit must be 1 to {MAX_FILES}")))?,
        };
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(
                path_of_cursor(c)
                    .ok_or_else(|| invalid("cursor", "cursor is not one this API gave"))?,
            ),
        };
        Ok(CompareQuery {
            base,
            head,
            limit,
            after,
        })
    }
}

/// The compare of two tasks' coverage: `GET /v1/compare`. Any caller who may read tasks may
/// compare them. Read-only. Errors: [`Error::Invalid`] (see [`CompareQuery::parse`]);
/// [`Error::Absent`] `not_found` (an unknown task) or `no_index`; [`Error::Incompatible`]
/// `not_comparable`, `task_not_succeeded` or `different_builds` (naming `head`), each naming
/// the parameter; [`Error::Corrupt`] for an index that cannot be read; [`Error::Unavailable`].
pub async fn compare<'a, S: TaskStore, X: IndexStore>(
    tasks: &S,
    indexes: &X,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<CompareView, Error> {
    let q = CompareQuery::parse(params)?;
    let (base_task, base_src) = load(tasks, "base", &q.base).await?;
    let (head_task, head_src) = load(tasks, "head", &q.head).await?;
    if base_src.build() != head_src.build() {
        return Err(Error::Incompatible(field_error(
            "different_builds",
            "head",
            format!(
                "base ran build {} and head ran build {}: only sessions of one build compare",
                base_src.build(),
                head_src.build()
            ),
        )));
    }
    let mut base = Side::open(indexes, &base_src, "base").await?;
    let mut head = Side::open(indexes, &head_src, "head").await?;
    let n = parts(&base.header, &head.header);
    let mut c = Compare::new(q.after, q.limit, MAX_LINES);
    for p in 0..n {
        let b = base.part(p, n).await?;
        let h = head.part(p, n).await?;
        c.add_part(&b, &h);
    }
    let r = c.finish();
    let next = r
        .more
        .then(|| r.files.last().map(|f| cursor_of(&f.path)))
        .flatten();
    let side = |t: &Task, src: &IndexSource, lines: LineTotals| {
        let (session, build) = match src {
            IndexSource::Session { session, build } => (session, build),
            // A merge's index is its own: its meta names the merge as the session.
            IndexSource::Merged { task, build } => (task, build),
        };
        CompareSideView {
            task: t.id.to_string(),
            session: session.to_string(),
            build: build.to_string(),
            name: t.name.clone(),
            user: t.user.clone(),
            device: crate::ports::device_key(&t.device, t.port),
            lines: LinesView::of_index(lines),
        }
    };
    let delta = DeltaView {
        covered: r.head.executed as i64 - r.base.executed as i64,
        total: r.head.instrumented as i64 - r.base.instrumented as i64,
        percent: ((ratio(r.head) - ratio(r.base)) * 10_000.0).round() / 100.0,
        newly_covered: r.newly_covered,
        lost: r.lost,
        files_changed: r.files_changed,
    };
    Ok(CompareView {
        base: side(&base_task, &base_src, r.base),
        head: side(&head_task, &head_src, r.head),
        delta,
        files: r
            .files
            .into_iter()
            .map(|f| CompareFileView {
                file: f.path,
                newly_covered: f.newly_covered,
                newly_covered_count: f.newly_covered_count,
                lost: f.lost,
                lost_count: f.lost_count,
                base: LinesView::of_index(f.base),
                head: LinesView::of_index(f.head),
            })
            .collect(),
        lines_truncated: r.lines_cut,
        next,
    })
}

/// Executed over instrumented lines, unrounded; 0 with no line.
fn ratio(t: LineTotals) -> f64 {
    if t.instrumented == 0 {
        0.0
    } else {
        t.executed as f64 / t.instrumented as f64
    }
}

/// The task `id` and where its index lies. Errors: as [`index_of`], and [`Error::Absent`]
/// `not_found` for an unknown task; [`Error::Unavailable`].
async fn load<S: TaskStore>(
    tasks: &S,
    field: &str,
    id: &TaskId,
) -> Result<(Task, IndexSource), Error> {
    let task = tasks.get(id).await?.ok_or_else(|| {
        Error::Absent(field_error(
            "not_found",
            field,
            format!("{field}: no such task"),
        ))
    })?;
    let src = index_of(&task, field)?;
    Ok((task, src))
}

/// Bytes of an index already read: buckets `first..end`, starting at byte `start`.
struct Chunk {
    first: usize,
    end: usize,
    start: u64,
    bytes: Vec<u8>,
}

/// One side of a compare: its header and the chunk of buckets read last.
struct Side<'a, X> {
    store: &'a X,
    src: &'a IndexSource,
    field: &'static str,
    header: Header,
    chunk: Option<Chunk>,
}

impl<'a, X: IndexStore> Side<'a, X> {
    fn unreadable(field: &str, why: impl std::fmt::Display) -> Error {
        Error::Corrupt(format!("the coverage index of {field}: {why}"))
    }

    fn gone(field: &str) -> Error {
        Error::Absent(field_error(
            "no_index",
            field,
            format!("{field} has no coverage index (it was never written or was removed)"),
        ))
    }

    /// Reads the header (and, for a small index, all of it).
    async fn open(store: &'a X, src: &'a IndexSource, field: &'static str) -> Result<Self, Error> {
        let head = src
            .read(store, 0, HEAD_READ)
            .await?
            .ok_or_else(|| Self::gone(field))?;
        let need = Header::len_from(&head).map_err(|e| Self::unreadable(field, e))? as u64;
        let head = if need > head.len() as u64 {
            src.read(store, 0, need)
                .await?
                .ok_or_else(|| Self::gone(field))?
        } else {
            head
        };
        let header = Header::parse(&head).map_err(|e| Self::unreadable(field, e))?;
        // The buckets the first read holds whole.
        let mut end = 0;
        while end < header.buckets() {
            let (s, l) = header.bucket_range(end);
            if s + l > head.len() as u64 {
                break;
            }
            end += 1;
        }
        let chunk = (end > 0).then_some(Chunk {
            first: 0,
            end,
            start: 0,
            bytes: head,
        });
        Ok(Side {
            store,
            src,
            field,
            header,
            chunk,
        })
    }

    /// The entries of part `p` of `n`: of bucket `p & (buckets - 1)`, those in part `p`.
    async fn part(&mut self, p: usize, n: usize) -> Result<Vec<FileEntry>, Error> {
        let b = p & (self.header.buckets() - 1);
        let mut entries = self.bucket(b).await?;
        if n > self.header.buckets() {
            entries.retain(|e| in_part(&e.path, p, n));
        }
        Ok(entries)
    }

    /// Bucket `b`'s entries, from the chunk held or from a new chunk that starts at it.
    async fn bucket(&mut self, b: usize) -> Result<Vec<FileEntry>, Error> {
        let held = self
            .chunk
            .as_ref()
            .is_some_and(|c| (c.first..c.end).contains(&b));
        if !held {
            let (start, _) = self.header.bucket_range(b);
            let mut end = b;
            while end < self.header.buckets() {
                let (s, l) = self.header.bucket_range(end);
                if end > b && s + l - start > CHUNK {
                    break;
                }
                end += 1;
            }
            let (last_s, last_l) = self.header.bucket_range(end - 1);
            let len = last_s + last_l - start;
            let bytes = if len == 0 {
                Vec::new()
            } else {
                self.src
                    .read(self.store, start, len)
                    .await?
                    .ok_or_else(|| Self::gone(self.field))?
            };
            self.chunk = Some(Chunk {
                first: b,
                end,
                start,
                bytes,
            });
        }
        let Some(c) = &self.chunk else {
            return Ok(Vec::new());
        };
        let (s, l) = self.header.bucket_range(b);
        let at = (s - c.start) as usize;
        let slice = c
            .bytes
            .get(at..at + l as usize)
            .ok_or_else(|| Self::unreadable(self.field, "a bucket past the end"))?;
        self.header
            .parse_bucket(b, slice)
            .map_err(|e| Self::unreadable(self.field, e))
    }
}
