//! The impact use case (`POST /v1/impact`): a unified diff in, the sessions whose runs executed
//! its changed lines (ranked) and the changed lines no session ran out, from the per-session
//! coverage indexes of one build ([`IndexStore`]) and the pure computation of
//! [`ccaas_impact`].
//!
//! Which sessions: every session with an index of the request's `build`; without a build, of
//! the newest indexed build (of the request's device when it gives a port, else of every
//! device). With a `device`, only sessions run on it (`host:port`, or any port of a bare host).
//! At most [`MAX_CANDIDATES`] sessions, the newest, are read. Each is read in byte ranges: its
//! header (one read of [`HEAD_READ`] bytes, which for a small index holds it all) and the
//! buckets of the diff's file names, [`PARALLEL_READS`] sessions at a time, so memory holds
//! the diff, a few sessions' buckets and one record per session that ran a changed line.

use ccaas_domain::submission::FieldError;
use ccaas_domain::{BuildId, DeviceHost, DeviceKey};
use ccaas_impact::index::Header;
use ccaas_impact::query::buckets_for;
use ccaas_impact::{Diff, FileEntry, ImpactError, ImpactQuery, MAX_DIFF_BYTES, parse_diff};
use futures_util::StreamExt;
use serde_json::Value;
use tracing::warn;

use crate::Error;
use crate::ports::IndexStore;
use crate::view::{ImpactSessionView, ImpactView, UncoveredView};

/// The most sessions one query reads (the newest of the build).
pub const MAX_CANDIDATES: usize = 2_000;
/// The most sessions one answer lists.
pub const MAX_LISTED: usize = 1_000;
/// Sessions read at once.
pub const PARALLEL_READS: usize = 32;
/// The first read of each index: its header, and for a small index all of it.
pub const HEAD_READ: u64 = 16 * 1024;
/// The largest request body: a diff of [`MAX_DIFF_BYTES`] and its JSON escaping.
pub const MAX_IMPACT_BODY: usize = MAX_DIFF_BYTES + MAX_DIFF_BYTES / 4;
/// The body's fields.
pub const IMPACT_FIELDS: &[&str] = &["diff", "build", "device"];

/// Which device's sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceFilter {
    /// One device (`host:port`).
    Key(DeviceKey),
    /// Any port of a host.
    Host(DeviceHost),
}

impl DeviceFilter {
    fn matches(&self, device: &str) -> bool {
        match self {
            DeviceFilter::Key(k) => k.to_string() == device,
            DeviceFilter::Host(h) => DeviceKey::parse(device).is_ok_and(|k| &k.host == h),
        }
    }
}

/// A parsed `POST /v1/impact` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImpactRequest {
    /// The diff's changed lines.
    pub diff: Diff,
    /// The build asked for.
    pub build: Option<BuildId>,
    /// The device asked for.
    pub device: Option<DeviceFilter>,
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Invalid(FieldError {
        code: "invalid_field",
        field: field.into(),
        message: message.into(),
    })
}

impl ImpactRequest {
    /// Parses the body. Errors: [`Error::Invalid`] naming the field (`invalid_json` for a body
    /// that is no JSON object, `unknown_field`, `missing_field` `diff`, `invalid_field` for a
    /// diff that is no unified diff, a build id or device that is not one).
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            Error::Invalid(FieldError {
                code: "invalid_json",
                field: String::new(),
                message: format!(
                    "the body is not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            })
        })?;
        let Value::Object(o) = v else {
            return Err(Error::Invalid(FieldError {
                code: "invalid_json",
                field: String::new(),
                message: "the body must be a JSON object".into(),
            }));
        };
        if let Some(k) = o.keys().find(|k| !IMPACT_FIELDS.contains(&k.as_str())) {
            let shown: String = k.chars().take(64).collect();
            return Err(Error::Invalid(FieldError {
                code: "unknown_field",
                field: shown.clone(),
                message: format!("unknown field {shown:?}; the fields are diff, build, device"),
            }));
        }
        let text = match o.get("diff") {
            None | Some(Value::Null) => {
                return Err(Error::Invalid(FieldError {
                    code: "missing_field",
                    field: "diff".into(),
                    message: "diff is required: a unified diff (git diff, diff -u)".into(),
                }));
            }
            Some(Value::String(s)) => s,
            Some(_) => return Err(invalid("diff", "diff must be a string")),
        };
        let diff = parse_diff(text).map_err(|e| invalid("diff", e.to_string()))?;
        let build = match o.get("build") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(BuildId::parse(s).map_err(Error::Invalid)?),
            Some(_) => return Err(invalid("build", "build must be a string")),
        };
        let device = match o.get("device") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(match DeviceHost::parse(s) {
                Ok(h) => DeviceFilter::Host(h),
                Err(_) => DeviceFilter::Key(DeviceKey::parse(s).map_err(|why| {
                    invalid(
                        "device",
                        format!("device must be a host or host:port: {why}"),
                    )
                })?),
            }),
            Some(_) => return Err(invalid("device", "device must be a string")),
        };
        Ok(ImpactRequest {
            diff,
            build,
            device,
        })
    }
}

/// The impact use case over an index store.
#[derive(Clone, Debug)]
pub struct Impacts<X> {
    /// The per-session indexes.
    pub indexes: X,
}

impl<X: IndexStore> Impacts<X> {
    /// `POST /v1/impact` on a raw body. Read-only.
    /// Errors: [`Error::Invalid`] (see [`ImpactRequest::parse`]), [`Error::Unavailable`].
    pub async fn impact(&self, body: &[u8]) -> Result<ImpactView, Error> {
        let req = ImpactRequest::parse(body)?;
        self.query(req).await
    }

