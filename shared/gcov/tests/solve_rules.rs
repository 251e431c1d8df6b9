//! gcov's rules on small synthetic graphs whose answers can be worked out by hand.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ccaas_gcov::{Input, Options, build};
use common::synth::{self, Func};

fn run(funcs: &[Func<'_>], counters: &[(u32, Vec<u64>)]) -> ccaas_gcov::Coverage {
    let notes = synth::notes(funcs);
    let data = synth::data(counters);
    let d = [("s.gcda", data.as_slice())];
    let inputs = [Input {
        notes_name: "s.gcno",
        notes: &notes,
        data: &d,
    }];
    let (cov, w) = build(&inputs, &Options::default()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    cov
}

#[test]
fn group_functions_on_one_line_sum_counts_and_merge_branches_by_index() {
    // f: 0->2, 2->{3,4} (a two-way branch on line 5), 3->1, 4->1 (line 6); block 5 unused
    // (gcov never records the highest-numbered block on a line).
    let f = Func {
        ident: 1,
        name: "f",
        file: "/g.c",
        line: 5,
        blocks: 6,
        arcs: vec![(0, 2, 0), (2, 3, 0), (2, 4, 0), (3, 1, 0), (4, 1, 0)],
        lines: vec![(2, vec![5]), (3, vec![6]), (4, vec![6])],
    };
    // g: a three-way branch on the same line 5, entered 20 times.
    let g = Func {
        ident: 2,
        name: "g",
        file: "/g.c",
        line: 5,
        blocks: 7,
        arcs: vec![
            (0, 2, 0),
            (2, 3, 0),
            (2, 4, 0),
            (2, 5, 0),
            (3, 1, 0),
            (4, 1, 0),
            (5, 1, 0),
        ],
        lines: vec![(2, vec![5]), (3, vec![6]), (4, vec![6]), (5, vec![6])],
    };
    let cov = run(
        &[f, g],
        &[(1, vec![10, 7, 3, 7, 3]), (2, vec![20, 1, 2, 17, 1, 2, 17])],
    );
    let file = &cov.files["/g.c"];
    let l5 = file.line(5).unwrap();
    assert_eq!(l5.count, 30);
    assert_eq!(file.branches_of(l5), &[8, 5, 17]);
    // Line 6: f's blocks 3 and 4 are entered 7 + 3 times, g's 1 + 2 + 17.
    assert_eq!(file.line(6).unwrap().count, 30);
    let counts: Vec<(u32, &str, u64)> = file
        .functions
        .iter()
        .map(|x| (x.start_line, x.name.as_str(), x.count))
        .collect();
    assert_eq!(counts, [(5, "f", 10), (5, "g", 20)]);
    assert_eq!(cov.totals.branches.total, 3);
}

#[test]
fn a_loop_within_one_line_counts_entries_plus_iterations() {
    // for (i = 0; i < n; i++) s += i;  all on line 3: blocks 2 (init), 3 (cond), 4 (body+inc),
    // 5 (after). Entered 4 times, 10 iterations in all.
    let f = Func {
        ident: 1,
        name: "loop",
        file: "/l.c",
        line: 3,
        blocks: 7,
        arcs: vec![
            (0, 2, 0),
            (2, 3, 0),
            (3, 4, 0),
            (3, 5, 0),
            (4, 3, 0),
            (5, 1, 0),
        ],
        lines: vec![(2, vec![3]), (3, vec![3]), (4, vec![3]), (5, vec![4])],
    };
    let cov = run(&[f], &[(1, vec![4, 4, 10, 4, 10, 4])]);
    let file = &cov.files["/l.c"];
    // gcov: arcs entering {2,3,4} from outside (0->2: 4) + the cycle 3->4->3 (10).
    assert_eq!(file.line(3).unwrap().count, 14);
    assert_eq!(file.line(4).unwrap().count, 4);
    assert_eq!(file.branches_of(file.line(3).unwrap()), &[10, 4]);
}

#[test]
fn uninstrumented_arcs_are_solved_by_flow_conservation() {
    // Only 2->3 and 2->4 carry counters; 0->2, 3->1 and 4->1 are on the spanning tree.
    let f = Func {
        ident: 1,
        name: "f",
        file: "/t.c",
        line: 1,
        blocks: 6,
        arcs: vec![(0, 2, 1), (2, 3, 0), (2, 4, 0), (3, 1, 1), (4, 1, 1)],
        lines: vec![(2, vec![2]), (3, vec![3]), (4, vec![4])],
    };
    let cov = run(&[f], &[(1, vec![5, 6])]);
    let file = &cov.files["/t.c"];
    assert_eq!(file.line(2).unwrap().count, 11);
    assert_eq!(file.line(3).unwrap().count, 5);
    assert_eq!(file.line(4).unwrap().count, 6);
    assert_eq!(file.functions[0].count, 11);
}
