//! The per-session line index, format version 1: for every source file of a session's report,
//! the lines the build instruments and the lines the session executed (count above zero), as
//! roaring bitmaps. Written once per session by its end task, read by the impact query.
//!
//! Layout (little-endian; every offset is from the object's start):
//!
//! ```text
//! fixed (24 bytes)  magic "CCAASIDX" | version u16 = 1 | flags u16 = 0 | header_len u32
//!                   | file_count u32 | bucket_count u32 (a power of two)
//! meta              session, task, name, user, build, device: each u16 length + UTF-8
//!                   | ended_ms u64
//! bucket table      bucket_count + 1 offsets u32: bucket b is bytes [t[b], t[b+1]);
//!                   t[0] = header_len, the last = the object's length
//! buckets           entries, in (hash, path) order: hash u64 | path u16 length + UTF-8
//!                   | instrumented u32 length + roaring | executed u32 length + roaring
//! ```
//!
//! A file is in bucket `fnv1a64(file name) & (bucket_count - 1)`, with about four files per
//! bucket, so a reader reads the header (one range from the start: the fixed part says how
//! long) and then only the buckets of the file names a diff touches: its memory and reads grow
//! with the files of the diff, not with the files of the session. The same input gives the
//! same bytes (entries sorted, bitmaps serialised from sorted sets), so a redelivered end task
//! writes the same object. The parsers refuse hostile bytes with [`ImpactError::BadIndex`]:
//! every length is checked against the bytes at hand before anything is allocated for it.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use crate::error::ImpactError;
use crate::paths::file_name;

/// The first 8 bytes of every index.
pub const MAGIC: [u8; 8] = *b"CCAASIDX";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Bytes of the fixed part of the header.
pub const FIXED_LEN: usize = 24;
/// The longest header a reader accepts (meta and bucket table): about a million files.
pub const MAX_HEADER_LEN: usize = 4 << 20;
/// The most buckets a reader accepts.
const MAX_BUCKETS: u32 = 1 << 20;
/// The longest bucket a reader accepts.
pub const MAX_BUCKET_LEN: u64 = 64 << 20;
/// Files per bucket the writer aims at.
const FILES_PER_BUCKET: usize = 4;

/// Who and what a session's index is of: shown by the impact query without any other read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexMeta {
    /// The session id: the start task's id (the end task's `result.session`).
    pub session: String,
    /// The end task's id.
    pub task: String,
    /// The end task's name (`""` when it has none).
    pub name: String,
    /// The end task's user.
    pub user: String,
    /// The build the session ran (the device's build id at the end).
    pub build: String,
    /// The device key (`host:port`).
    pub device: String,
    /// When the end task was created, Unix ms (its id's time): the session's recency.
    pub ended_ms: u64,
}

/// One source file of an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The path as the report names it.
    pub path: String,
    /// Instrumented lines.
    pub instrumented: RoaringBitmap,
    /// Executed lines (a subset of the instrumented ones).
    pub executed: RoaringBitmap,
}

/// FNV-1a, 64 bits: the stable hash that places a file name in its bucket.
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Builds the bytes of one session's index.
#[derive(Clone, Debug, Default)]
pub struct IndexBuilder {
    meta: IndexMeta,
    files: BTreeMap<String, (RoaringBitmap, RoaringBitmap)>,
}

impl IndexBuilder {
    /// An empty index of the session `meta`.
    pub fn new(meta: IndexMeta) -> Self {
        IndexBuilder {
            meta,
            files: BTreeMap::new(),
        }
    }

    /// Adds a file's instrumented lines and executed lines. A file added twice gets the union;
    /// an executed line is instrumented too. Line 0 is not a line and is skipped.
    pub fn file(
        &mut self,
        path: &str,
        instrumented: impl IntoIterator<Item = u32>,
        executed: impl IntoIterator<Item = u32>,
    ) -> &mut Self {
        let e = self.files.entry(path.to_owned()).or_default();
        e.0.extend(instrumented.into_iter().filter(|&l| l > 0));
        e.1.extend(executed.into_iter().filter(|&l| l > 0));
        let exe = e.1.clone();
        e.0 |= exe;
        self
    }

