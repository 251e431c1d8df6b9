//! The impact of a diff over sessions' indexes. The caller fetches, per session, the header
//! and the buckets [`ImpactQuery::buckets`] names, and hands them to
//! [`ImpactQuery::add_session`]; the query keeps, per changed file, only the changed lines
//! some session instrumented and some session ran, and per session that hit something one
//! small record. So memory grows with the diff's changed lines and the sessions that ran them,
//! never with the sessions' other files.
//!
//! Rules:
//! - a changed file is matched, in each session, to the report file with the longest common
//!   suffix of path components ([`crate::paths`]);
//! - a session's `lines_hit` is how many changed lines it executed; sessions that hit none
//!   are not listed; the list is ranked by `lines_hit`, then recency (the end task's time),
//!   newest first, then session id;
//! - a changed line is `uncovered` when some session's build instruments it and no session
//!   executed it; a changed line that no index instruments (a comment, a blank line, a file no
//!   report holds) is neither hit nor uncovered.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use crate::diff::Diff;
use crate::index::{FileEntry, Header};
use crate::paths::{best_match, components, file_name};

/// A session that ran changed lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionHit {
    /// The session id.
    pub session: String,
    /// The end task's id.
    pub task: String,
    /// The end task's name (`""` when none).
    pub name: String,
    /// The end task's user.
    pub user: String,
    /// The build.
    pub build: String,
    /// The device key.
    pub device: String,
    /// How many changed lines the session executed.
    pub lines_hit: u64,
    /// The end task's time, Unix ms.
    pub ended_ms: u64,
}

/// Changed lines of one file that no session ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uncovered {
    /// The diff's path.
    pub file: String,
    /// New-side line numbers, ascending.
    pub lines: Vec<u32>,
}

/// The answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Impact {
    /// Sessions that ran changed lines, ranked.
    pub sessions: Vec<SessionHit>,
    /// Instrumented changed lines no session ran, per file in the diff's order.
    pub uncovered: Vec<Uncovered>,
    /// Added and changed lines of the diff.
    pub changed_lines: u64,
    /// Sessions looked at.
    pub sessions_read: u64,
}

struct Wanted {
    path: String,
    name: String,
    lines: RoaringBitmap,
    instrumented: RoaringBitmap,
    executed: RoaringBitmap,
}

/// The buckets of `header`'s index that hold the file `names`, ascending, each once.
pub fn buckets_for(header: &Header, names: &[String]) -> Vec<usize> {
    let mut b: Vec<usize> = names.iter().map(|n| header.bucket_of(n)).collect();
    b.sort_unstable();
    b.dedup();
    b
}

/// An impact query under way.
pub struct ImpactQuery {
    files: Vec<Wanted>,
    hits: Vec<SessionHit>,
    read: u64,
    changed: u64,
}

impl ImpactQuery {
    /// A query for the changed lines of `diff`.
    pub fn new(diff: Diff) -> Self {
        let changed = diff.changed_lines();
        ImpactQuery {
            files: diff
                .files
                .into_iter()
                .map(|f| Wanted {
                    name: file_name(&f.path).to_owned(),
                    path: f.path,
                    lines: f.lines,
                    instrumented: RoaringBitmap::new(),
                    executed: RoaringBitmap::new(),
                })
                .collect(),
            hits: Vec::new(),
            read: 0,
            changed,
        }
    }

    /// The buckets of `header`'s index that hold the diff's file names, ascending, each once.
    pub fn buckets(&self, header: &Header) -> Vec<usize> {
        buckets_for(header, &self.names())
    }

    /// The diff's file names (last path components), for [`buckets_for`].
    pub fn names(&self) -> Vec<String> {
        self.files.iter().map(|f| f.name.clone()).collect()
    }

    /// Adds one session: its header and the entries of the buckets [`ImpactQuery::buckets`]
    /// named (entries of other files are ignored).
    pub fn add_session(&mut self, header: &Header, entries: &[FileEntry]) {
        self.read += 1;
        let mut hit = 0u64;
        // The session's entries by file name, each name computed once.
        let mut by_name: HashMap<&str, Vec<&FileEntry>> = HashMap::new();
        for e in entries {
            by_name.entry(file_name(&e.path)).or_default().push(e);
        }
        for f in &mut self.files {
            let Some(cands) = by_name.get(f.name.as_str()) else {
                continue;
            };
            let want = components(&f.path);
            let Some(i) = best_match(&want, cands.iter().map(|e| e.path.as_str())) else {
                continue;
            };
            let e = cands[i];
            let ran = &f.lines & &e.executed;
            hit += ran.len();
            f.executed |= ran;
            f.instrumented |= &f.lines & &e.instrumented;
        }
        if hit > 0 {
            let m = &header.meta;
            self.hits.push(SessionHit {
                session: m.session.clone(),
                task: m.task.clone(),
                name: m.name.clone(),
                user: m.user.clone(),
                build: m.build.clone(),
                device: m.device.clone(),
                lines_hit: hit,
                ended_ms: m.ended_ms,
            });
        }
    }

