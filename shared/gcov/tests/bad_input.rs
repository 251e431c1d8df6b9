//! Truncated, mutated and hostile files: an error (a warning in the report) for that file, never
//! a panic or a hang, and the other files still reported.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ccaas_gcov::{Input, Options, build};
use common::synth::{self, Func};
use proptest::prelude::*;

const NOTES: &[u8] = include_bytes!("data/gcc12/tricky.gcno");
const DATA: &[u8] = include_bytes!("data/gcc12/tricky.gcda");
const OTHER_NOTES: &[u8] = include_bytes!("data/gcc12/other.gcno");
const OTHER_DATA: &[u8] = include_bytes!("data/gcc12/other.gcda");

fn report(notes: &[u8], data: &[u8]) -> (ccaas_gcov::Coverage, Vec<ccaas_gcov::Warning>) {
    let d = [("bad.gcda", data)];
    let od = [("other.gcda", OTHER_DATA)];
    let inputs = [
        Input {
            notes_name: "bad.gcno",
            notes,
            data: &d,
        },
        Input {
            notes_name: "other.gcno",
            notes: OTHER_NOTES,
            data: &od,
        },
    ];
    build(&inputs, &Options::default()).expect("options are valid")
}

fn other_is_reported(cov: &ccaas_gcov::Coverage) -> bool {
    cov.files.keys().any(|p| p.ends_with("/other.c"))
}

#[test]
fn every_truncation_of_a_real_notes_file_is_survived_and_the_other_unit_still_reported() {
    let mut errors = 0;
    for n in 0..NOTES.len() {
        let (cov, w) = report(&NOTES[..n], DATA);
        assert!(other_is_reported(&cov), "cut at {n}");
        errors += usize::from(!w.is_empty());
    }
    // Cuts inside the header or a record must be reported, not silently accepted.
    assert!(
        errors > NOTES.len() / 2,
        "only {errors} of {} truncations warned",
        NOTES.len()
    );
}

#[test]
fn every_truncation_of_a_real_data_file_is_survived() {
    for n in 0..DATA.len() {
        let (cov, _) = report(NOTES, &DATA[..n]);
        assert!(other_is_reported(&cov), "cut at {n}");
        assert!(
            cov.files.keys().any(|p| p.ends_with("/tricky.c")),
            "cut at {n}"
        );
    }
}

#[test]
fn wrong_magic_is_named_in_the_warning() {
    let mut bad = NOTES.to_vec();
    bad[0] ^= 0xff;
    let (_, w) = report(&bad, DATA);
    assert!(
        w.iter().any(
            |w| matches!(w.error, Some(ccaas_gcov::Error::BadMagic { .. }))
                && w.input == "bad.gcno"
        ),
        "{w:?}"
    );
}

#[test]
fn a_huge_block_count_is_refused_without_allocating_it() {
    let f = Func {
        ident: 1,
        name: "f",
        file: "/x.c",
        line: 1,
        blocks: 0xffff_fff0,
        arcs: vec![],
        lines: vec![],
    };
    let (_, w) = report(&synth::notes(&[f]), &[]);
    assert!(
        w.iter()
            .any(|w| w.message.contains("more than the file can describe")),
        "{w:?}"
    );
}

#[test]
fn a_record_longer_than_the_file_is_refused() {
    let mut n = synth::W::default();
    n.u32(0x6763_6e6f)
        .u32(synth::VERSION_B22)
        .u32(1)
        .u32(0)
        .str("/")
        .u32(1);
    n.u32(0x0100_0000).u32(0xffff_fff0);
    let (_, w) = report(&n.0, &[]);
    assert!(w.iter().any(|w| w.message.contains("claims")), "{w:?}");
}

#[test]
fn a_negative_counter_length_with_the_wrong_size_is_a_mismatch_not_an_allocation() {
    let f = Func {
        ident: 7,
        name: "f",
        file: "/x.c",
        line: 1,
        blocks: 3,
        arcs: vec![(0, 2, 0), (2, 1, 1)],
        lines: vec![(2, vec![1, 2])],
    };
    let notes = synth::notes(&[f]);
    let mut d = synth::W::default();
    d.u32(0x6763_6461)
        .u32(synth::VERSION_B22)
        .u32(synth::STAMP)
        .u32(0);
    d.u32(0x0100_0000).u32(12).u32(7).u32(1).u32(2);
    d.u32(0x01a1_0000).u32(0x8000_0000); // "2 GiB of zero counters"
    let (cov, w) = report(&notes, &d.0);
    assert!(
        w.iter()
            .any(|w| matches!(w.error, Some(ccaas_gcov::Error::FunctionMismatch { .. }))),
        "{w:?}"
    );
    assert_eq!(cov.files["/x.c"].lines.len(), 2);
}

#[test]
fn a_dense_graph_on_one_line_finishes_with_counts_or_a_budget_error() {
    // 24 blocks all on line 5, every block jumping to every other: many elementary cycles.
    let k = 24u32;
    let mut arcs = vec![(0, 2, 0)];
    for a in 2..2 + k {
        for b in 2..2 + k {
            if a != b {
                arcs.push((a, b, 0));
            }
        }
        arcs.push((a, 1, 0));
    }
    let n_counters = arcs.len();
    let lines = (2..2 + k).map(|b| (b, vec![5])).collect();
    let f = Func {
        ident: 3,
        name: "dense",
        file: "/d.c",
        line: 5,
        blocks: k + 2,
        arcs,
        lines,
    };
    let notes = synth::notes(&[f]);
    let data = synth::data(&[(3, vec![1000; n_counters])]);
    let t = std::time::Instant::now();
    let (cov, w) = report(&notes, &data);
    assert!(t.elapsed().as_secs() < 60, "took {:?}", t.elapsed());
    assert!(other_is_reported(&cov));
    let ok = cov.files.get("/d.c").is_some_and(|f| f.lines.len() == 1)
        || w.iter()
            .any(|w| matches!(w.error, Some(ccaas_gcov::Error::Budget { .. })));
    assert!(ok, "{w:?}");
}

fn mutate(base: &[u8], edits: &[(usize, u8)], words: &[(usize, u32)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(pos, b) in edits {
        let i = pos % v.len();
        v[i] = b;
    }
    for &(pos, w) in words {
        let i = (pos % (v.len() / 4)) * 4;
        v[i..i + 4].copy_from_slice(&w.to_le_bytes());
    }
    v
}

fn hostile_word() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(0xffff_ffff),
        Just(0x8000_0000),
        Just(0x7fff_ffff),
        Just(0x0100_0000),
        Just(0x0143_0000),
        Just(0x0145_0000),
        Just(0x01a1_0000),
        any::<u32>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_notes_never_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        words in prop::collection::vec((any::<usize>(), hostile_word()), 0..4),
    ) {
        let n = mutate(NOTES, &edits, &words);
        let (cov, _) = report(&n, DATA);
        prop_assert!(other_is_reported(&cov));
    }

    #[test]
    fn mutated_real_data_never_panics(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        words in prop::collection::vec((any::<usize>(), hostile_word()), 0..4),
    ) {
        let d = mutate(DATA, &edits, &words);
        let (cov, _) = report(NOTES, &d);
        prop_assert!(other_is_reported(&cov));
    }

    #[test]
    fn random_bytes_with_a_valid_header_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut n = NOTES[..24].to_vec();
        n.extend_from_slice(&body);
        let (cov, _) = report(&n, DATA);
        prop_assert!(other_is_reported(&cov));
    }
}