    /// The index's bytes. Deterministic: the same files and meta give the same bytes.
    /// Errors: [`ImpactError::Unindexable`] when a string is longer than 65,535 bytes or the
    /// index would pass 4 GiB.
    pub fn finish(&self) -> Result<Vec<u8>, ImpactError> {
        let n = self.files.len();
        let buckets = n.div_ceil(FILES_PER_BUCKET).max(1).next_power_of_two();
        let mask = (buckets - 1) as u64;
        // Entries by (bucket, hash, path).
        let mut order: Vec<(usize, u64, &String)> = self
            .files
            .keys()
            .map(|p| {
                let h = name_hash(file_name(p));
                ((h & mask) as usize, h, p)
            })
            .collect();
        order.sort();
        let mut meta = Vec::new();
        let m = &self.meta;
        for s in [&m.session, &m.task, &m.name, &m.user, &m.build, &m.device] {
            put_str(&mut meta, s)?;
        }
        meta.extend_from_slice(&m.ended_ms.to_le_bytes());
        let header_len = FIXED_LEN + meta.len() + (buckets + 1) * 4;
        let mut body = Vec::new();
        let mut starts = vec![0usize; buckets + 1];
        let mut next = 0usize;
        for (b, h, path) in order {
            while next <= b {
                starts[next] = body.len();
                next += 1;
            }
            let Some((ins, exe)) = self.files.get(path) else {
                continue;
            };
            body.extend_from_slice(&h.to_le_bytes());
            put_str(&mut body, path)?;
            put_bitmap(&mut body, ins)?;
            put_bitmap(&mut body, exe)?;
        }
        while next <= buckets {
            starts[next] = body.len();
            next += 1;
        }
        let total = header_len + body.len();
        let off = |x: usize| {
            u32::try_from(header_len + x)
                .map_err(|_| ImpactError::Unindexable(format!("an index of {total} bytes")))
        };
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&off(0)?.to_le_bytes());
        let count = u32::try_from(n).map_err(|_| ImpactError::Unindexable(format!("{n} files")))?;
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&(buckets as u32).to_le_bytes());
        out.extend_from_slice(&meta);
        for s in &starts {
            out.extend_from_slice(&off(*s)?.to_le_bytes());
        }
        out.extend_from_slice(&body);
        Ok(out)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), ImpactError> {
    let len = u16::try_from(s.len())
        .map_err(|_| ImpactError::Unindexable(format!("a string of {} bytes", s.len())))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_bitmap(out: &mut Vec<u8>, b: &RoaringBitmap) -> Result<(), ImpactError> {
    let mut bytes = Vec::with_capacity(b.serialized_size());
    b.serialize_into(&mut bytes)
        .map_err(|e| ImpactError::Unindexable(format!("a line set ({e})")))?;
    let len = u32::try_from(bytes.len())
        .map_err(|_| ImpactError::Unindexable(format!("a line set of {} bytes", bytes.len())))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes);
    Ok(())
}

fn bad(why: impl Into<String>) -> ImpactError {
    ImpactError::BadIndex(why.into())
}

/// A bounds-checked reader over a byte slice.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ImpactError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| bad(format!("truncated in {what}")))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u16(&mut self, what: &str) -> Result<u16, ImpactError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ImpactError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ImpactError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn str(&mut self, what: &str) -> Result<String, ImpactError> {
        let n = self.u16(what)? as usize;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| bad(format!("{what} is not UTF-8")))
    }

    fn bitmap(&mut self, what: &str) -> Result<RoaringBitmap, ImpactError> {
        let n = self.u32(what)? as usize;
        let b = self.take(n, what)?;
        // The slice bounds every read; roaring checks its container count (at most 65,536)
        // and each container's size before allocating it.
        let mut r = b;
        let set =
            RoaringBitmap::deserialize_from(&mut r).map_err(|e| bad(format!("{what}: {e}")))?;
        if !r.is_empty() {
            return Err(bad(format!("{what}: {} bytes after the set", r.len())));
        }
        Ok(set)
    }
}

/// The header of an index: its meta and where each bucket lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Who and what the index is of.
    pub meta: IndexMeta,
    /// How many files it holds.
    pub file_count: u32,
    /// Bucket table: `bucket_count + 1` offsets.
    table: Vec<u32>,
}

impl Header {
    /// The header's length, read from an index's first [`FIXED_LEN`] bytes (or more): how many
    /// bytes from the start [`Header::parse`] needs. Errors: [`ImpactError::BadIndex`] for
    /// another magic, a newer version or a length past [`MAX_HEADER_LEN`].
    pub fn len_from(prefix: &[u8]) -> Result<usize, ImpactError> {
        let mut c = Cursor {
            bytes: prefix,
            at: 0,
        };
        if c.take(8, "the magic")? != MAGIC {
            return Err(bad("not a coverage index (wrong magic)"));
        }
        let v = c.u16("the version")?;
        if v != VERSION {
            return Err(bad(format!(
                "format version {v}, this reader knows version {VERSION}"
            )));
        }
        let _flags = c.u16("the flags")?;
        let len = c.u32("the header length")? as usize;
        if !(FIXED_LEN..=MAX_HEADER_LEN).contains(&len) {
            return Err(bad(format!("a header of {len} bytes")));
        }
        Ok(len)
    }

