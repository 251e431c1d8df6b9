//! Streaming validation of the `tar -czf -` archive a device sends.
//!
//! The bytes are checked as they arrive, without ever holding the archive: the gzip member
//! must be complete (CRC and length trailer, nothing after it), the tar stream must end with
//! its two zero blocks, and every entry must be a plain file or directory under one of the
//! requested module directories, with a relative path free of `..`, within the size limits.
//! Links, devices and FIFOs are refused, so nothing can point out of the tree.

use std::io::{self, Write};

use flate2::write::GzDecoder;

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

/// Checks a `.tar.gz` stream pushed to it chunk by chunk.
pub struct ArchiveValidator {
    gz: GzDecoder<TarChecker>,
    bytes: u64,
    failed: Option<String>,
}

impl ArchiveValidator {
    /// A validator that accepts entries under the given top-level directories only (an empty
    /// list accepts any top-level name).
    pub fn new(limits: &Limits, top_dirs: &[String]) -> Self {
        ArchiveValidator {
            gz: GzDecoder::new(TarChecker::new(limits, top_dirs)),
            bytes: 0,
            failed: None,
        }
    }

    /// Feeds the next compressed chunk. Errors with the reason of the first failed check.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), String> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        self.bytes += chunk.len() as u64;
        if let Err(e) = self.gz.write_all(chunk) {
            let reason = reason_of(&e, self.gz.get_ref());
            self.failed = Some(reason.clone());
            return Err(reason);
        }
        Ok(())
    }

    /// Ends the stream: the gzip trailer and the tar end marker must both be there.
    pub fn finish(mut self) -> Result<ArchiveStats, String> {
        if let Some(f) = self.failed {
            return Err(f);
        }
        if let Err(e) = self.gz.try_finish() {
            return Err(reason_of(&e, self.gz.get_ref()));
        }
        let tar = self.gz.get_ref();
        if let Some(f) = &tar.failed {
            return Err(f.clone());
        }
        if !tar.ended {
            return Err("truncated tar stream (no end-of-archive marker)".into());
        }
        Ok(ArchiveStats {
            bytes: self.bytes,
            unpacked_bytes: tar.unpacked,
            entries: tar.entries,
            files: tar.files,
            gcda_files: tar.gcda_files,
        })
    }
}

fn reason_of(e: &io::Error, tar: &TarChecker) -> String {
    match &tar.failed {
        Some(f) => f.clone(),
        None if e.kind() == io::ErrorKind::WriteZero => {
            "data after the end of the gzip stream".into()
        }
        None => format!("corrupt or truncated gzip stream ({})", e.kind()),
    }
}

/// Validates a whole in-memory `.tar.gz`; handy for tests and for re-checking stored archives.
pub fn validate_archive(
    bytes: &[u8],
    limits: &Limits,
    top_dirs: &[String],
) -> Result<ArchiveStats, String> {
    let mut v = ArchiveValidator::new(limits, top_dirs);
    for c in bytes.chunks(64 << 10) {
        v.push(c)?;
    }
    v.finish()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Skip (file content or ignored metadata).
    Skip,
    /// Collect a GNU long name.
    LongName,
    /// Collect a pax extended header.
    Pax,
}

struct TarChecker {
    top_dirs: Vec<String>,
    entry_cap: u64,
    unpacked_cap: u64,
    entries_cap: u64,
    header: Vec<u8>,
    /// Bytes of the current body still expected, then padding.
    body_left: u64,
    pad_left: u64,
    body_kind: Body,
    collected: Vec<u8>,
    next_name: Option<String>,
    next_size: Option<u64>,
    zero_blocks: u8,
    ended: bool,
    unpacked: u64,
    entries: u64,
    files: u64,
    gcda_files: u64,
    failed: Option<String>,
}

const BLOCK: usize = 512;
const META_CAP: u64 = 64 << 10;

impl TarChecker {
    fn new(limits: &Limits, top_dirs: &[String]) -> Self {
        TarChecker {
            top_dirs: top_dirs.to_vec(),
            entry_cap: limits.entry_bytes,
            unpacked_cap: limits.unpacked_bytes,
            entries_cap: limits.entries,
            header: Vec::with_capacity(BLOCK),
            body_left: 0,
            pad_left: 0,
            body_kind: Body::Skip,
            collected: Vec::new(),
            next_name: None,
            next_size: None,
            zero_blocks: 0,
            ended: false,
            unpacked: 0,
            entries: 0,
            files: 0,
            gcda_files: 0,
            failed: None,
        }
    }

