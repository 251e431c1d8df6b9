//! Validation of the `tar -czf -` archive a device sends, on the `tar` crate.
//!
//! [`walk`] reads a `.tar.gz` stream entry by entry, without ever holding the archive: the
//! gzip member must be complete (CRC and length trailer, nothing after it), the tar stream must
//! end with its two zero blocks, and every entry must be a plain file or directory whose path
//! passes the one archive path rule ([`ccaas_domain::archive::entry_path`]), within the caps.
//! Links, devices and FIFOs are refused, so nothing can point out of the tree. Entries are read
//! raw (GNU long names and pax headers are applied here, each capped at 64 KiB), so a hostile
//! header never makes the reader allocate more than that. The coverage crate unpacks stored
//! archives with the same walk.
//!
//! [`ArchiveValidator`] runs the walk on its own thread while the SSH channel pushes chunks to
//! it through a small bounded queue, so the check keeps pace with the stream.

use std::io::{self, BufRead, Read};

use tokio::sync::{mpsc, oneshot};

use crate::target::Limits;

/// Counts of a validated archive.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveStats {
    /// Compressed bytes (what was streamed to the sink).
    pub bytes: u64,
    /// Uncompressed tar bytes.
    pub unpacked_bytes: u64,
    /// Entries of every kind.
    pub entries: u64,
    /// Regular files.
    pub files: u64,
    /// Regular files ending in `.gcda`.
    pub gcda_files: u64,
}

/// Most bytes of one metadata entry (a GNU long name, a pax header).
const META_CAP: u64 = 64 << 10;
/// Chunks the SSH side may be ahead of the check.
const QUEUE_CHUNKS: usize = 8;

/// Caps of one [`walk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkLimits {
    /// Most file and directory entries.
    pub entries: u64,
    /// Most uncompressed tar bytes: entry sizes plus 512 per header, metadata included.
    pub unpacked_bytes: u64,
}

/// One file or directory entry, as [`walk`] hands it over.
pub struct Entry<'a> {
    /// The entry's path by [`ccaas_domain::archive::entry_path`] (no trailing `/`).
    pub path: &'a str,
    /// A directory (always empty) rather than a plain file.
    pub is_dir: bool,
    /// The file's size from its header.
    pub size: u64,
    /// The file's bytes; whatever the visitor leaves unread is skipped.
    pub body: &'a mut dyn Read,
}

/// What a whole [`walk`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkTotals {
    /// File and directory entries.
    pub entries: u64,
    /// Uncompressed tar bytes counted against [`WalkLimits::unpacked_bytes`].
    pub unpacked_bytes: u64,
}