    /// Parses the header from the index's first bytes (at least [`Header::len_from`] of them;
    /// more are ignored). Errors: [`ImpactError::BadIndex`].
    pub fn parse(prefix: &[u8]) -> Result<Header, ImpactError> {
        let len = Self::len_from(prefix)?;
        let bytes = prefix.get(..len).ok_or_else(|| {
            bad(format!(
                "the header needs {len} bytes, {} given",
                prefix.len()
            ))
        })?;
        let mut c = Cursor { bytes, at: 12 };
        let _ = c.u32("the header length")?;
        let file_count = c.u32("the file count")?;
        let buckets = c.u32("the bucket count")?;
        if buckets == 0 || !buckets.is_power_of_two() || buckets > MAX_BUCKETS {
            return Err(bad(format!("{buckets} buckets")));
        }
        if u64::from(file_count) > u64::from(buckets) * FILES_PER_BUCKET as u64 {
            return Err(bad(format!("{file_count} files in {buckets} buckets")));
        }
        let meta = IndexMeta {
            session: c.str("the session")?,
            task: c.str("the task")?,
            name: c.str("the name")?,
            user: c.str("the user")?,
            build: c.str("the build")?,
            device: c.str("the device")?,
            ended_ms: c.u64("the end time")?,
        };
        let n = buckets as usize + 1;
        if bytes.len() - c.at != n * 4 {
            return Err(bad("the bucket table does not end the header"));
        }
        let mut table = Vec::with_capacity(n);
        for _ in 0..n {
            table.push(c.u32("the bucket table")?);
        }
        if table.first().copied() != Some(len as u32) || table.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad("the bucket table is out of order"));
        }
        Ok(Header {
            meta,
            file_count,
            table,
        })
    }

    /// How many buckets.
    pub fn buckets(&self) -> usize {
        self.table.len() - 1
    }

    /// The bucket a file name is in.
    pub fn bucket_of(&self, name: &str) -> usize {
        (name_hash(name) & (self.buckets() as u64 - 1)) as usize
    }

    /// Where bucket `b` lies: `(offset, length)` in the object (`(0, 0)` past the table).
    pub fn bucket_range(&self, b: usize) -> (u64, u64) {
        match (self.table.get(b), self.table.get(b + 1)) {
            (Some(&s), Some(&e)) => (u64::from(s), u64::from(e - s)),
            _ => (0, 0),
        }
    }

    /// The index's length in bytes, as the table says.
    pub fn total_len(&self) -> u64 {
        self.table.last().copied().map_or(0, u64::from)
    }

    /// Parses bucket `b` from its bytes (exactly [`Header::bucket_range`]'s). Errors:
    /// [`ImpactError::BadIndex`] when they are not that bucket's entries.
    pub fn parse_bucket(&self, b: usize, bytes: &[u8]) -> Result<Vec<FileEntry>, ImpactError> {
        let (_, len) = self.bucket_range(b);
        if len > MAX_BUCKET_LEN || bytes.len() as u64 != len {
            return Err(bad(format!(
                "bucket {b} is {} bytes, the table says {len}",
                bytes.len()
            )));
        }
        let mut c = Cursor { bytes, at: 0 };
        let mut out = Vec::new();
        let mask = self.buckets() as u64 - 1;
        let mut last: Option<(u64, String)> = None;
        while c.at < bytes.len() {
            let h = c.u64("an entry's hash")?;
            let path = c.str("a path")?;
            if h != name_hash(file_name(&path)) || (h & mask) as usize != b {
                return Err(bad(format!("{path:?} is not in bucket {b}")));
            }
            let key = (h, path);
            if last.as_ref().is_some_and(|l| *l >= key) {
                return Err(bad("bucket entries out of order"));
            }
            let instrumented = c.bitmap("instrumented lines")?;
            let executed = c.bitmap("executed lines")?;
            if !executed.is_subset(&instrumented) {
                return Err(bad(format!("{}: executed lines not instrumented", key.1)));
            }
            out.push(FileEntry {
                path: key.1.clone(),
                instrumented,
                executed,
            });
            last = Some(key);
        }
        Ok(out)
    }
}