    /// The impact of a parsed request. Read-only. An index that cannot be read (corrupt, of a
    /// newer format) is skipped and logged; the store's outage is an error.
    /// Errors: [`Error::Unavailable`].
    pub async fn query(&self, req: ImpactRequest) -> Result<ImpactView, Error> {
        let build = match req.build {
            Some(b) => Some(b),
            None => {
                let scope = match &req.device {
                    Some(DeviceFilter::Key(k)) => Some(k.to_string()),
                    _ => None,
                };
                self.indexes
                    .latest(scope.as_deref())
                    .await?
                    .map(|l| l.build)
            }
        };
        let mut q = ImpactQuery::new(req.diff);
        if let Some(build) = &build {
            let sessions = self.indexes.list_sessions(build, MAX_CANDIDATES).await?;
            let names = q.names();
            let (names, store, device) = (&names, &self.indexes, req.device.as_ref());
            // Newest first; each session is folded in as it arrives, so memory holds only the
            // sessions in flight.
            // (Made up front: futures from a borrowing closure are not `Send` for every
            // lifetime, which the router's handler must be.)
            let futures: Vec<_> = sessions
                .iter()
                .rev()
                .map(|s| read_session(store, build, s, names, device))
                .collect();
            let mut reads = futures_util::stream::iter(futures).buffer_unordered(PARALLEL_READS);
            while let Some(r) = reads.next().await {
                if let Some((h, entries)) = r? {
                    q.add_session(&h, &entries);
                }
            }
        }
        let r = q.finish(MAX_LISTED);
        Ok(ImpactView {
            build: build.map(|b| b.to_string()),
            sessions: r
                .sessions
                .into_iter()
                .map(|s| ImpactSessionView {
                    session: s.session,
                    task: s.task,
                    name: (!s.name.is_empty()).then_some(s.name),
                    user: s.user,
                    build: s.build,
                    device: s.device,
                    lines_hit: s.lines_hit,
                })
                .collect(),
            uncovered: r
                .uncovered
                .into_iter()
                .map(|u| UncoveredView {
                    file: u.file,
                    lines: u.lines,
                })
                .collect(),
            changed_lines: r.changed_lines,
            sessions_read: r.sessions_read,
        })
    }
}

/// Buckets closer than this are read with one request (the bytes between them are cheaper
/// than another round trip).
pub const COALESCE_GAP: u64 = 32 * 1024;
/// The longest coalesced read.
const MAX_RUN: u64 = 4 << 20;

/// A byte range of an index holding one or more wanted buckets.
struct Run {
    start: u64,
    end: u64,
    buckets: Vec<usize>,
}

/// The wanted non-empty `buckets` (ascending) as byte ranges, neighbours within
/// [`COALESCE_GAP`] merged (up to [`MAX_RUN`] bytes).
fn runs(header: &Header, buckets: &[usize]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for &b in buckets {
        let (s, l) = header.bucket_range(b);
        if l == 0 {
            continue;
        }
        match out.last_mut() {
            Some(r) if s <= r.end + COALESCE_GAP && s + l - r.start <= MAX_RUN => {
                r.end = s + l;
                r.buckets.push(b);
            }
            _ => out.push(Run {
                start: s,
                end: s + l,
                buckets: vec![b],
            }),
        }
    }
    out
}

/// One session's header and the entries of the buckets the query needs; `None` when its
/// index is gone, unreadable or of another device.
async fn read_session<X: IndexStore>(
    store: &X,
    build: &BuildId,
    session: &ccaas_domain::TaskId,
    names: &[String],
    device: Option<&DeviceFilter>,
) -> Result<Option<(Header, Vec<FileEntry>)>, Error> {
    let Some(head) = store.read_index(build, session, 0, HEAD_READ).await? else {
        return Ok(None);
    };
    let skip = |e: ImpactError| {
        warn!(build = %build, session = %session, error = %e, "coverage index skipped");
        Ok(None)
    };
    let need = match Header::len_from(&head) {
        Ok(n) => n,
        Err(e) => return skip(e),
    };
    let head = if need as u64 > head.len() as u64 {
        match store.read_index(build, session, 0, need as u64).await? {
            Some(h) => h,
            None => return Ok(None),
        }
    } else {
        head
    };
    let header = match Header::parse(&head) {
        Ok(h) => h,
        Err(e) => return skip(e),
    };
    if device.is_some_and(|d| !d.matches(&header.meta.device)) {
        return Ok(None);
    }
    let mut entries = Vec::new();
    for run in runs(&header, &buckets_for(&header, names)) {
        let (at, len) = (run.start, run.end - run.start);
        // A small index came whole with the first read.
        let bytes = match head.get(at as usize..run.end as usize) {
            Some(s) => s.to_vec(),
            None => match store.read_index(build, session, at, len).await? {
                Some(b) => b,
                None => return Ok(None),
            },
        };
        for &b in &run.buckets {
            let (s, l) = header.bucket_range(b);
            let slice = bytes.get((s - at) as usize..(s - at + l) as usize);
            match slice.map(|x| header.parse_bucket(b, x)) {
                Some(Ok(e)) => entries.extend(e),
                Some(Err(e)) => return skip(e),
                None => return skip(ImpactError::BadIndex("a bucket past the end".into())),
            }
        }
    }
    Ok(Some((header, entries)))
}