/// Walks a gzip-compressed tar stream and hands each file and directory entry to `visit`, in
/// archive order. Errors (as a reason for a `bad_archive` message): a corrupt, truncated or
/// over-cap stream, a link, device, FIFO or unknown entry, a path the archive path rule refuses,
/// or whatever `visit` returns. Memory: one header, one metadata entry (at most 64 KiB) and
/// what `visit` keeps.
pub fn walk(
    reader: impl BufRead,
    limits: WalkLimits,
    mut visit: impl FnMut(Entry<'_>) -> Result<(), String>,
) -> Result<WalkTotals, String> {
    let gz = flate2::bufread::GzDecoder::new(reader);
    let mut archive = tar::Archive::new(gz);
    let mut totals = WalkTotals::default();
    let count = |totals: &mut WalkTotals, size: u64| {
        totals.unpacked_bytes = totals
            .unpacked_bytes
            .saturating_add(size)
            .saturating_add(512);
        if totals.unpacked_bytes > limits.unpacked_bytes {
            return Err(format!(
                "unpacked archive larger than {} bytes",
                limits.unpacked_bytes
            ));
        }
        Ok(())
    };
    let mut next_name: Option<String> = None;
    let mut next_size: Option<u64> = None;
    let entries = archive.entries().map_err(|e| stream_error(&e))?.raw(true);
    for entry in entries {
        let mut entry = entry.map_err(|e| stream_error(&e))?;
        let kind = entry.header().entry_type();
        let size = entry.size();
        if kind.is_gnu_longname()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
        {
            if size > META_CAP {
                return Err("oversized tar metadata entry".into());
            }
            count(&mut totals, size)?;
            if kind.is_gnu_longname() {
                let mut raw = Vec::with_capacity(size as usize);
                (&mut entry)
                    .take(size)
                    .read_to_end(&mut raw)
                    .map_err(|e| stream_error(&e))?;
                let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
                raw.truncate(end);
                next_name = Some(
                    String::from_utf8(raw).map_err(|_| "entry name is not UTF-8".to_string())?,
                );
            } else if kind.is_pax_local_extensions() {
                let pax = entry
                    .pax_extensions()
                    .map_err(|e| stream_error(&e))?
                    .into_iter()
                    .flatten();
                for ext in pax {
                    let ext = ext.map_err(|_| "malformed pax record".to_string())?;
                    let value = ext
                        .value()
                        .map_err(|_| "pax value is not UTF-8".to_string());
                    match ext.key_bytes() {
                        b"path" => next_name = Some(value?.to_string()),
                        b"size" => {
                            next_size = Some(value?.parse().map_err(|_| "bad pax size")?);
                        }
                        b"linkpath" => return Err("link entry (pax linkpath)".into()),
                        _ => {}
                    }
                }
            }
            continue;
        }
        if kind.is_hard_link() || kind.is_symlink() || kind.is_gnu_longlink() {
            return Err("link entry refused".into());
        }
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            return Err("device or fifo entry refused".into());
        }
        let is_dir = kind.is_dir();
        if !(is_dir || kind.is_file() || kind.is_contiguous()) {
            return Err(format!(
                "unsupported tar entry type {:?}",
                char::from(kind.as_byte()).escape_debug().to_string()
            ));
        }
        // Raw entries are read by the header's size; a pax size that says otherwise would make
        // two readers see two archives.
        if next_size.take().is_some_and(|s| s != size) {
            return Err("pax size disagrees with the header".into());
        }
        let name = match next_name.take() {
            Some(n) => n,
            None => String::from_utf8(entry.path_bytes().into_owned())
                .map_err(|_| "entry name is not UTF-8".to_string())?,
        };
        let path = ccaas_domain::archive::entry_path(&name).map_err(|why| {
            let shown: String = name.escape_debug().take(120).collect();
            format!("entry path {shown:?} {why}")
        })?;
        totals.entries += 1;
        if totals.entries > limits.entries {
            return Err(format!("more than {} entries", limits.entries));
        }
        if is_dir && size != 0 {
            return Err("directory entry with content".into());
        }
        count(&mut totals, size)?;
        visit(Entry {
            path,
            is_dir,
            size,
            body: &mut entry,
        })?;
    }
    if next_name.is_some() || next_size.is_some() {
        return Err("archive ends inside an entry's metadata".into());
    }
    // The tar crate stops at the first zero block, or at a clean end of stream: what follows
    // must be the second zero block and the record's zero padding, and then the gzip trailer.
    let mut gz = archive.into_inner();
    let mut tail = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        let n = gz.read(&mut buf).map_err(|e| stream_error(&e))?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Err("data after the tar end-of-archive marker".into());
        }
        // The padding is counted against the cap too, so endless zeros end the walk.
        tail += n as u64;
        if totals.unpacked_bytes.saturating_add(tail) > limits.unpacked_bytes {
            return Err(format!(
                "unpacked archive larger than {} bytes",
                limits.unpacked_bytes
            ));
        }
    }
    if tail < 512 {
        return Err("truncated tar stream (no end-of-archive marker)".into());
    }
    let mut rest = gz.into_inner();
    if !rest.fill_buf().map_err(|e| stream_error(&e))?.is_empty() {
        return Err("data after the end of the gzip stream".into());
    }
    Ok(totals)
}

fn stream_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "truncated archive".into(),
        _ => format!("corrupt or truncated archive ({e})"),
    }
}

/// Checks one device archive: [`walk`] with the device's caps, every entry under one of
/// `top_dirs` (an empty list accepts any top-level name) and within the per-entry cap.
fn check(
    reader: impl BufRead,
    limits: &Limits,
    top_dirs: &[String],
) -> Result<ArchiveStats, String> {
    let mut stats = ArchiveStats::default();
    let walk_limits = WalkLimits {
        entries: limits.entries,
        unpacked_bytes: limits.unpacked_bytes,
    };
    let totals = walk(reader, walk_limits, |e| {
        let top = e.path.split('/').next().unwrap_or_default();
        if !top_dirs.is_empty() && !top_dirs.iter().any(|d| d == top) {
            let shown: String = e.path.escape_debug().take(120).collect();
            return Err(format!("entry outside the module directories {shown:?}"));
        }
        if !e.is_dir {
            if e.size > limits.entry_bytes {
                return Err(format!("entry larger than {} bytes", limits.entry_bytes));
            }
            stats.files += 1;
            if e.path.ends_with(".gcda") {
                stats.gcda_files += 1;
            }
        }
        Ok(())
    })?;
    stats.entries = totals.entries;
    stats.unpacked_bytes = totals.unpacked_bytes;
    Ok(stats)
}

