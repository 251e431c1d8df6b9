//! Reading a raw `gcda.tar.gz`, and a build's `notes.tar.gz` and `sources.tar.gz`, as a stream
//! into a bounded working set: every kept file's bytes are appended to a scratch file (a
//! [`Spilled`] set: an unlinked file in the temp directory, freed when the process exits, even
//! when it is killed), and only an index of paths and byte ranges stays in memory. Caps: entry
//! count, bytes per entry and bytes in all (the disk the set may take). Only plain files under
//! safe relative paths are kept (`.gcno` and `.gcda` of the raw archive, `.gcno` of the notes,
//! the wanted sources); links, devices and paths the one archive path rule refuses
//! ([`ccaas_domain::archive::entry_path`]: `..`, absolute, `.` or empty segments) make the
//! archive unusable. The walk is the device's ([`ccaas_device::archive::walk`]), so what the
//! device accepted at collect time unpacks here. Never panics on any input; memory is one
//! copy buffer and the index, whatever the archive holds.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::Arc;

use ccaas_device::archive::{WalkLimits, walk};

use crate::CoverageError;

/// The least uncompressed tar stream a walk reads to its end (kept and skipped files, headers):
/// the device's own cap on the stream it sends.
const WALK_BYTES: u64 = 8 << 30;

/// Caps for [`unpack`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Most archive entries (of any kind) read.
    pub entries: u64,
    /// Most bytes of one kept file.
    pub entry_bytes: u64,
    /// Most bytes of all kept files together: the scratch disk the unpacked set may take.
    pub total_bytes: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            entries: 200_000,
            entry_bytes: 256 << 20,
            total_bytes: 1 << 30,
        }
    }
}

/// Where one kept file's bytes are in its [`Spilled`] set's store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Where a [`Spilled`] set keeps its bytes.
#[derive(Debug)]
enum Store {
    /// An unlinked scratch file (read with positioned reads, so threads share it).
    File(std::fs::File),
    /// Memory (small sets built by hand, tests).
    Memory(Vec<u8>),
}

impl Store {
    fn read(&self, span: Span) -> std::io::Result<Vec<u8>> {
        let len = usize::try_from(span.len)
            .map_err(|_| std::io::Error::other("span larger than memory"))?;
        match self {
            Store::File(f) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; len];
                f.read_exact_at(&mut buf, span.offset)?;
                Ok(buf)
            }
            Store::Memory(m) => {
                let start = usize::try_from(span.offset)
                    .map_err(|_| std::io::Error::other("span out of range"))?;
                m.get(start..start.saturating_add(len))
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| std::io::Error::other("span out of range"))
            }
        }
    }
}

/// A set of files by path whose bytes wait in a scratch store: the index in memory, the bytes
/// on disk (or in memory for sets built by hand). Cheap to clone (the store is shared).
#[derive(Clone, Debug)]
pub struct Spilled {
    /// Every kept file by path, with where its bytes are.
    pub files: BTreeMap<String, Span>,
    store: Arc<Store>,
}

impl Default for Spilled {
    fn default() -> Self {
        Spilled {
            files: BTreeMap::new(),
            store: Arc::new(Store::Memory(Vec::new())),
        }
    }
}

/// A cheap handle on a [`Spilled`] set's store, without its index: what one file of the set
/// needs to read itself back.
#[derive(Clone, Debug)]
pub(crate) struct StoreRef(Arc<Store>);

impl StoreRef {
    /// Reads one span. Errors: [`CoverageError::Scratch`] (a disk error).
    pub(crate) fn read(&self, span: Span) -> Result<Vec<u8>, CoverageError> {
        self.0.read(span).map_err(CoverageError::Scratch)
    }
}

impl PartialEq for Spilled {
    fn eq(&self, other: &Self) -> bool {
        self.files.len() == other.files.len()
            && self
                .files
                .iter()
                .zip(&other.files)
                .all(|((a, sa), (b, sb))| {
                    a == b
                        && sa.len == sb.len
                        && self.store.read(*sa).ok() == other.store.read(*sb).ok()
                })
    }
}

impl Eq for Spilled {}

impl Spilled {
    /// A set held in memory, from whole files (small sets, tests).
    pub fn from_memory(files: BTreeMap<String, Vec<u8>>) -> Self {
        let mut bytes = Vec::new();
        let mut index = BTreeMap::new();
        for (path, b) in files {
            index.insert(
                path,
                Span {
                    offset: bytes.len() as u64,
                    len: b.len() as u64,
                },
            );
            bytes.extend_from_slice(&b);
        }
        Spilled {
            files: index,
            store: Arc::new(Store::Memory(bytes)),
        }
    }

