//! Reading a raw `gcda.tar.gz`, and a build's `notes.tar.gz` and `sources.tar.gz`, back into
//! memory with hard caps: entry count, bytes per entry and bytes in all. Only plain files
//! under safe relative paths are kept (`.gcno` and `.gcda` of the raw archive, `.gcno` of the
//! notes, the wanted sources); links, devices and paths the one archive path rule refuses
//! ([`ccaas_domain::archive::entry_path`]: `..`, absolute, `.` or empty segments) make the
//! archive unusable. The walk is the device's ([`ccaas_device::archive::walk`]), so what the
//! device accepted at collect time unpacks here. Never panics on any input.

use std::collections::BTreeMap;
use std::io::{BufReader, Read};

use ccaas_device::archive::{WalkLimits, walk};

use crate::CoverageError;

/// Caps for [`unpack`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Most archive entries (of any kind) read.
    pub entries: u64,
    /// Most bytes of one kept file.
    pub entry_bytes: u64,
    /// Most bytes of all kept files together: the memory the unpacked archive may take.
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

/// The coverage files of an archive, by archive path (`<module>/<build path>/x.gcda`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// `.gcno` files.
    pub notes: BTreeMap<String, Vec<u8>>,
    /// `.gcda` files.
    pub data: BTreeMap<String, Vec<u8>>,
}

impl Unpacked {
    /// The bytes of every kept file together (what the caps counted).
    pub fn bytes(&self) -> u64 {
        self.notes
            .values()
            .chain(self.data.values())
            .map(|b| b.len() as u64)
            .sum()
    }
}

/// Reads a gzip-compressed tar stream. Errors: [`CoverageError::BadArchive`] for a corrupt,
/// hostile or over-limit archive.
pub fn unpack(reader: impl Read, limits: &UnpackLimits) -> Result<Unpacked, CoverageError> {
    let mut out = Unpacked::default();
    read_files(
        reader,
        limits,
        |p| p.ends_with(".gcno") || p.ends_with(".gcda"),
        |path, bytes| {
            if path.ends_with(".gcno") {
                out.notes.insert(path, bytes);
            } else {
                out.data.insert(path, bytes);
            }
        },
    )
    .map_err(CoverageError::BadArchive)?;
    Ok(out)
}

/// Reads a build's `notes.tar.gz` (paths relative to the published directory): its `.gcno`
/// files by path, with the same caps and refusals as [`unpack`]. Errors: why the archive is
/// unusable, for the caller to name it.
pub fn unpack_notes(
    reader: impl Read,
    limits: &UnpackLimits,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    read_files(
        reader,
        limits,
        |p| p.ends_with(".gcno"),
        |path, bytes| {
            out.insert(path, bytes);
        },
    )?;
    Ok(out)
}

/// Reads a build's `sources.tar.gz`, keeping only the files `keep` asks for (the report needs
/// only the sources whose names are in the model), with the same caps and refusals as
/// [`unpack`]. Errors: why the archive is unusable.
pub fn unpack_sources(
    reader: impl Read,
    limits: &UnpackLimits,
    keep: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    read_files(reader, limits, keep, |path, bytes| {
        out.insert(path, bytes);
    })?;
    Ok(out)
}

/// Walks a gzip-compressed tar stream with the device's walk (the one archive path rule, links
/// and devices refused, metadata capped, the gzip trailer and tar end marker required) and
/// hands every plain file `keep` wants to `put`, with the caps of `limits` (kept files only
/// count towards the byte caps; every file and directory counts towards the entry cap).
/// Errors: why the archive is unusable.
fn read_files(
    reader: impl Read,
    limits: &UnpackLimits,
    keep: impl Fn(&str) -> bool,
    mut put: impl FnMut(String, Vec<u8>),
) -> Result<(), String> {
    let mut total = 0u64;
    let walk_limits = WalkLimits {
        entries: limits.entries,
        unpacked_bytes: u64::MAX,
    };
    walk(BufReader::new(reader), walk_limits, |e| {
        if e.is_dir || !keep(e.path) {
            return Ok(());
        }
        let (path, size) = (e.path, e.size);
        if size > limits.entry_bytes {
            return Err(format!("{path} is over {} bytes", limits.entry_bytes));
        }
        total = total.saturating_add(size);
        if total > limits.total_bytes {
            return Err(format!(
                "the kept files are over {} bytes in all",
                limits.total_bytes
            ));
        }
        // The header's size was checked against the caps before any allocation; `take` keeps a
        // lying header from reading more.
        let mut bytes = Vec::with_capacity(size as usize);
        e.body
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|err| format!("{path}: {err}"))?;
        if bytes.len() as u64 != size {
            return Err(format!("{path} is truncated"));
        }
        put(path.to_owned(), bytes);
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
        assert_eq!(u.notes["tmm/b/x.gcno"], b"notes");
        assert_eq!(u.data["tmm/b/x.gcda"], b"data");
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
        assert_eq!(u.data["m/tmp/build/x.gcda"], b"data");
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
