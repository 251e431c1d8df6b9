//! Matching a path against a set of archive paths recorded elsewhere, by path components:
//!
//! 1. the exact path (ignoring a leading `/`, empty and `.` components);
//! 2. otherwise the candidate sharing the longest suffix of components with it, at least the
//!    file name; a tie at that length matches nothing (a wrong file is worse than none).
//!
//! The render stage uses it to pair a `.gcda` of the raw archive
//! (`<module>/<build path>/x.gcda`) with a `.gcno` of a build's `notes.tar.gz` (relative to the
//! published directory), comparing paths without their extension; and to find the source of a
//! report file (the path the `.gcno` records, often an absolute build path) in a build's
//! `sources.tar.gz`. Pure and deterministic: the answer depends on the set, not its order.
//! The components and their common suffix are the impact query's (`ccaas_impact::paths`), so
//! a report's paths and a diff's paths are compared by one rule.

use std::collections::HashMap;

use ccaas_impact::paths::common_suffix;
pub use ccaas_impact::paths::components;

/// What [`SuffixIndex::find`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found<'a> {
    /// One candidate, by its path as given.
    One(&'a str),
    /// No candidate has the file name.
    None,
    /// Several candidates share the longest suffix.
    Ambiguous(Vec<&'a str>),
}

/// Candidate paths, indexed by their last component.
#[derive(Debug, Default)]
pub struct SuffixIndex<'a> {
    by_name: HashMap<&'a str, Vec<(&'a str, Vec<&'a str>)>>,
}

impl<'a> SuffixIndex<'a> {
    /// Indexes `paths`.
    pub fn new(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut by_name: HashMap<&'a str, Vec<(&'a str, Vec<&'a str>)>> = HashMap::new();
        for p in paths {
            let comps = components(p);
            if let Some(name) = comps.last() {
                by_name.entry(name).or_default().push((p, comps));
            }
        }
        for v in by_name.values_mut() {
            v.sort();
        }
        SuffixIndex { by_name }
    }

    /// The candidate for `path` (see the module's rule).
    pub fn find(&self, path: &str) -> Found<'a> {
        let want = components(path);
        let Some(name) = want.last() else {
            return Found::None;
        };
        let Some(cands) = self.by_name.get(name) else {
            return Found::None;
        };
        if let Some((p, _)) = cands.iter().find(|(_, c)| *c == want) {
            return Found::One(p);
        }
        let common = |c: &[&str]| common_suffix(c, &want);
        let best = cands.iter().map(|(_, c)| common(c)).max().unwrap_or(0);
        let top: Vec<&'a str> = cands
            .iter()
            .filter(|(_, c)| common(c) == best)
            .map(|(p, _)| *p)
            .collect();
        match top.as_slice() {
            [one] => Found::One(one),
            _ => Found::Ambiguous(top),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exact_path_wins_over_a_longer_candidate_with_the_same_suffix() {
        let i = SuffixIndex::new(["build/tmm/x.c", "src/build/tmm/x.c"]);
        assert_eq!(i.find("/build/tmm/x.c"), Found::One("build/tmm/x.c"));
        assert_eq!(i.find("build/./tmm//x.c"), Found::One("build/tmm/x.c"));
    }

    #[test]
    fn the_longest_component_suffix_decides_and_a_tie_matches_nothing() {
        let i = SuffixIndex::new(["tmm/simd", "mcpd/simd", "tmm/tmm", "lib/util", "other/util"]);
        assert_eq!(
            i.find("tmm/tmp/bigip-sim-2222/build/tmm/simd"),
            Found::One("tmm/simd")
        );
        assert_eq!(
            i.find("mcpd/tmp/sim/build/mcpd/simd"),
            Found::One("mcpd/simd")
        );
        assert_eq!(i.find("x/y/tmm"), Found::One("tmm/tmm"));
        assert_eq!(
            i.find("/src/util"),
            Found::Ambiguous(vec!["lib/util", "other/util"])
        );
        assert_eq!(i.find("/a/nothing.c"), Found::None);
        assert_eq!(i.find(""), Found::None);
    }

    #[test]
    fn components_must_match_whole_not_as_text_suffixes() {
        let i = SuffixIndex::new(["xtmm/simd"]);
        // `tmm/simd` shares only the file name with `xtmm/simd`: still its only candidate.
        assert_eq!(i.find("tmm/simd"), Found::One("xtmm/simd"));
        let i = SuffixIndex::new(["a/simd.c", "b/simd.c"]);
        assert_eq!(
            i.find("/x/asimd.c"),
            Found::None,
            "a file name must match whole"
        );
    }

    #[test]
    fn the_answer_does_not_depend_on_the_order_of_the_candidates() {
        let a = SuffixIndex::new(["p/q/r.c", "q/r.c", "z/r.c"]);
        let b = SuffixIndex::new(["z/r.c", "q/r.c", "p/q/r.c"]);
        for t in ["/x/p/q/r.c", "/x/q/r.c", "/x/r.c", "q/r.c"] {
            assert_eq!(a.find(t), b.find(t), "{t}");
        }
        assert_eq!(a.find("/x/p/q/r.c"), Found::One("p/q/r.c"));
    }
}
