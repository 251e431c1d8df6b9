//! The `.gcno` notes reader: turns notes bytes into functions, their block graphs (arcs with
//! flags) and the source lines of every block. No counts here; see `gcda` and `solve`.

use std::collections::HashMap;

use crate::error::{Error, FileKind, Result};
use crate::format::{
    self, ARC_FAKE, ARC_ON_TREE, Cursor, TAG_ARCS, TAG_BLOCKS, TAG_FUNCTION, TAG_LINES, Version,
};

/// One parsed notes file.
#[derive(Debug, Clone)]
pub struct Notes {
    /// The producer's version.
    pub version: Version,
    /// Compilation stamp; the matching .gcda carries the same one.
    pub stamp: u32,
    /// Header checksum (GCC 12+).
    pub checksum: Option<u32>,
    /// Compilation working directory (GCC 9+).
    pub cwd: Option<String>,
    /// Source file names referenced by the notes, canonicalised, each once.
    pub sources: Vec<String>,
    /// Functions in file order.
    pub functions: Vec<NoteFunction>,
}

/// One function of a notes file.
#[derive(Debug, Clone, Default)]
pub struct NoteFunction {
    /// Identifier shared with the .gcda.
    pub ident: u32,
    /// Checksum of the line numbers.
    pub lineno_checksum: u32,
    /// Checksum of the control-flow graph.
    pub cfg_checksum: u32,
    /// Mangled name.
    pub name: String,
    /// Compiler-generated function with no source (dropped by gcov).
    pub artificial: bool,
    /// Index into [`Notes::sources`] of the file that defines the function.
    pub source: u32,
    /// First line.
    pub start_line: u32,
    /// First column (GCC 8+).
    pub start_column: u32,
    /// Last line (GCC 8+; the start line before).
    pub end_line: u32,
    /// Last column (GCC 9+).
    pub end_column: u32,
    /// Number of basic blocks, entry and exit included.
    pub blocks: u32,
    /// Arcs, grouped by source block in ascending order, in record order within a block.
    pub arcs: Vec<NoteArc>,
    /// Number of arcs that carry a counter (not on the spanning tree).
    pub counters: u32,
    /// Source locations of blocks, in ascending block order, in record order within a block.
    pub locations: Vec<Location>,
    /// The line numbers that `locations` slice.
    pub lines: Vec<u32>,
    /// Whether some arc is fake with a non-entry source (a call that may not return).
    pub has_fake_call: bool,
}

/// One arc of a block graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteArc {
    /// Source block.
    pub src: u32,
    /// Destination block.
    pub dst: u32,
    /// `ARC_ON_TREE` | `ARC_FAKE` | `ARC_FALLTHROUGH`.
    pub flags: u32,
}

/// A run of lines of one block in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Block index.
    pub block: u32,
    /// Index into [`Notes::sources`].
    pub source: u32,
    /// Start of the run in [`NoteFunction::lines`].
    pub start: u32,
    /// Number of lines.
    pub len: u32,
}

