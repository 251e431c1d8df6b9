//! The gcov on-disk encoding shared by .gcno and .gcda: magic words, version words, tags, and a
//! bounds-checked reader for words, counters and strings in either byte order and either length
//! unit (4-byte words before GCC 12, bytes since).

use crate::error::{Error, FileKind, Result};

/// `gcno` as a native-order word.
pub const NOTES_MAGIC: u32 = 0x6763_6e6f;
/// `gcda` as a native-order word.
pub const DATA_MAGIC: u32 = 0x6763_6461;

/// Function header record (both files).
pub const TAG_FUNCTION: u32 = 0x0100_0000;
/// Basic block count (notes).
pub const TAG_BLOCKS: u32 = 0x0141_0000;
/// Arcs out of one block (notes).
pub const TAG_ARCS: u32 = 0x0143_0000;
/// Line numbers of one block (notes).
pub const TAG_LINES: u32 = 0x0145_0000;
/// Arc counters (data).
pub const TAG_COUNTER_ARCS: u32 = 0x01a1_0000;
/// Object summary (data).
pub const TAG_OBJECT_SUMMARY: u32 = 0xa100_0000;

/// Arc flag: on the spanning tree, not instrumented, solved from flow conservation.
pub const ARC_ON_TREE: u32 = 1;
/// Arc flag: fake arc (call that may not return, or non-local return landing).
pub const ARC_FAKE: u32 = 2;
/// Arc flag: fall-through arc.
pub const ARC_FALLTHROUGH: u32 = 4;

/// gcov's `GCOV_TAG_IS_SUBTAG`: whether `sub` is a record nested under `tag`.
pub fn is_subtag(tag: u32, sub: u32) -> bool {
    let mask = |t: u32| t.wrapping_sub(1) ^ t;
    mask(tag) >> 8 == mask(sub) && (sub ^ tag) & !mask(tag) == 0
}

/// A decoded gcov version word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// The raw word (as the producer wrote it, in its byte order).
    pub word: u32,
    /// Feature number: 47 for "407*", 122 for "B22*" (GCC 12.2), 150 for GCC 15, ...
    pub num: u32,
}

impl Version {
    /// Decodes the version word; `None` when its characters are not a version.
    pub fn decode(word: u32) -> Option<Version> {
        let c = [(word >> 24) as u8, (word >> 16) as u8, (word >> 8) as u8];
        let digit = |b: u8| b.is_ascii_digit().then(|| u32::from(b - b'0'));
        let num = if c[0] >= b'A' && c[0] <= b'Z' {
            u32::from(c[0] - b'A') * 100 + digit(c[1])? * 10 + digit(c[2])?
        } else {
            digit(c[0])? * 10 + digit(c[2])?
        };
        Some(Version { word, num })
    }

    /// The four characters, e.g. `B22*`.
    pub fn text(self) -> String {
        version_text(self.word)
    }

    /// Record lengths and string lengths count bytes (GCC 12+), not 4-byte words.
    pub fn byte_lengths(self) -> bool {
        self.num >= 120
    }
}

/// The four characters of a version word, escaped when not printable.
pub fn version_text(word: u32) -> String {
    word.to_be_bytes()
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

/// A bounds-checked little reader over one gcov file.
#[derive(Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    swap: bool,
    byte_lengths: bool,
    name: &'a str,
}

