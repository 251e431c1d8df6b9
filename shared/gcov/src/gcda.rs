//! The `.gcda` data reader: turns data bytes into per-function arc counters, and checks them
//! against a notes file (stamp, checksum, version, per-function checksums and counter counts).

use crate::error::{Error, FileKind, Result};
use crate::format::{self, Cursor, TAG_COUNTER_ARCS, TAG_FUNCTION, TAG_OBJECT_SUMMARY, Version};
use crate::gcno::Notes;

/// One parsed data file.
#[derive(Debug, Clone)]
pub struct Data {
    /// The producer's version.
    pub version: Version,
    /// Compilation stamp (must equal the notes' stamp).
    pub stamp: u32,
    /// Header checksum (GCC 12+).
    pub checksum: Option<u32>,
    /// Number of program runs merged into this file (from the object summary).
    pub runs: u32,
    /// Function records with their arc counters, in file order.
    pub functions: Vec<DataFunction>,
    /// The stored counters that [`Counters::Stored`] slices.
    pub counters: Vec<u64>,
}

/// The arc counters of one function record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counters {
    /// The function record has no arc counter record.
    Missing,
    /// A GCC 12+ negative-length record: this many counters, all zero.
    Zero(u32),
    /// Counters stored at `start..start + len` in [`Data::counters`].
    Stored {
        /// First index.
        start: u32,
        /// Count.
        len: u32,
    },
}

impl Counters {
    /// How many counters the record holds.
    pub fn len(self) -> u32 {
        match self {
            Counters::Missing => 0,
            Counters::Zero(n) => n,
            Counters::Stored { len, .. } => len,
        }
    }

    /// Whether no counter is held.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// One function record of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFunction {
    /// Identifier shared with the notes.
    pub ident: u32,
    /// Line-number checksum (must equal the notes').
    pub lineno_checksum: u32,
    /// CFG checksum (must equal the notes').
    pub cfg_checksum: u32,
    /// The arc counters.
    pub arcs: Counters,
}

/// Parses a data file. `name` is only used in errors.
pub fn parse(name: &str, data: &[u8]) -> Result<Data> {
    let mut c = Cursor::open(name, data, FileKind::Data)?;
    let vword = c.u32("version")?;
    let version = Version::decode(vword).ok_or_else(|| Error::UnsupportedVersion {
        file: name.to_string(),
        version: format::version_text(vword),
    })?;
    c.set_version(version);
    let v = version.num;
    let stamp = c.u32("stamp")?;
    let checksum = if v >= 120 {
        Some(c.u32("checksum")?)
    } else {
        None
    };
    let mut out = Data {
        version,
        stamp,
        checksum,
        runs: 0,
        functions: Vec::new(),
        counters: Vec::new(),
    };
    let mut current: Option<usize> = None;
    let fn_len_words: u64 = if v >= 47 { 3 } else { 2 };

    while c.remaining() >= 4 {
        let rec_start = c.pos();
        let tag = c.u32("tag")?;
        if tag == 0 {
            break;
        }
        let raw_len = c.u32("record length")?;
        // GCC 11+: a negative counter length means "|len| units of zero counters, not stored"
        // (units: bytes since GCC 12, 4-byte words before).
        let all_zero =
            tag & 0xff00_0000 == 0x0100_0000 && tag != TAG_FUNCTION && (raw_len as i32) < 0;
        let len_bytes = if all_zero { 0 } else { c.length_bytes(raw_len) };
        if len_bytes > c.remaining() as u64 {
            return Err(c.corrupt(
                rec_start,
                format!(
                    "record {tag:#010x} claims {len_bytes} bytes, {} left",
                    c.remaining()
                ),
            ));
        }
        let body_start = c.pos();
        let mut r = c.sub(len_bytes as usize);
        if tag == TAG_FUNCTION {
            if len_bytes == fn_len_words * 4 {
                let ident = r.u32("function ident")?;
                let lineno_checksum = r.u32("function checksum")?;
                let cfg_checksum = if v >= 47 { r.u32("cfg checksum")? } else { 0 };
                out.functions.push(DataFunction {
                    ident,
                    lineno_checksum,
                    cfg_checksum,
                    arcs: Counters::Missing,
                });
                current = Some(out.functions.len() - 1);
            } else {
                // A placeholder (length 0) or a record we do not understand.
                current = None;
            }
        } else if tag == TAG_COUNTER_ARCS {
            let Some(i) = current else {
                return Err(c.corrupt(rec_start, "arc counters outside a function"));
            };
            let arcs = if all_zero {
                let n = (c.length_bytes((raw_len as i32).unsigned_abs()) / 8)
                    .min(u64::from(u32::MAX)) as u32;
                Counters::Zero(n)
            } else {
                let n = (len_bytes / 8) as u32;
                let start = out.counters.len() as u32;
                for _ in 0..n {
                    out.counters.push(r.u64("arc counter")?);
                }
                Counters::Stored { start, len: n }
            };
            let f = &mut out.functions[i];
            if f.arcs == Counters::Missing {
                f.arcs = arcs;
            } else {
                // A second counter record for one function: keep it as a record of its own.
                let mut g = *f;
                g.arcs = arcs;
                out.functions.push(g);
                current = Some(out.functions.len() - 1);
            }
        } else if tag == TAG_OBJECT_SUMMARY {
            if v >= 90 {
                out.runs = r.u32("runs").unwrap_or(0);
            } else {
                // checksum, then per counter kind: num, runs, ...
                let _ = r.u32("summary checksum");
                let _ = r.u32("summary num");
                out.runs = r.u32("runs").unwrap_or(0);
            }
        }
        c.seek(body_start + len_bytes as usize);
    }
    Ok(out)
}

