//! Unified diffs in (git's `diff --git` and plain `diff -u`), the new side's added and changed
//! lines out, per file.
//!
//! - Only `+` lines of a hunk count: a changed line is a `-` line followed by a `+` line, and
//!   the `+` line is the one the new build runs. Context and removed lines do not count.
//! - Paths are the new side's (`+++`), without git's `b/` prefix (also stripped from a plain
//!   diff whose old path starts with `a/`), cut at a tab (`diff -u`'s timestamp), unquoted
//!   when git quotes them. A deleted file (`+++ /dev/null`) has no new lines; a renamed file
//!   counts under its new path; a pure rename, a mode change or a binary file has none.
//! - `\ No newline at end of file` is skipped, CRLF line ends are read as LF, an empty line
//!   inside a hunk is a context line (editors and web forms strip the lone space).
//! - Text before the first file (a commit message of `git format-patch`) and git's extended
//!   headers are skipped. Hunk line counts are enforced: a hunk that ends early or overflows
//!   is an error with its line number, not a guess.
//! - At most [`MAX_DIFF_BYTES`] of input; the output is bounded by it.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use crate::error::ImpactError;

/// The largest diff accepted, in bytes.
pub const MAX_DIFF_BYTES: usize = 4 << 20;

/// One file of a diff with the new-side lines it adds or changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedFile {
    /// The new side's path.
    pub path: String,
    /// Added or changed lines, new-side numbers (1-based).
    pub lines: RoaringBitmap,
}

/// A parsed diff: the files with at least one added or changed line, in path order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// The files.
    pub files: Vec<ChangedFile>,
}

impl Diff {
    /// All added or changed lines of the diff.
    pub fn changed_lines(&self) -> u64 {
        self.files.iter().map(|f| f.lines.len()).sum()
    }
}

struct Hunk {
    old_left: u64,
    new_left: u64,
    next: u32,
}

/// Parses a unified diff (see the module's rules).
///
/// Errors: [`ImpactError::DiffTooLarge`] past [`MAX_DIFF_BYTES`]; [`ImpactError::BadDiff`]
/// with the line of a malformed hunk header, a hunk before any file, a hunk shorter or longer
/// than its header says; [`ImpactError::NoFiles`] when the text names no file.
pub fn parse_diff(text: &str) -> Result<Diff, ImpactError> {
    if text.len() > MAX_DIFF_BYTES {
        return Err(ImpactError::DiffTooLarge {
            limit: MAX_DIFF_BYTES,
            seen: text.len(),
        });
    }
    let mut files: BTreeMap<String, RoaringBitmap> = BTreeMap::new();
    let mut seen_file = false;
    let mut git = false;
    let mut old: Option<String> = None;
    // The file hunks apply to: `Some(None)` for a deleted file.
    let mut current: Option<Option<String>> = None;
    let mut hunk: Option<Hunk> = None;
    let bad = |line: usize, why: &str| ImpactError::BadDiff {
        line,
        why: why.to_owned(),
    };
    // The empty piece after a final newline is no line.
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut last_line = 0;
    for (i, raw) in body.split('\n').enumerate() {
        let n = i + 1;
        last_line = n;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(h) = hunk.as_mut() {
            let first = line.as_bytes().first().copied();
            match first {
                Some(b'+') => {
                    if h.new_left == 0 {
                        return Err(bad(n, "more added lines than the hunk header says"));
                    }
                    if let Some(Some(path)) = &current {
                        files.entry(path.clone()).or_default().insert(h.next);
                    }
                    h.new_left -= 1;
                    h.next = h.next.saturating_add(1);
                }
                Some(b'-') => {
                    if h.old_left == 0 {
                        return Err(bad(n, "more removed lines than the hunk header says"));
                    }
                    h.old_left -= 1;
                }
                Some(b' ') | None => {
                    if h.old_left == 0 || h.new_left == 0 {
                        return Err(bad(n, "more context lines than the hunk header says"));
                    }
                    h.old_left -= 1;
                    h.new_left -= 1;
                    h.next = h.next.saturating_add(1);
                }
                Some(b'\\') => {}
                Some(_) => return Err(bad(n, "the hunk ends before its header's line counts")),
            }
            if h.old_left == 0 && h.new_left == 0 {
                hunk = None;
            }
            continue;
        }
        if line.starts_with("diff --git ") {
            git = true;
            old = None;
            current = None;
        } else if let Some(p) = line.strip_prefix("--- ") {
            old = Some(header_path(p));
        } else if let Some(p) = line.strip_prefix("+++ ") {
            seen_file = true;
            let p = header_path(p);
            current = Some(if p == "/dev/null" {
                None
            } else {
                let old_prefixed = old
                    .as_deref()
                    .is_some_and(|o| o.starts_with("a/") || o == "/dev/null");
                Some(match p.strip_prefix("b/") {
                    Some(rest) if git || old_prefixed => rest.to_owned(),
                    _ => p,
                })
            });
        } else if line.starts_with("@@") {
            if current.is_none() {
                return Err(bad(n, "a hunk before any `+++` file line"));
            }
            let (old_len, new_start, new_len) = hunk_header(line)
                .ok_or_else(|| bad(n, "a malformed hunk header (@@ -a,b +c,d @@)"))?;
            if u64::from(new_start) + new_len > u64::from(u32::MAX) {
                return Err(bad(n, "a hunk past line 4294967295"));
            }
            if old_len > 0 || new_len > 0 {
                hunk = Some(Hunk {
                    old_left: old_len,
                    new_left: new_len,
                    next: new_start,
                });
            }
        }
        // Anything else: git's extended headers, `Binary files ... differ`, a commit message.
    }
    if hunk.is_some() {
        return Err(bad(
            last_line,
            "the diff ends inside a hunk (is it cut short?)",
        ));
    }
    if !seen_file {
        return Err(ImpactError::NoFiles);
    }
    Ok(Diff {
        files: files
            .into_iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(path, lines)| ChangedFile { path, lines })
            .collect(),
    })
}