    /// Reads one file's bytes. Idempotent. Errors: [`CoverageError::Scratch`] when the store
    /// cannot be read (a disk error).
    pub fn read(&self, span: Span) -> Result<Vec<u8>, CoverageError> {
        self.store.read(span).map_err(CoverageError::Scratch)
    }

    /// A handle on the store alone (cloning the set would copy its index).
    pub(crate) fn store(&self) -> StoreRef {
        StoreRef(self.store.clone())
    }

    /// The bytes of the file at `path`; `None` when there is none or it cannot be read.
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.files.get(path).and_then(|s| self.store.read(*s).ok())
    }

    /// Whether the set holds a file at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// How many files the set holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the set holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The bytes of every file together (what the caps counted).
    pub fn bytes(&self) -> u64 {
        self.files.values().map(|s| s.len).sum()
    }
}

/// Why files could not be spilled to a scratch file: the scratch disk, which may pass (a
/// retry on a fresh sandbox), or the input, which will not.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// The scratch disk failed (full, or gone).
    #[error("scratch file: {0}")]
    Scratch(#[source] std::io::Error),
    /// The input is unusable (corrupt, hostile, truncated or over a cap); the text says why.
    #[error("{0}")]
    Input(String),
}

impl SpillError {
    /// The task error: a scratch failure is [`CoverageError::Scratch`] (retried), an unusable
    /// input is what `input` makes of the reason.
    pub fn into_coverage(self, input: impl FnOnce(String) -> CoverageError) -> CoverageError {
        match self {
            SpillError::Scratch(e) => CoverageError::Scratch(e),
            SpillError::Input(why) => input(why),
        }
    }
}

/// Appends files to one unlinked scratch file; [`SpillWriter::finish`] makes it a [`Spilled`]
/// set.
pub(crate) struct SpillWriter {
    out: BufWriter<std::fs::File>,
    at: u64,
    files: BTreeMap<String, Span>,
}

impl SpillWriter {
    /// A writer on a fresh unlinked file in the temp directory. Errors:
    /// [`SpillError::Scratch`].
    pub(crate) fn new() -> Result<Self, SpillError> {
        let f = tempfile::tempfile().map_err(SpillError::Scratch)?;
        Ok(SpillWriter {
            out: BufWriter::with_capacity(256 << 10, f),
            at: 0,
            files: BTreeMap::new(),
        })
    }

    /// Lets `write` write one file at the end of the store. Errors: `write`'s own error, or
    /// [`SpillError::Scratch`] when the disk failed under it.
    pub(crate) fn put_with(
        &mut self,
        path: &str,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), SpillError> {
        let mut counted = Counted {
            out: &mut self.out,
            n: 0,
            failed: None,
        };
        let r = write(&mut counted);
        if let Some(disk) = counted.failed.take() {
            return Err(SpillError::Scratch(disk));
        }
        r.map_err(|err| SpillError::Input(format!("{path}: {err}")))?;
        let len = counted.n;
        self.files.insert(
            path.to_owned(),
            Span {
                offset: self.at,
                len,
            },
        );
        self.at += len;
        Ok(())
    }

    /// Copies exactly `size` bytes of `body` to the end of the store. Errors:
    /// [`SpillError::Input`] for a short or unreadable body, [`SpillError::Scratch`] for a
    /// disk error (the two told apart, so a full disk is never blamed on the archive).
    pub(crate) fn put(
        &mut self,
        path: &str,
        size: u64,
        body: &mut dyn Read,
    ) -> Result<(), SpillError> {
        let mut buf = [0u8; 16 << 10];
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
            let n = match body.read(&mut buf[..want]) {
                Ok(0) => return Err(SpillError::Input(format!("{path} is truncated"))),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SpillError::Input(format!("{path}: {e}"))),
            };
            self.out.write_all(&buf[..n]).map_err(SpillError::Scratch)?;
            left -= n as u64;
        }
        self.files.insert(
            path.to_owned(),
            Span {
                offset: self.at,
                len: size,
            },
        );
        self.at += size;
        Ok(())
    }

    /// Flushes the store and hands it over for reading. Errors: [`SpillError::Scratch`].
    pub(crate) fn finish(self) -> Result<Spilled, SpillError> {
        let f = self
            .out
            .into_inner()
            .map_err(|e| SpillError::Scratch(e.into_error()))?;
        Ok(Spilled {
            files: self.files,
            store: Arc::new(Store::File(f)),
        })
    }
}