    fn fail(&mut self, reason: String) -> io::Error {
        if self.failed.is_none() {
            self.failed = Some(reason.clone());
        }
        io::Error::new(io::ErrorKind::InvalidData, reason)
    }

    fn consume(&mut self, mut buf: &[u8]) -> Result<(), String> {
        while !buf.is_empty() {
            if self.ended {
                // GNU tar pads the archive to its record size with zeros; anything else is junk.
                if buf.iter().any(|b| *b != 0) {
                    return Err("data after the tar end-of-archive marker".into());
                }
                return Ok(());
            }
            if self.body_left > 0 {
                let n = (self.body_left.min(buf.len() as u64)) as usize;
                if self.body_kind != Body::Skip {
                    self.collected.extend_from_slice(&buf[..n]);
                }
                self.body_left -= n as u64;
                buf = &buf[n..];
                if self.body_left == 0 {
                    self.end_body()?;
                }
                continue;
            }
            if self.pad_left > 0 {
                let n = (self.pad_left.min(buf.len() as u64)) as usize;
                self.pad_left -= n as u64;
                buf = &buf[n..];
                continue;
            }
            let n = (BLOCK - self.header.len()).min(buf.len());
            self.header.extend_from_slice(&buf[..n]);
            buf = &buf[n..];
            if self.header.len() == BLOCK {
                let h = std::mem::take(&mut self.header);
                self.header_block(&h)?;
                self.header = h;
                self.header.clear();
            }
        }
        Ok(())
    }

    fn end_body(&mut self) -> Result<(), String> {
        match self.body_kind {
            Body::Skip => {}
            Body::LongName => {
                let raw = std::mem::take(&mut self.collected);
                let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
                let name = String::from_utf8(raw[..end].to_vec())
                    .map_err(|_| "entry name is not UTF-8".to_string())?;
                self.next_name = Some(name);
            }
            Body::Pax => {
                let raw = std::mem::take(&mut self.collected);
                self.parse_pax(&raw)?;
            }
        }
        self.body_kind = Body::Skip;
        Ok(())
    }

    fn parse_pax(&mut self, mut raw: &[u8]) -> Result<(), String> {
        while !raw.is_empty() {
            let sp = raw
                .iter()
                .position(|b| *b == b' ')
                .ok_or("malformed pax record")?;
            let len: usize = std::str::from_utf8(&raw[..sp])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("malformed pax record length")?;
            if len <= sp + 1 || len > raw.len() || raw[len - 1] != b'\n' {
                return Err("malformed pax record".into());
            }
            let rec = &raw[sp + 1..len - 1];
            let eq = rec
                .iter()
                .position(|b| *b == b'=')
                .ok_or("malformed pax record")?;
            let (key, value) = (&rec[..eq], &rec[eq + 1..]);
            let value = std::str::from_utf8(value).map_err(|_| "pax value is not UTF-8")?;
            match key {
                b"path" => self.next_name = Some(value.to_string()),
                b"size" => {
                    self.next_size = Some(value.parse().map_err(|_| "bad pax size")?);
                }
                b"linkpath" => return Err("link entry (pax linkpath)".into()),
                _ => {}
            }
            raw = &raw[len..];
        }
        Ok(())
    }