/// Checks that `data` belongs to `notes` (stamp, version, checksum).
pub fn check_header(notes_name: &str, notes: &Notes, data_name: &str, data: &Data) -> Result<()> {
    if data.version.word != notes.version.word {
        return Err(Error::VersionMismatch {
            notes: notes_name.to_string(),
            data: data_name.to_string(),
            notes_version: notes.version.text(),
            data_version: data.version.text(),
        });
    }
    if data.stamp != notes.stamp {
        return Err(Error::StampMismatch {
            notes: notes_name.to_string(),
            data: data_name.to_string(),
            notes_stamp: notes.stamp,
            data_stamp: data.stamp,
        });
    }
    // GCC 12 writes 0 in the notes' checksum word; compare only when both carry one.
    if let (Some(a), Some(b)) = (notes.checksum, data.checksum)
        && a != 0
        && b != 0
        && a != b
    {
        return Err(Error::ChecksumMismatch {
            notes: notes_name.to_string(),
            data: data_name.to_string(),
            notes_checksum: a,
            data_checksum: b,
        });
    }
    Ok(())
}

/// Adds the arc counters of `data` into `counts`, which holds, for every function of `notes` in
/// order, [`crate::gcno::NoteFunction::counters`] values. Checks every function record against
/// the notes; functions unknown to the notes are ignored (as gcov does).
pub fn accumulate(
    notes_name: &str,
    notes: &Notes,
    offsets: &[u32],
    by_ident: &std::collections::HashMap<u32, usize>,
    data_name: &str,
    data: &Data,
    counts: &mut [u64],
) -> Result<()> {
    check_header(notes_name, notes, data_name, data)?;
    for df in &data.functions {
        let Some(&fi) = by_ident.get(&df.ident) else {
            continue;
        };
        let nf = &notes.functions[fi];
        let mismatch = |what: String| Error::FunctionMismatch {
            notes: notes_name.to_string(),
            data: data_name.to_string(),
            function: nf.name.clone(),
            what,
        };
        if df.lineno_checksum != nf.lineno_checksum || df.cfg_checksum != nf.cfg_checksum {
            return Err(mismatch(format!(
                "checksums {:#x}/{:#x} in the data, {:#x}/{:#x} in the notes",
                df.lineno_checksum, df.cfg_checksum, nf.lineno_checksum, nf.cfg_checksum
            )));
        }
        if df.arcs == Counters::Missing {
            continue;
        }
        if df.arcs.len() != nf.counters {
            return Err(mismatch(format!(
                "{} arc counters in the data, {} instrumented arcs in the notes",
                df.arcs.len(),
                nf.counters
            )));
        }
        if let Counters::Stored { start, len } = df.arcs {
            let dst = &mut counts[offsets[fi] as usize..(offsets[fi] + len) as usize];
            let src = &data.counters[start as usize..(start + len) as usize];
            for (d, s) in dst.iter_mut().zip(src) {
                *d = d.wrapping_add(*s);
            }
        }
    }
    Ok(())
}