/// A whole index read back: its header and every file. For tests and tools; the impact query
/// reads only the buckets it needs. Errors: [`ImpactError::BadIndex`].
pub fn read_all(bytes: &[u8]) -> Result<(Header, Vec<FileEntry>), ImpactError> {
    let h = Header::parse(bytes)?;
    if h.total_len() != bytes.len() as u64 {
        return Err(bad(format!(
            "{} bytes, the table says {}",
            bytes.len(),
            h.total_len()
        )));
    }
    let mut files = Vec::new();
    for b in 0..h.buckets() {
        let (s, len) = h.bucket_range(b);
        let slice = bytes
            .get(s as usize..(s + len) as usize)
            .ok_or_else(|| bad("a bucket past the end"))?;
        files.extend(h.parse_bucket(b, slice)?);
    }
    if files.len() != h.file_count as usize {
        return Err(bad(format!(
            "{} files, the header says {}",
            files.len(),
            h.file_count
        )));
    }
    Ok((h, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> IndexMeta {
        IndexMeta {
            session: "01S".into(),
            task: "01T".into(),
            name: "suite a".into(),
            user: "alice".into(),
            build: "17.1.0-0.0.1".into(),
            device: "127.0.0.1:22".into(),
            ended_ms: 1_764_000_000_000,
        }
    }

    #[test]
    fn an_index_reads_back_its_meta_and_files() {
        let mut b = IndexBuilder::new(meta());
        b.file("/src/tmm/route.c", [3, 4, 5, 9], [4, 9]);
        b.file("/src/mcpd/main.c", [1, 2], []);
        let bytes = b.finish().unwrap();
        assert_eq!(&bytes[..8], b"CCAASIDX");
        let (h, files) = read_all(&bytes).unwrap();
        assert_eq!(h.meta, meta());
        assert_eq!(h.file_count, 2);
        let route = files.iter().find(|f| f.path == "/src/tmm/route.c").unwrap();
        assert_eq!(route.executed.iter().collect::<Vec<_>>(), vec![4, 9]);
        assert_eq!(route.instrumented.len(), 4);
    }

    #[test]
    fn the_same_files_in_another_order_give_the_same_bytes() {
        let mut a = IndexBuilder::new(meta());
        a.file("x/a.c", [1, 2, 3], [2]).file("y/b.c", [7], [7]);
        let mut b = IndexBuilder::new(meta());
        b.file("y/b.c", [7], [7]).file("x/a.c", [3, 1, 2], [2]);
        assert_eq!(a.finish().unwrap(), b.finish().unwrap());
    }

    #[test]
    fn an_executed_line_is_instrumented_and_line_zero_is_dropped() {
        let mut b = IndexBuilder::new(meta());
        b.file("a.c", [0, 1], [0, 5]);
        let (_, files) = read_all(&b.finish().unwrap()).unwrap();
        assert_eq!(files[0].instrumented.iter().collect::<Vec<_>>(), vec![1, 5]);
        assert_eq!(files[0].executed.iter().collect::<Vec<_>>(), vec![5]);
    }

    #[test]
    fn a_newer_version_or_another_magic_is_refused_by_name() {
        let bytes = IndexBuilder::new(meta()).finish().unwrap();
        let mut newer = bytes.clone();
        newer[8] = 2;
        let e = Header::parse(&newer).unwrap_err().to_string();
        assert!(e.contains("version 2"), "{e}");
        let mut other = bytes;
        other[0] = b'X';
        assert!(
            Header::parse(&other)
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
    }

    #[test]
    fn a_file_is_found_in_the_bucket_of_its_name_only() {
        let mut b = IndexBuilder::new(meta());
        for i in 0..100 {
            b.file(&format!("/src/d{i}/f{i}.c"), [1, 2], [1]);
        }
        let bytes = b.finish().unwrap();
        let h = Header::parse(&bytes).unwrap();
        assert!(h.buckets() >= 25);
        let bucket = h.bucket_of("f42.c");
        let (s, len) = h.bucket_range(bucket);
        let entries = h
            .parse_bucket(bucket, &bytes[s as usize..(s + len) as usize])
            .unwrap();
        assert!(entries.iter().any(|e| e.path == "/src/d42/f42.c"));
        assert!(entries.len() < 20, "a bucket holds a few files");
    }

    #[test]
    fn a_short_header_asks_for_its_length_and_then_parses() {
        let mut b = IndexBuilder::new(meta());
        b.file("a.c", [1], [1]);
        let bytes = b.finish().unwrap();
        let need = Header::len_from(&bytes[..FIXED_LEN]).unwrap();
        assert!(Header::parse(&bytes[..need - 1]).is_err());
        assert!(Header::parse(&bytes[..need]).is_ok());
    }
}
