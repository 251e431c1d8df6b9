//! The compare of two sessions' indexes (`GET /v1/compare`): per file, the lines newly covered
//! (executed in the head, not in the base) and the lines lost (executed in the base, not in the
//! head), and both sides' totals. Pure: the caller reads the two indexes part by part and hands
//! each part in, so memory holds one part of each index and the files kept for the answer.
//!
//! Parts: the two indexes may have different bucket counts (both powers of two). A file's hash
//! `h` puts it in bucket `h & (n - 1)` of an index of `n` buckets, so with `m` the larger count,
//! part `p` (`0..m`) is the files with `h & (m - 1) == p`: bucket `p` of the index with `m`
//! buckets, and of the other index (of `k` buckets) the files of bucket `p & (k - 1)` that fall
//! in part `p` ([`in_part`]). Every file is in exactly one part, so the compare sees each file of
//! both sides once. A file is matched by its exact path (two sessions of one build name their
//! files alike).
//!
//! The answer lists the changed files (a file whose executed lines differ) in path order, after
//! an optional cursor path and at most a given count of them, each with at most a given count of
//! line numbers per list (the counts are always exact); the totals count every file.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use crate::index::{FileEntry, Header, name_hash};
use crate::paths::file_name;

/// How many parts a compare of `base` and `head` takes: the larger bucket count.
pub fn parts(base: &Header, head: &Header) -> usize {
    base.buckets().max(head.buckets())
}

/// Whether the file `path` is in part `part` of `parts` (a power of two).
pub fn in_part(path: &str, part: usize, parts: usize) -> bool {
    let mask = (parts.max(1) - 1) as u64;
    (name_hash(file_name(path)) & mask) as usize == part
}

/// Lines of one side: instrumented and executed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineTotals {
    /// Instrumented lines.
    pub instrumented: u64,
    /// Executed lines.
    pub executed: u64,
}

impl LineTotals {
    /// Executed over instrumented, in percent, rounded to two decimals; 0 with no line.
    pub fn percent(&self) -> f64 {
        if self.instrumented == 0 {
            return 0.0;
        }
        (self.executed as f64 * 10_000.0 / self.instrumented as f64).round() / 100.0
    }

    fn add(&mut self, e: &FileEntry) {
        self.instrumented += e.instrumented.len();
        self.executed += e.executed.len();
    }
}

/// One file whose executed lines differ between the base and the head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDelta {
    /// The report's path.
    pub path: String,
    /// Lines executed in the head and not in the base, ascending; at most the line cap.
    pub newly_covered: Vec<u32>,
    /// How many such lines in all.
    pub newly_covered_count: u64,
    /// Lines executed in the base and not in the head, ascending; at most the line cap.
    pub lost: Vec<u32>,
    /// How many such lines in all.
    pub lost_count: u64,
    /// The file's lines in the base (zero when the base has no such file).
    pub base: LineTotals,
    /// The file's lines in the head (zero when the head has no such file).
    pub head: LineTotals,
}

/// The answer of a compare.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// The base's totals over every file.
    pub base: LineTotals,
    /// The head's totals over every file.
    pub head: LineTotals,
    /// Lines newly covered, over every file.
    pub newly_covered: u64,
    /// Lines lost, over every file.
    pub lost: u64,
    /// How many files changed, over every file.
    pub files_changed: u64,
    /// The changed files listed, in path order (after the cursor, at most the file cap).
    pub files: Vec<FileDelta>,
    /// Whether more changed files follow the listed ones (the last listed path is the next
    /// page's cursor).
    pub more: bool,
    /// Whether some listed file's line lists were cut at the line cap.
    pub lines_cut: bool,
}

/// A compare under way: parts go in with [`Compare::add_part`], the answer comes out of
/// [`Compare::finish`].
pub struct Compare {
    after: Option<String>,
    max_files: usize,
    max_lines: usize,
    out: Comparison,
    kept: BTreeMap<String, FileDelta>,
}

impl Compare {
    /// A compare that lists changed files whose path sorts after `after` (all when `None`), at
    /// most `max_files` of them (at least one), each list of at most `max_lines` lines.
    pub fn new(after: Option<String>, max_files: usize, max_lines: usize) -> Self {
        Compare {
            after,
            max_files: max_files.max(1),
            max_lines,
            out: Comparison::default(),
            kept: BTreeMap::new(),
        }
    }

