//! Matching a path of a diff to a path of a report by path components, the way Codecov fixes
//! paths:
//!
//! 1. the same components (ignoring a leading `/`, empty and `.` components) win;
//! 2. otherwise the candidate sharing the longest suffix of components wins, and that suffix
//!    must hold at least the file name (the last component, compared exactly, case included);
//! 3. a tie at the longest suffix matches nothing: a wrong file is worse than none.
//!
//! So `src/tmm/route.c` in a diff matches `/build/f5/src/tmm/route.c` in a report, and a diff
//! path `route.c` alone matches only when one report file is named `route.c`.

/// The components of a `/`-separated path, without empty and `.` ones.
pub fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// The file name of a path: its last component (`""` for a path without one).
pub fn file_name(path: &str) -> &str {
    components(path).last().copied().unwrap_or("")
}

/// How many trailing components `a` and `b` share.
pub fn common_suffix(a: &[&str], b: &[&str]) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// The index of the candidate that `want` (a path's components) matches by the module's rule,
/// `None` when none shares the file name or several tie. The answer does not depend on the
/// candidates' order.
pub fn best_match<'a>(
    want: &[&str],
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None; // (suffix length, index)
    let mut tied = false;
    for (i, c) in candidates.into_iter().enumerate() {
        let comps = components(c);
        let n = if comps == want {
            usize::MAX
        } else {
            common_suffix(&comps, want)
        };
        if n == 0 {
            continue;
        }
        match best {
            Some((b, _)) if n < b => {}
            Some((b, _)) if n == b => tied = true,
            _ => {
                best = Some((n, i));
                tied = false;
            }
        }
    }
    match best {
        Some((_, i)) if !tied => Some(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(want: &str, cands: &[&str]) -> Option<usize> {
        best_match(&components(want), cands.iter().copied())
    }

    #[test]
    fn the_longest_common_suffix_of_components_wins() {
        let c = ["/build/a/src/tmm/route.c", "/build/b/src/mcpd/route.c"];
        assert_eq!(m("src/tmm/route.c", &c), Some(0));
        assert_eq!(m("mcpd/route.c", &c), Some(1));
    }

    #[test]
    fn a_tie_or_another_file_name_matches_nothing() {
        let c = ["/x/tmm/route.c", "/y/tmm/route.c"];
        assert_eq!(m("tmm/route.c", &c), None);
        assert_eq!(m("route.c", &["/x/tmm/route.h"]), None);
        assert_eq!(m("Route.c", &["/x/route.c"]), None);
        assert_eq!(m("", &["/x/route.c"]), None);
    }

    #[test]
    fn the_same_components_win_over_a_longer_candidate() {
        let c = ["/root/a/b.c", "a/b.c"];
        assert_eq!(m("./a//b.c", &c), Some(1));
        assert_eq!(m("/root/a/b.c", &c), Some(0));
    }

    #[test]
    fn a_lone_file_name_matches_the_only_file_of_that_name() {
        assert_eq!(m("route.c", &["/x/tmm/route.c", "/x/tmm/other.c"]), Some(0));
    }
}