impl<'a> Cursor<'a> {
    /// Opens `data`, checks the magic word against `kind`, and detects the byte order.
    pub fn open(name: &'a str, data: &'a [u8], kind: FileKind) -> Result<Cursor<'a>> {
        let want = match kind {
            FileKind::Notes => NOTES_MAGIC,
            FileKind::Data => DATA_MAGIC,
        };
        let mut c = Cursor {
            data,
            pos: 0,
            swap: false,
            byte_lengths: false,
            name,
        };
        let magic = c.u32("magic word")?;
        if magic == want {
            Ok(c)
        } else if magic.swap_bytes() == want {
            c.swap = true;
            Ok(c)
        } else {
            Err(Error::BadMagic {
                file: name.to_string(),
                kind,
                magic,
            })
        }
    }

    /// Sets the length unit from the version.
    pub fn set_version(&mut self, v: Version) {
        self.byte_lengths = v.byte_lengths();
    }

    /// The current byte offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The file's total length.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the file is empty (never true after `open`).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The input's name, for errors.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// A truncation error at the current offset.
    pub fn truncated(&self, what: &'static str) -> Error {
        Error::Truncated {
            file: self.name.to_string(),
            offset: self.pos,
            what,
        }
    }

    /// A corruption error at `offset`.
    pub fn corrupt(&self, offset: usize, what: impl Into<String>) -> Error {
        Error::Corrupt {
            file: self.name.to_string(),
            offset,
            what: what.into(),
        }
    }

    /// Reads one 32-bit word.
    #[inline]
    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        match self.data.get(self.pos..self.pos + 4) {
            Some(b) => {
                self.pos += 4;
                let w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                Ok(if self.swap { w.swap_bytes() } else { w })
            }
            None => Err(self.truncated(what)),
        }
    }

    /// Reads one 64-bit counter (low word first).
    #[inline]
    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        let lo = self.u32(what)?;
        let hi = self.u32(what)?;
        Ok(u64::from(lo) | (u64::from(hi) << 32))
    }

    /// Converts a record length field to bytes (words × 4 before GCC 12).
    pub fn length_bytes(&self, len: u32) -> u64 {
        if self.byte_lengths {
            u64::from(len)
        } else {
            u64::from(len) * 4
        }
    }

    /// Reads a string: `None` for the NULL string (length 0). The bytes stop at the first NUL.
    pub fn string(&mut self, what: &'static str) -> Result<Option<&'a [u8]>> {
        let len = self.u32(what)?;
        if len == 0 {
            return Ok(None);
        }
        let n = self.length_bytes(len);
        if n > self.remaining() as u64 {
            return Err(self.truncated(what));
        }
        let n = n as usize;
        let raw = &self.data[self.pos..self.pos + n];
        self.pos += n;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Ok(Some(&raw[..end]))
    }

    /// Moves to `pos` (which must be within the file).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
    }

    /// A cursor limited to the next `n` bytes (the body of one record).
    pub fn sub(&self, n: usize) -> Cursor<'a> {
        let end = (self.pos + n).min(self.data.len());
        Cursor {
            data: &self.data[..end],
            ..self.clone()
        }
    }

    /// Whether we are at the end.
    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// Turns a path from a notes file into gcov's canonical form: `.` components dropped, `..`
/// resolved against the preceding component (lexically; gcov also refuses to resolve `..` past a
/// symbolic link, which a pure reader cannot see), repeated separators collapsed.
pub fn canonicalize(name: &str) -> String {
    let absolute = name.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    // How many leading parts are unresolvable `..` (for relative paths).
    let mut floor = 0usize;
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.len() > floor {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                    floor = parts.len();
                }
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(name.len());
    if absolute {
        out.push('/');
    }
    out.push_str(&parts.join("/"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_words_decode_to_feature_numbers() {
        assert_eq!(
            Version::decode(u32::from_be_bytes(*b"B22*")).unwrap().num,
            122
        );
        assert_eq!(
            Version::decode(u32::from_be_bytes(*b"B13*")).unwrap().num,
            113
        );
        assert_eq!(
            Version::decode(u32::from_be_bytes(*b"A93*")).unwrap().num,
            93
        );
        assert_eq!(
            Version::decode(u32::from_be_bytes(*b"408*")).unwrap().num,
            48
        );
        assert_eq!(
            Version::decode(u32::from_be_bytes(*b"407*")).unwrap().num,
            47
        );
        assert!(Version::decode(0xffff_ffff).is_none());
    }

    #[test]
    fn canonical_names_resolve_dot_and_dotdot() {
        assert_eq!(canonicalize("/a/b/../c/./d.h"), "/a/c/d.h");
        assert_eq!(canonicalize("/a//b"), "/a/b");
        assert_eq!(canonicalize("../x/y.c"), "../x/y.c");
        assert_eq!(canonicalize("/../x"), "/x");
        assert_eq!(canonicalize("a/../../b"), "../b");
    }

    #[test]
    fn subtags_are_recognised_like_gcov() {
        assert!(is_subtag(TAG_FUNCTION, TAG_BLOCKS));
        assert!(is_subtag(TAG_FUNCTION, TAG_ARCS));
        assert!(is_subtag(TAG_FUNCTION, TAG_LINES));
        assert!(!is_subtag(TAG_FUNCTION, TAG_OBJECT_SUMMARY));
    }
}