/// The name prefix of every scratch file the runner makes (the `tempfile` crate's default).
pub const SCRATCH_PREFIX: &str = ".tmp";

/// Removes the scratch files and directories (names starting with [`SCRATCH_PREFIX`]) that a
/// killed process left in `dir`, and returns how many it removed. Only for a process that owns
/// `dir` alone, at startup (the processor on Lambda, where one process at a time runs in a
/// sandbox and `/tmp` outlives it): the unlinked spill files free themselves, the named
/// downloads and the collect's archive do not. Idempotent; errors are skipped (a file that
/// cannot be removed is counted out).
pub fn clear_stale_scratch(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(SCRATCH_PREFIX) {
            continue;
        }
        let path = e.path();
        let gone = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path).is_ok(),
            Ok(_) => std::fs::remove_file(&path).is_ok(),
            Err(_) => false,
        };
        removed += usize::from(gone);
    }
    removed
}

/// A writer that counts what passes through it and keeps the first error of the writer
/// under it (the disk's), so it is not taken for an error of what writes to it.
struct Counted<'a, W: Write> {
    out: &'a mut W,
    n: u64,
    failed: Option<std::io::Error>,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.out.write(buf) {
            Ok(n) => {
                self.n += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.keep(e)),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().map_err(|e| self.keep(e))
    }
}

impl<W: Write> Counted<'_, W> {
    /// Keeps the disk's error and gives the writer above one of the same kind.
    fn keep(&mut self, e: std::io::Error) -> std::io::Error {
        let kind = e.kind();
        let text = e.to_string();
        self.failed.get_or_insert(e);
        std::io::Error::new(kind, text)
    }
}

/// The coverage files of an archive, by archive path (`<module>/<build path>/x.gcda`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// `.gcno` files.
    pub notes: Spilled,
    /// `.gcda` files.
    pub data: Spilled,
}

impl Unpacked {
    /// A set held in memory, from whole files (small sets, tests).
    pub fn from_memory(notes: BTreeMap<String, Vec<u8>>, data: BTreeMap<String, Vec<u8>>) -> Self {
        Unpacked {
            notes: Spilled::from_memory(notes),
            data: Spilled::from_memory(data),
        }
    }

    /// The bytes of every kept file together (what the caps counted).
    pub fn bytes(&self) -> u64 {
        self.notes.bytes() + self.data.bytes()
    }
}

/// Why a walk with a byte budget stopped: the archive itself, the budget, or the scratch disk.
enum Stop {
    Unusable(String),
    OverBudget { limit: u64, seen: u64 },
    Scratch(std::io::Error),
}

/// Streams a gzip-compressed tar stream into scratch files (the notes and the data apart).
/// Memory: the index and one copy buffer. Errors: [`CoverageError::BadArchive`] for a
/// corrupt or hostile archive or a file over the per-entry cap,
/// [`CoverageError::TooLarge`] when the kept files are over `limits.total_bytes` in all (with
/// the size of all the archive's coverage files), [`CoverageError::Scratch`] when no scratch
/// file can be made.
pub fn unpack(reader: impl Read, limits: &UnpackLimits) -> Result<Unpacked, CoverageError> {
    let bad = |e: SpillError| e.into_coverage(CoverageError::BadArchive);
    let mut notes = SpillWriter::new().map_err(bad)?;
    let mut data = SpillWriter::new().map_err(bad)?;
    let r = read_files(
        reader,
        limits,
        |p| p.ends_with(".gcno") || p.ends_with(".gcda"),
        |path, size, body| {
            if path.ends_with(".gcno") {
                notes.put(path, size, body)
            } else {
                data.put(path, size, body)
            }
        },
    );
    match r {
        Ok(()) => Ok(Unpacked {
            notes: notes.finish().map_err(bad)?,
            data: data.finish().map_err(bad)?,
        }),
        Err(Stop::Unusable(why)) => Err(CoverageError::BadArchive(why)),
        Err(Stop::Scratch(e)) => Err(CoverageError::Scratch(e)),
        Err(Stop::OverBudget { limit, seen }) => Err(CoverageError::TooLarge {
            what: "the session's coverage files (.gcno and .gcda, unpacked)".into(),
            limit,
            seen,
        }),
    }
}