/// Validates a whole in-memory `.tar.gz`; handy for tests and for re-checking stored archives.
pub fn validate_archive(
    bytes: &[u8],
    limits: &Limits,
    top_dirs: &[String],
) -> Result<ArchiveStats, String> {
    let mut stats = check(bytes, limits, top_dirs)?;
    stats.bytes = bytes.len() as u64;
    Ok(stats)
}

/// Checks a `.tar.gz` stream pushed to it chunk by chunk, on a thread of its own.
pub struct ArchiveValidator {
    chunks: Option<mpsc::Sender<Vec<u8>>>,
    result: Option<oneshot::Receiver<Result<ArchiveStats, String>>>,
    bytes: u64,
    failed: Option<String>,
}

impl ArchiveValidator {
    /// A validator that accepts entries under the given top-level directories only (an empty
    /// list accepts any top-level name). Dropping it unfinished ends its thread.
    pub fn new(limits: &Limits, top_dirs: &[String]) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
        let (done, result) = oneshot::channel();
        let (limits, top_dirs) = (limits.clone(), top_dirs.to_vec());
        let spawned = std::thread::Builder::new()
            .name("archive-check".into())
            .spawn(move || {
                let _ = done.send(check(ChunkReader::new(rx), &limits, &top_dirs));
            });
        let failed = spawned
            .err()
            .map(|e| format!("cannot start the archive check: {e}"));
        ArchiveValidator {
            chunks: Some(tx),
            result: Some(result),
            bytes: 0,
            failed,
        }
    }

    /// Feeds the next compressed chunk; waits while the check is [`QUEUE_CHUNKS`] chunks
    /// behind. Errors with the reason of the first failed check (possibly found a few chunks
    /// after the bad bytes).
    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), String> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        self.bytes += chunk.len() as u64;
        let sent = match &self.chunks {
            Some(tx) => tx.send(chunk.to_vec()).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The check stopped reading: it failed.
        let reason = match self.outcome().await {
            Err(reason) => reason,
            Ok(_) => "data after the end of the archive".into(),
        };
        self.failed = Some(reason.clone());
        Err(reason)
    }

    /// Ends the stream: the gzip trailer and the tar end marker must both be there.
    pub async fn finish(mut self) -> Result<ArchiveStats, String> {
        if let Some(f) = self.failed.take() {
            return Err(f);
        }
        let mut stats = self.outcome().await?;
        stats.bytes = self.bytes;
        Ok(stats)
    }

    /// Closes the stream and waits for the check's verdict.
    async fn outcome(&mut self) -> Result<ArchiveStats, String> {
        self.chunks = None;
        match self.result.take() {
            Some(r) => r
                .await
                .unwrap_or_else(|_| Err("the archive check stopped".into())),
            None => Err("the archive check already ended".into()),
        }
    }
}

/// The pushed chunks as a [`BufRead`]; the end of the stream is the sender's drop.
struct ChunkReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    fn new(rx: mpsc::Receiver<Vec<u8>>) -> Self {
        ChunkReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(buf.len());
            buf[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(c) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                None => return Ok(&[]),
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// A raw ustar header with any name and type, checksum filled in.
    pub(crate) fn raw_header(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        let s = format!("{size:011o}\0");
        h[124..136].copy_from_slice(s.as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = typeflag;
        h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(*b)
                }
            })
            .sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    fn entry(name: &[u8], typeflag: u8, body: &[u8], link: &[u8]) -> Vec<u8> {
        let mut v = raw_header(name, typeflag, body.len() as u64, link).to_vec();
        v.extend_from_slice(body);
        v.resize(v.len().div_ceil(512) * 512, 0);
        v
    }

    fn gz(tar: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(tar).unwrap();
        e.finish().unwrap()
    }

    fn end() -> Vec<u8> {
        vec![0u8; 1024]
    }

    fn modules() -> Vec<String> {
        vec!["tmm".into(), "mcpd".into()]
    }