    /// Adds one part: the base's and the head's entries of files in it (entries of other parts
    /// must have been filtered out with [`in_part`]). A path repeated on one side counts once
    /// (its first entry).
    pub fn add_part(&mut self, base: &[FileEntry], head: &[FileEntry]) {
        let mut pairs: BTreeMap<&str, (Option<&FileEntry>, Option<&FileEntry>)> = BTreeMap::new();
        for e in base {
            pairs.entry(&e.path).or_default().0.get_or_insert(e);
        }
        for e in head {
            pairs.entry(&e.path).or_default().1.get_or_insert(e);
        }
        let empty = RoaringBitmap::new();
        for (path, (b, h)) in pairs {
            let mut bt = LineTotals::default();
            let mut ht = LineTotals::default();
            if let Some(b) = b {
                bt.add(b);
            }
            if let Some(h) = h {
                ht.add(h);
            }
            self.out.base.instrumented += bt.instrumented;
            self.out.base.executed += bt.executed;
            self.out.head.instrumented += ht.instrumented;
            self.out.head.executed += ht.executed;
            let be = b.map_or(&empty, |e| &e.executed);
            let he = h.map_or(&empty, |e| &e.executed);
            let newly = he - be;
            let lost = be - he;
            if newly.is_empty() && lost.is_empty() {
                continue;
            }
            self.out.files_changed += 1;
            self.out.newly_covered += newly.len();
            self.out.lost += lost.len();
            if self.after.as_deref().is_some_and(|a| path <= a) {
                continue;
            }
            // Keep the first `max_files` paths (and note that one more exists).
            if self.kept.len() >= self.max_files {
                self.out.more = true;
                match self.kept.last_key_value() {
                    Some((last, _)) if last.as_str() > path => {
                        self.kept.pop_last();
                    }
                    _ => continue,
                }
            }
            let cut =
                |set: &RoaringBitmap| -> Vec<u32> { set.iter().take(self.max_lines).collect() };
            let d = FileDelta {
                path: path.to_owned(),
                newly_covered: cut(&newly),
                newly_covered_count: newly.len(),
                lost: cut(&lost),
                lost_count: lost.len(),
                base: bt,
                head: ht,
            };
            self.kept.insert(d.path.clone(), d);
        }
    }

    /// The answer.
    pub fn finish(mut self) -> Comparison {
        self.out.files = self.kept.into_values().collect();
        self.out.lines_cut = self.out.files.iter().any(|f| {
            f.newly_covered.len() as u64 != f.newly_covered_count
                || f.lost.len() as u64 != f.lost_count
        });
        self.out
    }
}