/// Reads a build's `notes.tar.gz` (paths relative to the published directory): its `.gcno`
/// files by path, with the same caps and refusals as [`unpack`]. Errors:
/// [`SpillError::Input`] with why the archive is unusable, for the caller to name it;
/// [`SpillError::Scratch`].
pub fn unpack_notes(reader: impl Read, limits: &UnpackLimits) -> Result<Spilled, SpillError> {
    spill(reader, limits, |p| p.ends_with(".gcno"))
}

/// Reads a build's `sources.tar.gz`, keeping only the files `keep` asks for (the report needs
/// only the sources whose names are in the model), with the same caps and refusals as
/// [`unpack`]. Errors: as [`unpack_notes`].
pub fn unpack_sources(
    reader: impl Read,
    limits: &UnpackLimits,
    keep: impl Fn(&str) -> bool,
) -> Result<Spilled, SpillError> {
    spill(reader, limits, keep)
}

/// [`read_files`] into one scratch file, with every refusal as a sentence.
fn spill(
    reader: impl Read,
    limits: &UnpackLimits,
    keep: impl Fn(&str) -> bool,
) -> Result<Spilled, SpillError> {
    let mut out = SpillWriter::new()?;
    match read_files(reader, limits, keep, |path, size, body| {
        out.put(path, size, body)
    }) {
        Ok(()) => out.finish(),
        Err(Stop::Unusable(why)) => Err(SpillError::Input(why)),
        Err(Stop::OverBudget { limit, seen }) => Err(SpillError::Input(format!(
            "the kept files are {seen} bytes in all, over the limit of {limit} bytes"
        ))),
        Err(Stop::Scratch(e)) => Err(SpillError::Scratch(e)),
    }
}