    fn check(tar: &[u8]) -> Result<ArchiveStats, String> {
        validate_archive(&gz(tar), &Limits::default(), &modules())
    }

    fn good_tar() -> Vec<u8> {
        let mut t = entry(b"tmm/", b'5', b"", b"");
        t.extend(entry(b"tmm/a/b/tmm.gcda", b'0', b"gcda-bytes", b""));
        t.extend(entry(b"mcpd/x.gcno", b'0', &[7u8; 700], b""));
        t.extend(end());
        t
    }

    #[test]
    fn a_plain_archive_of_module_files_passes_with_its_counts() {
        let s = check(&good_tar()).unwrap();
        assert_eq!((s.entries, s.files, s.gcda_files), (3, 2, 1));
    }

    #[test]
    fn an_archive_made_by_the_tar_crate_passes() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        let long = format!("tmm/{}/f.gcda", "d".repeat(150));
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let t = b.into_inner().unwrap();
        let s = check(&t).unwrap();
        assert_eq!((s.files, s.gcda_files), (1, 1));
    }

    #[test]
    fn hostile_entries_are_each_rejected() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("absolute", entry(b"/etc/passwd", b'0', b"x", b"")),
            ("dotdot", entry(b"tmm/../../etc/cron.d/x", b'0', b"x", b"")),
            ("dotdot-first", entry(b"../x", b'0', b"x", b"")),
            ("symlink", entry(b"tmm/l", b'2', b"", b"/etc/shadow")),
            ("hardlink", entry(b"tmm/h", b'1', b"", b"../../etc/shadow")),
            ("chardev", entry(b"tmm/c", b'3', b"", b"")),
            ("fifo", entry(b"tmm/f", b'6', b"", b"")),
            ("outside-module", entry(b"other/x.gcda", b'0', b"x", b"")),
            ("unknown-type", entry(b"tmm/s", b'S', b"", b"")),
            (
                "longname-dotdot",
                [
                    entry(b"././@LongLink", b'L', b"tmm/../../x\0", b""),
                    entry(b"tmm/ok", b'0', b"x", b""),
                ]
                .concat(),
            ),
            (
                "pax-absolute",
                [
                    entry(b"pax", b'x', b"20 path=/etc/passwd\n", b""),
                    entry(b"tmm/ok", b'0', b"x", b""),
                ]
                .concat(),
            ),
            (
                "pax-linkpath",
                [
                    entry(b"pax", b'x', b"17 linkpath=/etc\n", b""),
                    entry(b"tmm/ok", b'0', b"x", b""),
                ]
                .concat(),
            ),
        ];
        for (what, mut t) in cases {
            t.extend(end());
            assert!(check(&t).is_err(), "{what} was accepted");
        }
    }

    #[test]
    fn a_corrupted_header_checksum_is_rejected() {
        let mut t = good_tar();
        t[0] = b'x';
        assert!(check(&t).unwrap_err().contains("checksum"));
    }

    #[test]
    fn every_truncation_of_a_good_archive_is_rejected() {
        let full = gz(&good_tar());
        assert!(validate_archive(&full, &Limits::default(), &modules()).is_ok());
        for cut in 0..full.len() {
            assert!(
                validate_archive(&full[..cut], &Limits::default(), &modules()).is_err(),
                "accepted a cut at {cut} of {}",
                full.len()
            );
        }
    }

    #[test]
    fn a_tar_without_its_end_marker_is_rejected_even_when_gzip_is_complete() {
        let mut t = good_tar();
        t.truncate(t.len() - 1024);
        assert!(check(&t).unwrap_err().contains("end-of-archive"));
    }

    #[test]
    fn bytes_after_the_gzip_member_are_rejected() {
        let mut g = gz(&good_tar());
        g.extend_from_slice(b"junk");
        assert!(validate_archive(&g, &Limits::default(), &modules()).is_err());
    }

    #[test]
    fn size_limits_apply_to_entries_totals_and_counts() {
        let t = good_tar();
        let small = Limits {
            entry_bytes: 100,
            ..Limits::default()
        };
        assert!(validate_archive(&gz(&t), &small, &modules()).is_err());
        let tiny_total = Limits {
            unpacked_bytes: 1500,
            ..Limits::default()
        };
        assert!(validate_archive(&gz(&t), &tiny_total, &modules()).is_err());
        let few = Limits {
            entries: 2,
            ..Limits::default()
        };
        assert!(validate_archive(&gz(&t), &few, &modules()).is_err());
    }

    #[test]
    fn random_bytes_never_panic_and_never_pass() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let good = gz(&good_tar());
        for _ in 0..2000 {
            let mut b = good.clone();
            let flips = rng.random_range(1..8);
            for _ in 0..flips {
                let i = rng.random_range(0..b.len());
                b[i] ^= rng.random_range(1..=255u8);
            }
            // Either rejected, or (a flip in the gzip header's mtime/OS bytes) still fully valid.
            if let Ok(s) = validate_archive(&b, &Limits::default(), &modules()) {
                assert_eq!(s.files, 2);
            }
        }
    }

    #[test]
    fn a_dot_or_empty_segment_is_refused_as_the_unpacking_refuses_it() {
        for name in [&b"tmm/./a.gcda"[..], b"./tmm/a.gcda", b"tmm//a.gcda"] {
            let mut t = entry(name, b'0', b"x", b"");
            t.extend(end());
            let e = check(&t).unwrap_err();
            assert!(e.contains("segment"), "{e}");
        }
    }

    #[test]
    fn a_pax_size_that_disagrees_with_the_header_is_refused() {
        let mut t = entry(b"pax", b'x', b"12 size=700\n", b"");
        t.extend(entry(b"tmm/a.gcda", b'0', b"x", b""));
        t.extend(end());
        assert!(check(&t).unwrap_err().contains("pax size"));
        let mut ok = entry(b"pax", b'x', b"10 size=1\n", b"");
        ok.extend(entry(b"tmm/a.gcda", b'0', b"x", b""));
        ok.extend(end());
        assert_eq!(check(&ok).unwrap().files, 1);
    }

    #[test]
    fn an_oversized_long_name_is_refused_before_it_is_read() {
        let mut t = raw_header(b"././@LongLink", b'L', 1 << 30, b"").to_vec();
        t.extend(vec![b'a'; 4096]);
        assert!(check(&t).unwrap_err().contains("metadata"));
    }

    #[test]
    fn zeros_after_the_end_marker_count_against_the_cap() {
        let mut t = good_tar();
        t.extend(vec![0u8; 1 << 20]);
        assert!(check(&t).is_ok());
        let capped = Limits {
            unpacked_bytes: 1 << 19,
            ..Limits::default()
        };
        assert!(validate_archive(&gz(&t), &capped, &modules()).is_err());
    }

    #[tokio::test]
    async fn the_streaming_validator_agrees_with_the_whole_archive_check() {
        let good = gz(&good_tar());
        let mut v = ArchiveValidator::new(&Limits::default(), &modules());
        for c in good.chunks(7) {
            v.push(c).await.unwrap();
        }
        let s = v.finish().await.unwrap();
        assert_eq!(
            s,
            validate_archive(&good, &Limits::default(), &modules()).unwrap()
        );
        assert_eq!(s.bytes, good.len() as u64);

        let mut bad = entry(b"tmm/l", b'2', b"", b"/etc/shadow");
        bad.extend(end());
        let mut v = ArchiveValidator::new(&Limits::default(), &modules());
        let mut pushed = Ok(());
        for c in gz(&bad).chunks(16) {
            pushed = v.push(c).await;
            if pushed.is_err() {
                break;
            }
        }
        let reason = match pushed {
            Err(e) => e,
            Ok(()) => v.finish().await.unwrap_err(),
        };
        assert!(reason.contains("link"), "{reason}");

        let mut v = ArchiveValidator::new(&Limits::default(), &modules());
        v.push(&good[..good.len() / 2]).await.unwrap();
        assert!(v.finish().await.is_err(), "half an archive passed");
    }

    #[tokio::test]
    async fn a_hostile_stream_is_refused_while_it_is_still_being_pushed() {
        // An endless stream of bad tar data: the check fails early and push says so, long
        // before the stream would end.
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(&[0xffu8; 4096]).unwrap();
        let junk = e.finish().unwrap();
        let mut v = ArchiveValidator::new(&Limits::default(), &modules());
        let mut refused = None;
        for i in 0..10_000 {
            if let Err(r) = v.push(&junk).await {
                refused = Some((i, r));
                break;
            }
        }
        let (i, _) = refused.expect("never refused");
        assert!(i < 100, "refused only after {i} chunks");
    }
}