    fn header_block(&mut self, h: &[u8]) -> Result<(), String> {
        if h.iter().all(|b| *b == 0) {
            self.zero_blocks += 1;
            if self.zero_blocks == 2 {
                if self.next_name.is_some() || self.next_size.is_some() {
                    return Err("archive ends inside an entry's metadata".into());
                }
                self.ended = true;
            }
            return Ok(());
        }
        if self.zero_blocks > 0 {
            return Err("entry after an end-of-archive block".into());
        }
        if !checksum_ok(h) {
            return Err("bad tar header checksum".into());
        }
        let mut size = parse_size(&h[124..136]).ok_or("bad tar size field")?;
        let typeflag = h[156];
        match typeflag {
            b'L' | b'x' | b'g' => {
                if size > META_CAP {
                    return Err("oversized tar metadata entry".into());
                }
                self.count_unpacked(size)?;
                self.start_body(
                    size,
                    match typeflag {
                        b'L' => Body::LongName,
                        b'x' => Body::Pax,
                        _ => Body::Skip,
                    },
                );
                return Ok(());
            }
            b'0' | 0 | b'7' | b'5' => {}
            b'1' | b'2' | b'K' => return Err("link entry refused".into()),
            b'3' | b'4' | b'6' => return Err("device or fifo entry refused".into()),
            other => {
                return Err(format!(
                    "unsupported tar entry type {:?}",
                    char::from(other).escape_debug().to_string()
                ));
            }
        }
        if let Some(s) = self.next_size.take() {
            size = s;
        }
        let name = match self.next_name.take() {
            Some(n) => n,
            None => header_name(h)?,
        };
        self.check_name(&name)?;
        self.entries += 1;
        if self.entries > self.entries_cap {
            return Err(format!("more than {} entries", self.entries_cap));
        }
        if typeflag == b'5' {
            if size != 0 {
                return Err("directory entry with content".into());
            }
        } else {
            if size > self.entry_cap {
                return Err(format!("entry larger than {} bytes", self.entry_cap));
            }
            self.files += 1;
            if name.ends_with(".gcda") {
                self.gcda_files += 1;
            }
        }
        self.count_unpacked(size)?;
        self.start_body(size, Body::Skip);
        Ok(())
    }

    fn count_unpacked(&mut self, size: u64) -> Result<(), String> {
        self.unpacked = self
            .unpacked
            .saturating_add(size)
            .saturating_add(BLOCK as u64);
        if self.unpacked > self.unpacked_cap {
            return Err(format!(
                "unpacked archive larger than {} bytes",
                self.unpacked_cap
            ));
        }
        Ok(())
    }

    fn start_body(&mut self, size: u64, kind: Body) {
        self.body_left = size;
        self.pad_left = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        self.body_kind = kind;
        self.collected.clear();
        if size == 0 && kind != Body::Skip {
            // An empty long name or pax header: nothing to apply.
            self.body_kind = Body::Skip;
        }
    }

    fn check_name(&self, name: &str) -> Result<(), String> {
        let shown: String = name.escape_debug().take(120).collect();
        if name.is_empty() || name.len() > 4096 {
            return Err(format!("bad entry name {shown:?}"));
        }
        if name.starts_with('/') || name.starts_with('\\') || name.contains('\0') {
            return Err(format!("absolute entry path {shown:?}"));
        }
        let mut parts = name.split('/').filter(|p| !p.is_empty() && *p != ".");
        if name.split('/').any(|p| p == "..") {
            return Err(format!("entry path with '..' {shown:?}"));
        }
        if !self.top_dirs.is_empty() {
            match parts.next() {
                Some(top) if self.top_dirs.iter().any(|d| d == top) => {}
                _ => return Err(format!("entry outside the module directories {shown:?}")),
            }
        }
        Ok(())
    }
}

impl Write for TarChecker {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(f) = &self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, f.clone()));
        }
        match self.consume(buf) {
            Ok(()) => Ok(buf.len()),
            Err(reason) => Err(self.fail(reason)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn checksum_ok(h: &[u8]) -> bool {
    let Some(want) = parse_octal(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == want
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let s: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|b| *b != 0)
        .filter(|b| *b != b' ')
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        // GNU base-256: big-endian, first byte's high bit is the marker.
        if field[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = u64::from(field[0] & 0x3f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    parse_octal(field)
}

fn header_name(h: &[u8]) -> Result<String, String> {
    let field = |r: std::ops::Range<usize>| {
        let f = &h[r];
        let end = f.iter().position(|b| *b == 0).unwrap_or(f.len());
        String::from_utf8(f[..end].to_vec()).map_err(|_| "entry name is not UTF-8".to_string())
    };
    let name = field(0..100)?;
    if &h[257..262] == b"ustar" {
        let prefix = field(345..500)?;
        if !prefix.is_empty() {
            return Ok(format!("{prefix}/{name}"));
        }
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

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
}
