//! Report filters: path mapping (strip leading components like `GCOV_PREFIX_STRIP`, then anchor
//! relative paths at a source root), include/exclude globs on the mapped path, and the
//! `LCOV_EXCL_*` / `GCOVR_EXCL_*` exclusion markers found in the source text.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};
use crate::format::canonicalize;

/// Compiled path filters.
#[derive(Debug, Clone)]
pub struct PathFilter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    prefix_strip: usize,
    source_root: Option<String>,
}

fn globset(patterns: &[String]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|source| Error::Glob {
            pattern: p.clone(),
            source,
        })?);
    }
    b.build().map(Some).map_err(|source| Error::Glob {
        pattern: patterns.join(" "),
        source,
    })
}

impl PathFilter {
    /// Compiles the globs. `prefix_strip` leading components are removed from every recorded
    /// path; a path that is then relative is joined to `source_root` when one is given.
    pub fn new(
        include: &[String],
        exclude: &[String],
        prefix_strip: usize,
        source_root: Option<&str>,
    ) -> Result<PathFilter> {
        Ok(PathFilter {
            include: globset(include)?,
            exclude: globset(exclude)?,
            prefix_strip,
            source_root: source_root.map(|r| r.trim_end_matches('/').to_string()),
        })
    }

    /// Maps a source name recorded in a notes file (with the notes' compilation directory, used
    /// for relative names) to the report path.
    pub fn map(&self, recorded: &str, cwd: Option<&str>) -> String {
        let mut p = match cwd {
            Some(cwd) if !recorded.starts_with('/') && !cwd.is_empty() => {
                canonicalize(&format!("{cwd}/{recorded}"))
            }
            _ => recorded.to_string(),
        };
        if self.prefix_strip > 0 {
            let comps: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
            let keep = comps.len().saturating_sub(self.prefix_strip).max(1);
            p = comps[comps.len() - keep..].join("/");
        }
        if let Some(root) = &self.source_root
            && !p.starts_with('/')
        {
            p = canonicalize(&format!("{root}/{p}"));
        }
        p
    }

    /// Whether a mapped path is kept by the include/exclude globs.
    pub fn keep(&self, path: &str) -> bool {
        if let Some(inc) = &self.include
            && !inc.is_match(path)
        {
            return false;
        }
        if let Some(exc) = &self.exclude
            && exc.is_match(path)
        {
            return false;
        }
        true
    }
}

/// Lines excluded by markers in a source text: `*_EXCL_LINE` excludes its line,
/// `*_EXCL_START` … `*_EXCL_STOP` the lines from START to STOP inclusive, for the prefixes
/// `LCOV` and `GCOVR`. Returns, per 1-based line number (index 0 unused), whether it is
/// excluded; `None` when the text has no marker at all.
pub fn excluded_lines(text: &[u8]) -> Option<Vec<bool>> {
    const NEEDLE: &[u8] = b"_EXCL_";
    if !contains(text, NEEDLE) {
        return None;
    }
    let mut out = vec![false];
    let mut in_range = false;
    let mut any = false;
    for line in text.split(|&b| b == b'\n') {
        let mut excl = in_range;
        let mut pos = 0;
        while let Some(i) = find(&line[pos..], NEEDLE) {
            let at = pos + i;
            let before = &line[..at];
            let prefixed = before.ends_with(b"LCOV") || before.ends_with(b"GCOVR");
            let after = &line[at + NEEDLE.len()..];
            if prefixed {
                if after.starts_with(b"LINE") {
                    excl = true;
                    any = true;
                } else if after.starts_with(b"START") {
                    in_range = true;
                    excl = true;
                    any = true;
                } else if after.starts_with(b"STOP") {
                    in_range = false;
                    excl = true;
                    any = true;
                }
            }
            pos = at + NEEDLE.len();
        }
        out.push(excl);
    }
    any.then_some(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        match hay[i..hay.len() - needle.len() + 1]
            .iter()
            .position(|&b| b == first)
        {
            None => return None,
            Some(j) => {
                let at = i + j;
                if &hay[at..at + needle.len()] == needle {
                    return Some(at);
                }
                i = at + 1;
            }
        }
    }
    None
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_exclude_single_lines_and_ranges() {
        let src = b"a\nb // LCOV_EXCL_LINE\nc\n/* GCOVR_EXCL_START */\nd\nGCOVR_EXCL_STOP\ne\n";
        let ex = excluded_lines(src).unwrap();
        assert_eq!(&ex[1..8], &[false, true, false, true, true, true, false]);
    }

    #[test]
    fn text_without_markers_excludes_nothing() {
        assert!(excluded_lines(b"int main() { return 0; }\n").is_none());
        assert!(excluded_lines(b"FOO_EXCL_LINE\n").is_none());
    }

    #[test]
    fn prefix_strip_and_source_root_remap_build_paths() {
        let f = PathFilter::new(&[], &[], 2, Some("/home/me/proj")).unwrap();
        assert_eq!(f.map("/build/agent/src/a.c", None), "/home/me/proj/src/a.c");
        let g = PathFilter::new(&[], &[], 0, None).unwrap();
        assert_eq!(g.map("../inc/x.h", Some("/b/obj")), "/b/inc/x.h");
        assert_eq!(g.map("/abs/y.c", Some("/b/obj")), "/abs/y.c");
    }

    #[test]
    fn include_and_exclude_globs_select_paths() {
        let f = PathFilter::new(&["/src/**".into()], &["**/test/**".into()], 0, None).unwrap();
        assert!(f.keep("/src/a/b.c"));
        assert!(!f.keep("/usr/include/stdio.h"));
        assert!(!f.keep("/src/test/t.c"));
    }
}