/// Walks a gzip-compressed tar stream with the device's walk (the one archive path rule, links
/// and devices refused, metadata capped, the gzip trailer and tar end marker required) and
/// hands every plain file `keep` wants to `put` (path, size, body), with the caps of `limits`
/// (kept files only count towards the byte caps; every file and directory counts towards the
/// entry cap). Past the total byte cap nothing more is kept, but the walk goes on to the end
/// to count what the whole archive's kept files would take (the number in the error).
/// Errors: why the archive is unusable, or the budget and what was seen.
fn read_files(
    reader: impl Read,
    limits: &UnpackLimits,
    keep: impl Fn(&str) -> bool,
    mut put: impl FnMut(&str, u64, &mut dyn Read) -> Result<(), SpillError>,
) -> Result<(), Stop> {
    let mut total = 0u64;
    // The walk's errors are sentences; a scratch disk failure stops it too, and is kept
    // here to be told apart from an unusable archive.
    let mut scratch = None;
    // Skipped files are read too: the walk's own cap keeps a gzip bomb from running long.
    let walk_limits = WalkLimits {
        entries: limits.entries,
        unpacked_bytes: limits.total_bytes.saturating_mul(4).max(WALK_BYTES),
    };
    let walked = walk(BufReader::new(reader), walk_limits, |e| {
        if e.is_dir || !keep(e.path) {
            return Ok(());
        }
        let (path, size) = (e.path, e.size);
        if size > limits.entry_bytes {
            return Err(format!("{path} is over {} bytes", limits.entry_bytes));
        }
        total = total.saturating_add(size);
        if total > limits.total_bytes {
            // Over budget: keep nothing more, only count (the walk skips the bodies).
            return Ok(());
        }
        // `put` copies exactly the header's size (a lying header cannot make it read more)
        // and fails when the body is shorter.
        match put(path, size, e.body) {
            Err(SpillError::Scratch(disk)) => {
                scratch = Some(disk);
                Err("the scratch disk failed".into())
            }
            Err(SpillError::Input(why)) => Err(why),
            Ok(()) => Ok(()),
        }
    });
    if let Some(disk) = scratch {
        return Err(Stop::Scratch(disk));
    }
    walked.map_err(Stop::Unusable)?;
    if total > limits.total_bytes {
        return Err(Stop::OverBudget {
            limit: limits.total_bytes,
            seen: total,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A writer on `/dev/full`, where every write that reaches the file fails with ENOSPC.
    fn full_disk() -> SpillWriter {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        SpillWriter {
            out: BufWriter::with_capacity(4096, f),
            at: 0,
            files: BTreeMap::new(),
        }
    }

    #[test]
    fn a_full_scratch_disk_is_a_scratch_error_and_a_short_body_an_input_error() {
        let body = vec![7u8; 64 << 10];
        let e = full_disk().put("m/a.gcda", body.len() as u64, &mut body.as_slice());
        assert!(matches!(e, Err(SpillError::Scratch(_))), "{e:?}");
        let short = [1u8; 10];
        let e = SpillWriter::new()
            .unwrap()
            .put("m/b.gcda", 20, &mut short.as_slice());
        assert!(
            matches!(&e, Err(SpillError::Input(why)) if why.contains("m/b.gcda is truncated")),
            "{e:?}"
        );
        let mut w = full_disk();
        w.put("m/c.gcda", 10, &mut [0u8; 10].as_slice()).unwrap();
        assert!(matches!(w.finish(), Err(SpillError::Scratch(_))));
        let e = full_disk().put_with("p.html", &mut |w| w.write_all(&body));
        assert!(matches!(e, Err(SpillError::Scratch(_))), "{e:?}");
        // As task errors: the disk is retried, the input is not.
        let disk = SpillError::Scratch(std::io::Error::other("ENOSPC"));
        assert!(disk.into_coverage(CoverageError::BadArchive).is_retryable());
        let input = SpillError::Input("x is truncated".into());
        assert!(
            !input
                .into_coverage(CoverageError::BadArchive)
                .is_retryable()
        );
    }

    fn targz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut t = tar::Builder::new(Vec::new());
        for (p, b) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(b.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, p, *b).unwrap();
        }
        let raw = t.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn coverage_files_are_kept_by_path_and_other_files_are_skipped() {
        let a = targz(&[
            ("tmm/b/x.gcno", b"notes"),
            ("tmm/b/x.gcda", b"data"),
            ("tmm/b/readme.txt", b"skip"),
        ]);
        let u = unpack(&a[..], &UnpackLimits::default()).unwrap();
        assert_eq!(u.notes.get("tmm/b/x.gcno").unwrap(), b"notes");
        assert_eq!(u.data.get("tmm/b/x.gcda").unwrap(), b"data");
        assert_eq!(u.notes.len() + u.data.len(), 2);
    }

    #[test]
    fn caps_on_entry_size_total_size_and_count_are_enforced() {
        let a = targz(&[("m/a.gcda", &[0u8; 100]), ("m/b.gcda", &[0u8; 100])]);
        let small = |entries, entry_bytes, total_bytes| UnpackLimits {
            entries,
            entry_bytes,
            total_bytes,
        };
        assert!(unpack(&a[..], &small(10, 99, 1000)).is_err());
        assert!(unpack(&a[..], &small(10, 100, 150)).is_err());
        assert!(unpack(&a[..], &small(1, 100, 1000)).is_err());
        assert!(unpack(&a[..], &small(2, 100, 200)).is_ok());
    }

    #[test]
    fn a_session_over_the_byte_budget_is_too_large_with_the_limit_and_the_whole_size() {
        let a = targz(&[
            ("m/a.gcda", &[1u8; 100]),
            ("m/b.gcda", &[2u8; 100]),
            ("m/c.gcno", &[3u8; 100]),
            ("m/skip.txt", &[4u8; 1000]),
        ]);
        let limits = UnpackLimits {
            total_bytes: 150,
            ..UnpackLimits::default()
        };
        match unpack(&a[..], &limits) {
            Err(CoverageError::TooLarge { limit, seen, .. }) => {
                assert_eq!((limit, seen), (150, 300));
            }
            other => panic!("{other:?}"),
        }
        let e = unpack(&a[..], &limits).unwrap_err();
        assert_eq!(e.code(), "too_large");
        assert!(
            e.to_string().contains("300") && e.to_string().contains("150"),
            "{e}"
        );
    }

    #[test]
    fn many_files_spill_to_disk_and_read_back_byte_for_byte() {
        let bodies: Vec<(String, Vec<u8>)> = (0..300u32)
            .map(|i| {
                let ext = if i % 2 == 0 { "gcda" } else { "gcno" };
                let body: Vec<u8> = (0..(i * 37 % 5000)).map(|j| (i + j) as u8).collect();
                (format!("m/d{}/u{i}.{ext}", i % 7), body)
            })
            .collect();
        let refs: Vec<(&str, &[u8])> = bodies
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        let u = unpack(&targz(&refs)[..], &UnpackLimits::default()).unwrap();
        assert_eq!(u.notes.len() + u.data.len(), 300);
        for (p, b) in &bodies {
            let set = if p.ends_with(".gcno") {
                &u.notes
            } else {
                &u.data
            };
            assert_eq!(set.get(p).as_ref(), Some(b), "{p}");
        }
        assert_eq!(
            u.bytes(),
            bodies.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
        );
    }

    #[test]
    fn stale_scratch_files_are_cleared_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let named = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        let (_, kept_path) = named.keep().unwrap();
        std::fs::create_dir(dir.path().join(".tmpXYZ")).unwrap();
        std::fs::write(dir.path().join(".tmpXYZ/inner"), b"x").unwrap();
        std::fs::write(dir.path().join("other.txt"), b"mine").unwrap();
        assert_eq!(clear_stale_scratch(dir.path()), 2);
        assert!(!kept_path.exists());
        assert!(dir.path().join("other.txt").exists());
        assert_eq!(clear_stale_scratch(dir.path()), 0);
        assert_eq!(clear_stale_scratch(&dir.path().join("absent")), 0);
    }

    #[test]
    fn random_damage_never_panics_and_whatever_is_accepted_reads_back_whole() {
        let good = targz(&[
            ("m/a.gcda", &[7u8; 3000]),
            ("m/a.gcno", &[9u8; 2000]),
            ("m/b/c.gcda", &[5u8; 700]),
        ]);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..1500 {
            let mut b = good.clone();
            for _ in 0..1 + next(6) {
                let i = next(b.len());
                b[i] ^= 1 + next(255) as u8;
            }
            if let Ok(u) = unpack(&b[..], &UnpackLimits::default()) {
                for set in [&u.notes, &u.data] {
                    for span in set.files.values() {
                        assert_eq!(set.read(*span).unwrap().len() as u64, span.len);
                    }
                }
            }
        }
    }

    #[test]
    fn a_header_that_claims_more_than_its_body_is_refused_without_reserving_its_size() {
        // 200 MiB claimed, 10 bytes sent: the copy stops at the end of the stream (nothing of
        // the claimed size is allocated) and the archive is unusable.
        let mut t = raw_entry("m/a.gcda", b"0123456789");
        let mut h = tar::Header::new_gnu();
        h.as_mut_bytes().copy_from_slice(&t[..512]);
        h.set_size(200 << 20);
        h.set_cksum();
        t[..512].copy_from_slice(h.as_bytes());
        t.extend([0u8; 1024]);
        assert!(matches!(
            unpack(&gz_of(&t)[..], &UnpackLimits::default()),
            Err(CoverageError::BadArchive(_))
        ));
    }

    #[test]
    fn every_truncation_and_garbage_is_an_error_never_a_panic() {
        let a = targz(&[("m/a.gcda", &[7u8; 3000]), ("m/a.gcno", &[9u8; 2000])]);
        for cut in 0..a.len() {
            let _ = unpack(&a[..cut], &UnpackLimits::default());
        }
        assert!(unpack(&a[..a.len() / 2], &UnpackLimits::default()).is_err());
        assert!(unpack(&b"not gzip at all"[..], &UnpackLimits::default()).is_err());
    }

    fn raw_entry(name: &str, body: &[u8]) -> Vec<u8> {
        // tar::Builder refuses `..` and normalises `.`; a hostile archive is written by hand.
        let mut h = tar::Header::new_gnu();
        h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut v = h.as_bytes().to_vec();
        v.extend_from_slice(body);
        v.resize(v.len().div_ceil(512) * 512, 0);
        v
    }

    fn gz_of(tar: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_dot_segment_or_a_climbing_path_makes_the_archive_unusable() {
        for name in [
            "tmm/./a.gcda",
            "./tmm/a.gcda",
            "tmm//a.gcda",
            "../x.gcda",
            "m/../../x.gcda",
        ] {
            let mut t = raw_entry(name, b"data");
            t.extend([0u8; 1024]);
            let a = gz_of(&t);
            assert!(
                matches!(
                    unpack(&a[..], &UnpackLimits::default()),
                    Err(CoverageError::BadArchive(_))
                ),
                "{name}"
            );
        }
        let mut ok = raw_entry("m/tmp/build/x.gcda", b"data");
        ok.extend([0u8; 1024]);
        let u = unpack(&gz_of(&ok)[..], &UnpackLimits::default()).unwrap();
        assert_eq!(u.data.get("m/tmp/build/x.gcda").unwrap(), b"data");
    }

    #[test]
    fn paths_that_climb_out_or_links_are_refused() {
        let mut t = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        t.append_link(&mut h, "m/x.gcda", "/etc/shadow").unwrap();
        let raw = t.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let a = gz.finish().unwrap();
        assert!(matches!(
            unpack(&a[..], &UnpackLimits::default()),
            Err(CoverageError::BadArchive(_))
        ));
    }
}