    /// The answer: at most `max_sessions` sessions, ranked.
    pub fn finish(mut self, max_sessions: usize) -> Impact {
        self.hits.sort_by(|a, b| {
            b.lines_hit
                .cmp(&a.lines_hit)
                .then(b.ended_ms.cmp(&a.ended_ms))
                .then(b.session.cmp(&a.session))
        });
        self.hits.truncate(max_sessions);
        let uncovered = self
            .files
            .into_iter()
            .filter_map(|f| {
                let lines: Vec<u32> = (&f.instrumented - &f.executed).iter().collect();
                (!lines.is_empty()).then_some(Uncovered {
                    file: f.path,
                    lines,
                })
            })
            .collect();
        Impact {
            sessions: self.hits,
            uncovered,
            changed_lines: self.changed,
            sessions_read: self.read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::parse_diff;
    use crate::index::{IndexBuilder, IndexMeta, read_all};

    fn session(id: &str, ended_ms: u64, files: &[(&str, &[u32], &[u32])]) -> Vec<u8> {
        let mut b = IndexBuilder::new(IndexMeta {
            session: id.into(),
            task: format!("end-{id}"),
            name: format!("suite {id}"),
            user: "u".into(),
            build: "b1".into(),
            device: "d:22".into(),
            ended_ms,
        });
        for (p, ins, exe) in files {
            b.file(p, ins.iter().copied(), exe.iter().copied());
        }
        b.finish().unwrap()
    }

    /// Runs the query the way a reader does: the header, then only the buckets it names.
    fn run(diff: &str, indexes: &[Vec<u8>]) -> Impact {
        let mut q = ImpactQuery::new(parse_diff(diff).unwrap());
        for bytes in indexes {
            let h = Header::parse(bytes).unwrap();
            let mut entries = Vec::new();
            for b in q.buckets(&h) {
                let (s, len) = h.bucket_range(b);
                entries.extend(
                    h.parse_bucket(b, &bytes[s as usize..(s + len) as usize])
                        .unwrap(),
                );
            }
            q.add_session(&h, &entries);
        }
        q.finish(100)
    }

    const DIFF: &str = "--- a/src/tmm/route.c\n+++ b/src/tmm/route.c\n@@ -10,3 +10,3 @@\n a\n-b\n+B\n c\n@@ -20 +20,3 @@\n x\n+y\n+z\n";

    #[test]
    fn sessions_are_ranked_by_lines_hit_then_recency_and_misses_are_left_out() {
        let a = session("A", 1, &[("/b/src/tmm/route.c", &[11, 21, 22], &[11])]);
        let b = session("B", 2, &[("/b/src/tmm/route.c", &[11, 21, 22], &[11, 21])]);
        let c = session("C", 3, &[("/b/src/tmm/route.c", &[11, 21, 22], &[11])]);
        let d = session("D", 4, &[("/b/src/tmm/route.c", &[11, 21, 22], &[5])]);
        let r = run(DIFF, &[a, b, c, d]);
        let order: Vec<(&str, u64)> = r
            .sessions
            .iter()
            .map(|s| (s.session.as_str(), s.lines_hit))
            .collect();
        assert_eq!(order, vec![("B", 2), ("C", 1), ("A", 1)]);
        assert_eq!(r.changed_lines, 3);
        assert_eq!(r.sessions_read, 4);
        assert_eq!(
            r.uncovered,
            vec![Uncovered {
                file: "src/tmm/route.c".into(),
                lines: vec![22]
            }]
        );
    }

    #[test]
    fn lines_no_index_instruments_are_neither_hit_nor_uncovered() {
        let a = session("A", 1, &[("/b/src/tmm/route.c", &[11], &[])]);
        let r = run(DIFF, &[a]);
        assert!(r.sessions.is_empty());
        assert_eq!(r.uncovered[0].lines, vec![11]);
        let other = session("O", 1, &[("/b/src/tmm/other.c", &[11, 21], &[11, 21])]);
        let r = run(DIFF, &[other]);
        assert!(r.sessions.is_empty() && r.uncovered.is_empty());
        assert_eq!(r.changed_lines, 3);
    }

    #[test]
    fn a_file_of_the_same_name_elsewhere_is_not_taken_when_a_better_one_exists() {
        let a = session(
            "A",
            1,
            &[
                ("/b/src/mcpd/route.c", &[11], &[11]),
                ("/b/src/tmm/route.c", &[11], &[]),
            ],
        );
        let r = run(DIFF, &[a]);
        assert!(
            r.sessions.is_empty(),
            "the tmm file matched, and it did not run line 11"
        );
        assert_eq!(r.uncovered[0].lines, vec![11]);
    }

    #[test]
    fn the_answer_is_capped_at_the_best_sessions() {
        let idx: Vec<Vec<u8>> = (0..5u64)
            .map(|i| session(&format!("S{i}"), i, &[("route.c", &[11], &[11])]))
            .collect();
        let mut q = ImpactQuery::new(parse_diff(DIFF).unwrap());
        for bytes in &idx {
            let (h, files) = read_all(bytes).unwrap();
            q.add_session(&h, &files);
        }
        let r = q.finish(2);
        assert_eq!(r.sessions.len(), 2);
        assert_eq!(r.sessions[0].session, "S4", "newest first among equals");
    }
}