impl NoteFunction {
    /// The lines of one location.
    pub fn location_lines(&self, loc: &Location) -> &[u32] {
        &self.lines[loc.start as usize..(loc.start + loc.len) as usize]
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Interner<'a> {
    /// The last name looked up (consecutive records nearly always name the same file).
    last: Option<(&'a [u8], u32)>,
    raw: HashMap<&'a [u8], u32>,
    canon: HashMap<String, u32>,
    names: Vec<String>,
}

impl<'a> Interner<'a> {
    fn get(&mut self, raw: &'a [u8]) -> u32 {
        if let Some((r, i)) = self.last
            && r == raw
        {
            return i;
        }
        if let Some(&i) = self.raw.get(raw) {
            self.last = Some((raw, i));
            return i;
        }
        let canon = format::canonicalize(&String::from_utf8_lossy(raw));
        let idx = match self.canon.get(&canon) {
            Some(&i) => i,
            None => {
                let i = self.names.len() as u32;
                self.canon.insert(canon.clone(), i);
                self.names.push(canon);
                i
            }
        };
        self.raw.insert(raw, idx);
        self.last = Some((raw, idx));
        idx
    }
}

/// Per-function parse state.
struct Pending {
    f: NoteFunction,
    /// (src block, record index) of each ARCS record, to reject duplicates.
    arc_records: Vec<(u32, u32)>,
    blocks_seen: bool,
}

/// Parses a notes file. `name` is only used in errors.
pub fn parse(name: &str, data: &[u8]) -> Result<Notes> {
    let mut c = Cursor::open(name, data, FileKind::Notes)?;
    let vword = c.u32("version")?;
    let version = Version::decode(vword).ok_or_else(|| Error::UnsupportedVersion {
        file: name.to_string(),
        version: format::version_text(vword),
    })?;
    if version.num < 34 {
        return Err(Error::UnsupportedVersion {
            file: name.to_string(),
            version: version.text(),
        });
    }
    c.set_version(version);
    let v = version.num;
    let stamp = c.u32("stamp")?;
    let checksum = if v >= 120 {
        Some(c.u32("checksum")?)
    } else {
        None
    };
    let cwd = if v >= 90 {
        c.string("working directory")?.map(lossy)
    } else {
        None
    };
    if v >= 80 {
        c.u32("has_unexecuted_blocks")?;
    }

    let mut names = Interner {
        last: None,
        raw: HashMap::new(),
        canon: HashMap::new(),
        names: Vec::new(),
    };
    let mut functions: Vec<NoteFunction> = Vec::new();
    let mut cur: Option<Pending> = None;
    let mut current_tag = 0u32;
    let mut total_blocks: u64 = 0;
    let block_budget = data.len() as u64 / 4 + 64;

    while c.remaining() >= 4 {
        let rec_start = c.pos();
        let tag = c.u32("tag")?;
        if tag == 0 {
            break;
        }
        let len = c.u32("record length")?;
        let len_bytes = c.length_bytes(len);
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
            if let Some(p) = cur.take() {
                functions.push(finish(&c, p)?);
            }
            let ident = r.u32("function ident")?;
            let lineno_checksum = r.u32("function checksum")?;
            let cfg_checksum = if v >= 47 { r.u32("cfg checksum")? } else { 0 };
            let fname = r.string("function name")?.map(lossy).unwrap_or_default();
            let artificial = if v >= 80 {
                r.u32("artificial")? != 0
            } else {
                false
            };
            let src = r.string("function source")?.unwrap_or(b"<unknown>");
            let source = names.get(src);
            let start_line = r.u32("start line")?;
            let (start_column, end_line) = if v >= 80 {
                (r.u32("start column")?, r.u32("end line")?)
            } else {
                (0, start_line)
            };
            let end_column = if v >= 90 { r.u32("end column")? } else { 0 };
            cur = Some(Pending {
                f: NoteFunction {
                    ident,
                    lineno_checksum,
                    cfg_checksum,
                    name: fname,
                    artificial,
                    source,
                    start_line,
                    start_column,
                    end_line,
                    end_column,
                    ..NoteFunction::default()
                },
                arc_records: Vec::new(),
                blocks_seen: false,
            });
            current_tag = tag;
        } else if let (Some(p), TAG_BLOCKS) = (cur.as_mut(), tag) {
            if !p.blocks_seen {
                let n = if v >= 80 {
                    r.u32("block count")?
                } else {
                    (len_bytes / 4) as u32
                };
                total_blocks += u64::from(n);
                if total_blocks > block_budget {
                    return Err(c.corrupt(
                        rec_start,
                        format!(
                            "{n} blocks in '{}' is more than the file can describe",
                            p.f.name
                        ),
                    ));
                }
                p.f.blocks = n;
                p.blocks_seen = true;
            }
        } else if let (Some(p), TAG_ARCS) = (cur.as_mut(), tag) {
            let src = r.u32("arc source")?;
            let f = &mut p.f;
            if src >= f.blocks {
                return Err(c.corrupt(
                    rec_start,
                    format!("arc source block {src} out of range in '{}'", f.name),
                ));
            }
            p.arc_records.push((src, p.arc_records.len() as u32));
            let n = (len_bytes / 4).saturating_sub(1) / 2;
            for _ in 0..n {
                let dst = r.u32("arc destination")?;
                let flags = r.u32("arc flags")?;
                if dst >= f.blocks {
                    return Err(c.corrupt(
                        rec_start,
                        format!("arc destination block {dst} out of range in '{}'", f.name),
                    ));
                }
                if flags & ARC_ON_TREE == 0 {
                    f.counters += 1;
                }
                if flags & ARC_FAKE != 0 && src != 0 {
                    f.has_fake_call = true;
                }
                f.arcs.push(crate::gcno::NoteArc { src, dst, flags });
            }
        } else if let (Some(p), TAG_LINES) = (cur.as_mut(), tag) {
            let f = &mut p.f;
            let block = r.u32("lines block")?;
            if block >= f.blocks {
                return Err(c.corrupt(
                    rec_start,
                    format!("line block {block} out of range in '{}'", f.name),
                ));
            }
            let mut open: Option<usize> = None;
            while r.remaining() >= 4 {
                let line = r.u32("line number")?;
                if line != 0 {
                    match open {
                        Some(i) => {
                            f.lines.push(line);
                            f.locations[i].len += 1;
                        }
                        None => {
                            return Err(c.corrupt(
                                rec_start,
                                format!("line number before a file name in '{}'", f.name),
                            ));
                        }
                    }
                } else {
                    match r.string("line file name")? {
                        None => break,
                        Some(fname) => {
                            let source = names.get(fname);
                            f.locations.push(Location {
                                block,
                                source,
                                start: f.lines.len() as u32,
                                len: 0,
                            });
                            open = Some(f.locations.len() - 1);
                        }
                    }
                }
            }
        } else if current_tag != 0 && !format::is_subtag(current_tag, tag) {
            if let Some(p) = cur.take() {
                functions.push(finish(&c, p)?);
            }
            current_tag = 0;
        }
        c.seek(body_start + len_bytes as usize);
    }
    if let Some(p) = cur.take() {
        functions.push(finish(&c, p)?);
    }
    Ok(Notes {
        version,
        stamp,
        checksum,
        cwd,
        sources: names.names,
        functions,
    })
}

fn finish(c: &Cursor<'_>, mut p: Pending) -> Result<NoteFunction> {
    p.arc_records.sort_unstable();
    if p.arc_records.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(c.corrupt(
            c.pos(),
            format!("two arc records for one block in '{}'", p.f.name),
        ));
    }
    // Stable: record order within a source block is kept.
    if !p.f.arcs.windows(2).all(|w| w[0].src <= w[1].src) {
        p.f.arcs.sort_by_key(|a| a.src);
    }
    if !p.f.locations.windows(2).all(|w| w[0].block <= w[1].block) {
        p.f.locations.sort_by_key(|l| l.block);
    }
    Ok(p.f)
}