/// A `---`/`+++` line's path: unquoted, cut at a tab.
fn header_path(p: &str) -> String {
    let p = p.split('\t').next().unwrap_or("");
    let p = p.trim_end();
    match p.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
        Some(q) => unquote(q),
        None => p.to_owned(),
    }
}

/// Git's C-style quoting: `\"`, `\\`, `\t`, `\n` and octal bytes (`\303\251`).
fn unquote(q: &str) -> String {
    let b = q.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let c = b[i + 1];
            let oct = b
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|x| (b'0'..=b'7').contains(x)));
            if let Some(d) = oct {
                let v = u32::from(d[0] - b'0') * 64
                    + u32::from(d[1] - b'0') * 8
                    + u32::from(d[2] - b'0');
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
                continue;
            }
            out.push(match c {
                b't' => b'\t',
                b'n' => b'\n',
                b'r' => b'\r',
                other => other,
            });
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `@@ -a[,b] +c[,d] @@ ...` → `(b, c, d)`; a missing count is 1.
fn hunk_header(line: &str) -> Option<(u64, u32, u64)> {
    let rest = line.strip_prefix("@@ -")?;
    let (ranges, _) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |r: &str| -> Option<(u32, u64)> {
        match r.split_once(',') {
            Some((s, l)) => Some((s.parse().ok()?, l.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (_, old_len) = range(old)?;
    let (new_start, new_len) = range(new)?;
    Some((old_len, new_start, new_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(d: &Diff, path: &str) -> Vec<u32> {
        d.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.lines.iter().collect())
            .unwrap_or_default()
    }

    const GIT: &str = "\
From 1234 Mon Sep 17 00:00:00 2001
Subject: [PATCH] route: fix

--- a commit message line that looks like nothing
diff --git a/src/tmm/route.c b/src/tmm/route.c
index 83db48f..bf269f4 100644
--- a/src/tmm/route.c
+++ b/src/tmm/route.c
@@ -10,3 +10,4 @@ int route(void)
 a
-b
+B
+C
 d
\\ No newline at end of file
@@ -30 +31 @@
-x
+y
diff --git a/old.c b/new.c
similarity index 90%
rename from old.c
rename to new.c
--- a/old.c
+++ b/new.c
@@ -1,2 +1,2 @@
 keep
-gone
+here
diff --git a/gone.c b/gone.c
deleted file mode 100644
--- a/gone.c
+++ /dev/null
@@ -1,2 +0,0 @@
-a
-b
diff --git a/fresh.c b/fresh.c
new file mode 100644
--- /dev/null
+++ b/fresh.c
@@ -0,0 +1,2 @@
+one
+two
diff --git a/img.png b/img.png
Binary files a/img.png and b/img.png differ
";

    #[test]
    fn git_diffs_count_only_added_and_changed_lines_of_the_new_side() {
        let d = parse_diff(GIT).unwrap();
        assert_eq!(lines(&d, "src/tmm/route.c"), vec![11, 12, 31]);
        assert_eq!(lines(&d, "new.c"), vec![2]);
        assert_eq!(lines(&d, "fresh.c"), vec![1, 2]);
        assert!(lines(&d, "gone.c").is_empty() && lines(&d, "old.c").is_empty());
        assert_eq!(d.changed_lines(), 6);
    }

    #[test]
    fn plain_diff_u_with_timestamps_and_crlf_reads_the_same() {
        let text = "--- route.c.orig\t2026-01-01 10:00:00.000000000 +0000\r\n\
+++ route.c\t2026-01-01 10:01:00.000000000 +0000\r\n\
@@ -1,3 +1,3 @@\r\n keep\r\n-old\r\n+new\r\n\r\n";
        let d = parse_diff(text).unwrap();
        assert_eq!(lines(&d, "route.c"), vec![2]);
    }

    #[test]
    fn a_b_prefixes_of_a_plain_diff_are_stripped_but_a_real_b_directory_is_kept() {
        let d = parse_diff("--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n").unwrap();
        assert_eq!(lines(&d, "x.c"), vec![1]);
        let d = parse_diff("--- x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n").unwrap();
        assert_eq!(lines(&d, "b/x.c"), vec![1]);
    }

    #[test]
    fn quoted_git_paths_are_unquoted() {
        let d = parse_diff(
            "diff --git \"a/sp ace.c\" \"b/sp ace.c\"\n--- \"a/sp ace.c\"\n+++ \"b/sp ace.c\"\n@@ -0,0 +1 @@\n+x\n",
        )
        .unwrap();
        assert_eq!(lines(&d, "sp ace.c"), vec![1]);
        assert_eq!(unquote("caf\\303\\251.c"), "café.c");
    }

    #[test]
    fn hunks_that_lie_about_their_length_are_errors_with_the_line() {
        let short = "--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n--- a/y.c\n";
        assert!(matches!(
            parse_diff(short),
            Err(ImpactError::BadDiff { line: 7, .. })
        ));
        let long = "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n+b\n+c\n";
        assert!(matches!(
            parse_diff(long),
            Err(ImpactError::BadDiff { line: 5, .. })
        ));
        let cut = "--- a/x.c\n+++ b/x.c\n@@ -1,5 +1,5 @@\n a\n";
        let e = parse_diff(cut).unwrap_err().to_string();
        assert!(e.contains("ends inside a hunk"), "{e}");
        let bad = "--- a/x.c\n+++ b/x.c\n@@ -1 +x @@\n";
        assert!(matches!(
            parse_diff(bad),
            Err(ImpactError::BadDiff { line: 3, .. })
        ));
        assert!(matches!(
            parse_diff("@@ -1 +1 @@\n-a\n+b\n"),
            Err(ImpactError::BadDiff { line: 1, .. })
        ));
    }

    #[test]
    fn text_that_is_no_diff_or_is_too_large_is_refused() {
        assert_eq!(parse_diff("hello\nworld\n"), Err(ImpactError::NoFiles));
        assert_eq!(parse_diff(""), Err(ImpactError::NoFiles));
        let big = "x".repeat(MAX_DIFF_BYTES + 1);
        assert!(matches!(
            parse_diff(&big),
            Err(ImpactError::DiffTooLarge { .. })
        ));
    }

    #[test]
    fn a_hunk_near_the_largest_line_number_does_not_overflow() {
        let e = parse_diff("--- a/x.c\n+++ b/x.c\n@@ -1 +4294967295,2 @@\n+a\n+b\n");
        assert!(matches!(e, Err(ImpactError::BadDiff { line: 3, .. })));
    }
}