/// Compares two whole indexes part by part, as a reader that streams them does. For tests and
/// tools. Errors: [`crate::ImpactError::BadIndex`].
pub fn compare_all(
    base: &[u8],
    head: &[u8],
    after: Option<String>,
    max_files: usize,
    max_lines: usize,
) -> Result<Comparison, crate::ImpactError> {
    let (bh, bf) = crate::index::read_all(base)?;
    let (hh, hf) = crate::index::read_all(head)?;
    let n = parts(&bh, &hh);
    let mut c = Compare::new(after, max_files, max_lines);
    for p in 0..n {
        let pick = |files: &[FileEntry]| -> Vec<FileEntry> {
            files
                .iter()
                .filter(|e| in_part(&e.path, p, n))
                .cloned()
                .collect()
        };
        c.add_part(&pick(&bf), &pick(&hf));
    }
    Ok(c.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{IndexBuilder, IndexMeta};

    fn index(files: &[(&str, &[u32], &[u32])]) -> Vec<u8> {
        let mut b = IndexBuilder::new(IndexMeta {
            session: "S".into(),
            build: "b1".into(),
            ..IndexMeta::default()
        });
        for (p, ins, exe) in files {
            b.file(p, ins.iter().copied(), exe.iter().copied());
        }
        b.finish().unwrap()
    }

    #[test]
    fn newly_covered_and_lost_lines_are_listed_per_file_with_both_totals() {
        let base = index(&[
            ("src/a.c", &[1, 2, 3, 4], &[1, 2]),
            ("src/same.c", &[1, 2], &[1]),
            ("src/gone.c", &[5, 6], &[5]),
        ]);
        let head = index(&[
            ("src/a.c", &[1, 2, 3, 4], &[2, 3, 4]),
            ("src/same.c", &[1, 2], &[1]),
            ("src/new.c", &[7, 8, 9], &[8]),
        ]);
        let c = compare_all(&base, &head, None, 10, 100).unwrap();
        let got: Vec<(&str, Vec<u32>, Vec<u32>)> = c
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.newly_covered.clone(), f.lost.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("src/a.c", vec![3, 4], vec![1]),
                ("src/gone.c", vec![], vec![5]),
                ("src/new.c", vec![8], vec![]),
            ]
        );
        assert_eq!(
            c.base,
            LineTotals {
                instrumented: 8,
                executed: 4
            }
        );
        assert_eq!(
            c.head,
            LineTotals {
                instrumented: 9,
                executed: 5
            }
        );
        assert_eq!((c.newly_covered, c.lost, c.files_changed), (3, 2, 3));
        assert!(!c.more && !c.lines_cut);
        assert_eq!(c.files[1].head, LineTotals::default());
        assert_eq!(c.base.percent(), 50.0);
        assert_eq!(c.head.percent(), 55.56);
    }

    #[test]
    fn indexes_of_different_bucket_counts_pair_every_file_once() {
        // 3 files against 200: 1 bucket against 64.
        let few = index(&[
            ("d1/f1.c", &[1, 2], &[1]),
            ("d7/f7.c", &[1, 2], &[1, 2]),
            ("d150/f150.c", &[1], &[]),
        ]);
        let names: Vec<String> = (0..200).map(|i| format!("d{i}/f{i}.c")).collect();
        let many_files: Vec<(&str, &[u32], &[u32])> = names
            .iter()
            .map(|n| (n.as_str(), &[1u32, 2][..], &[1u32][..]))
            .collect();
        let many = index(&many_files);
        let c = compare_all(&few, &many, None, 1000, 100).unwrap();
        // f7 lost line 2, f150 newly ran line 1, 197 files exist only in the head.
        assert_eq!(c.files_changed, 199);
        assert_eq!(c.lost, 1);
        assert_eq!(c.newly_covered, 198);
        let f7 = c.files.iter().find(|f| f.path == "d7/f7.c").unwrap();
        assert_eq!(f7.lost, vec![2]);
        assert!(c.files.iter().all(|f| f.path != "d1/f1.c"));
        // The other way round: the mirror image.
        let r = compare_all(&many, &few, None, 1000, 100).unwrap();
        assert_eq!((r.newly_covered, r.lost, r.files_changed), (1, 198, 199));
        assert_eq!(r.base, c.head);
    }

    #[test]
    fn the_listing_is_capped_in_path_order_and_a_cursor_continues_it() {
        let base = index(&[]);
        let names: Vec<String> = (0..30).map(|i| format!("src/f{i:02}.c")).collect();
        let files: Vec<(&str, &[u32], &[u32])> = names
            .iter()
            .map(|n| (n.as_str(), &[1u32, 2, 3][..], &[1u32, 2, 3][..]))
            .collect();
        let head = index(&files);
        let first = compare_all(&base, &head, None, 12, 2).unwrap();
        let paths: Vec<&str> = first.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            names[..12].iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(first.more && first.lines_cut);
        assert_eq!(first.files[0].newly_covered, vec![1, 2]);
        assert_eq!(first.files[0].newly_covered_count, 3);
        assert_eq!(first.files_changed, 30, "the totals count every file");
        let mut seen = paths.len();
        let mut after = first.files.last().map(|f| f.path.clone());
        loop {
            let page = compare_all(&base, &head, after.clone(), 12, 2).unwrap();
            seen += page.files.len();
            assert!(page.files.iter().all(|f| Some(&f.path) > after.as_ref()));
            if !page.more {
                break;
            }
            after = page.files.last().map(|f| f.path.clone());
        }
        assert_eq!(seen, 30);
    }

    #[test]
    fn identical_sessions_have_no_changed_file() {
        let a = index(&[("a.c", &[1, 2], &[2])]);
        let c = compare_all(&a, &a, None, 10, 10).unwrap();
        assert!(c.files.is_empty());
        assert_eq!((c.files_changed, c.newly_covered, c.lost), (0, 0, 0));
        assert_eq!(c.base, c.head);
    }

    #[test]
    fn hostile_index_bytes_are_refused_not_compared() {
        let good = index(&[("a.c", &[1, 2], &[2])]);
        for cut in [0, 7, 23, good.len() - 1] {
            assert!(
                compare_all(&good[..cut], &good, None, 10, 10).is_err(),
                "cut at {cut}"
            );
        }
        let mut lying = good.clone();
        // The file count says a million files in one bucket.
        lying[16..20].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert!(compare_all(&good, &lying, None, 10, 10).is_err());
        let mut flipped = good.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0xff;
        let r = compare_all(&good, &flipped, None, 10, 10);
        assert!(r.is_err() || r.is_ok_and(|c| c.files_changed <= 1));
    }
}
