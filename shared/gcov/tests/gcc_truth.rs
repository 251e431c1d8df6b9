//! The engine against gcov itself, on a program built here with gcc --coverage: group functions
//! on one line, a loop on one line, code in a header counted from two translation units,
//! setjmp/longjmp, a switch, and a function that never runs.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use ccaas_gcov::Options;
use common::*;

#[test]
fn per_line_function_and_branch_counts_equal_gcov_json() {
    let dir = tempfile::tempdir().unwrap();
    compile("gcc", dir.path());
    exec(dir.path(), &[]);
    exec(dir.path(), &["2"]);
    let want = gcov_truth(&["gcov"], dir.path(), &["tricky.gcda", "other.gcda"]);
    let (cov, warnings) = engine(dir.path(), &Options::default());
    assert!(warnings.is_empty(), "{warnings:?}");
    let got = ours(&cov);
    assert!(!want.lines.is_empty());
    assert_eq!(got.lines, want.lines);
    assert_eq!(got.functions, want.functions);
    assert_eq!(got.branches, want.branches);
}

#[test]
fn group_functions_on_one_line_are_summed_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    compile("gcc", dir.path());
    exec(dir.path(), &[]);
    let (cov, _) = engine(dir.path(), &Options::default());
    let (path, f) = cov
        .files
        .iter()
        .find(|(p, _)| p.ends_with("/tricky.c"))
        .unwrap();
    // f1 and f2 are both entered 10 times from line 7; gcov lists them separately.
    let l7 = f.line(7).unwrap_or_else(|| panic!("{path}:7 missing"));
    let per_fn: u64 = f
        .functions
        .iter()
        .filter(|x| x.start_line == 7)
        .map(|x| x.count)
        .sum();
    assert_eq!(f.functions.iter().filter(|x| x.start_line == 7).count(), 2);
    assert_eq!(per_fn, 20);
    assert!(
        l7.count >= 20,
        "line 7 count {} should sum both functions",
        l7.count
    );
}

#[test]
fn several_data_files_for_one_notes_sum_like_libgcov_merging() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    compile("gcc", d);
    exec(d, &[]);
    let a = fs::read(d.join("tricky.gcda")).unwrap();
    fs::remove_file(d.join("tricky.gcda")).unwrap();
    fs::remove_file(d.join("other.gcda")).unwrap();
    exec(d, &["2"]);
    let b = fs::read(d.join("tricky.gcda")).unwrap();
    // libgcov merges a second run into the existing file: that is the reference.
    fs::write(d.join("tricky.gcda"), &a).unwrap();
    exec(d, &["2"]);
    let merged = fs::read(d.join("tricky.gcda")).unwrap();
    let notes = fs::read(d.join("tricky.gcno")).unwrap();
    let run = |data: &[(&str, &[u8])]| {
        let inputs = [ccaas_gcov::Input {
            notes_name: "tricky.gcno",
            notes: &notes,
            data,
        }];
        let (cov, w) = ccaas_gcov::build(&inputs, &Options::default()).unwrap();
        assert!(w.is_empty(), "{w:?}");
        ours(&cov)
    };
    let two = run(&[("a.gcda", &a), ("b.gcda", &b)]);
    let one = run(&[("merged.gcda", &merged)]);
    assert_eq!(two, one);
    assert_ne!(two, run(&[("a.gcda", &a)]));
}

#[test]
fn data_from_another_build_is_rejected_with_both_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    compile("gcc", d);
    exec(d, &[]);
    let old = fs::read(d.join("tricky.gcda")).unwrap();
    let old_notes = fs::read(d.join("tricky.gcno")).unwrap();
    compile("gcc", d); // a new build of the same source: only its stamp differs
    let notes = fs::read(d.join("tricky.gcno")).unwrap();
    // gcc stamps a build with the time its compiler started in milliseconds (`local_tick`;
    // the .gcda copies the stamp of the notes it was written for), so a build that starts
    // after another one finished has another stamp: no wait is needed. Checked here, so a
    // clock that hands out the same stamp twice fails as what it is, not as a missed warning.
    let stamp = |b: &[u8]| b.get(8..12).map(<[u8]>::to_vec);
    assert_eq!(
        stamp(&old),
        stamp(&old_notes),
        "data and its notes share a stamp"
    );
    assert_ne!(
        stamp(&notes),
        stamp(&old_notes),
        "the rebuild got a new stamp"
    );
    let data = [("build1/tricky.gcda", old.as_slice())];
    let inputs = [ccaas_gcov::Input {
        notes_name: "build2/tricky.gcno",
        notes: &notes,
        data: &data,
    }];
    let (cov, w) = ccaas_gcov::build(&inputs, &Options::default()).unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        matches!(w[0].error, Some(ccaas_gcov::Error::StampMismatch { .. })),
        "{:?}",
        w[0]
    );
    assert!(
        w[0].message.contains("build1/tricky.gcda") && w[0].message.contains("build2/tricky.gcno")
    );
    // The notes are still reported, with zero counts rather than garbage.
    assert!(cov.totals.lines.total > 0);
    assert_eq!(cov.totals.lines.hit, 0);
}

struct Disk;
impl ccaas_gcov::SourceReader for Disk {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        fs::read(path).ok()
    }
}

#[test]
fn exclusion_markers_drop_lines_and_functions_when_sources_are_readable() {
    let dir = tempfile::tempdir().unwrap();
    compile("gcc", dir.path());
    exec(dir.path(), &[]);
    let (plain, _) = engine(dir.path(), &Options::default());
    let opts = Options {
        source_reader: Some(std::sync::Arc::new(Disk)),
        ..Options::default()
    };
    let (marked, _) = engine(dir.path(), &opts);
    let tricky = |c: &ccaas_gcov::Coverage| {
        c.files
            .iter()
            .find(|(p, _)| p.ends_with("/tricky.c"))
            .unwrap()
            .1
            .clone()
    };
    let other = |c: &ccaas_gcov::Coverage| {
        c.files
            .iter()
            .find(|(p, _)| p.ends_with("/other.c"))
            .unwrap()
            .1
            .clone()
    };
    // LCOV_EXCL_LINE on tricky.c:16 (inside never()).
    assert!(tricky(&plain).line(16).is_some());
    assert!(tricky(&marked).line(16).is_none());
    assert!(
        tricky(&marked).line(15).is_none()
            || tricky(&plain).line(15).is_none()
            || tricky(&marked).line(15).is_some()
    );
    // GCOVR_EXCL_START on other.c:6 .. GCOVR_EXCL_STOP on other.c:8.
    for ln in 6..=8 {
        assert!(
            other(&marked).line(ln).is_none(),
            "other.c:{ln} should be excluded"
        );
    }
    assert!(other(&plain).line(6).is_some());
    assert!(marked.totals.lines.total < plain.totals.lines.total);
}

#[test]
fn include_and_exclude_globs_and_prefix_strip_shape_the_report() {
    let dir = tempfile::tempdir().unwrap();
    compile("gcc", dir.path());
    exec(dir.path(), &[]);
    let opts = Options {
        exclude: vec!["**/other.c".into()],
        ..Options::default()
    };
    let (cov, _) = engine(dir.path(), &opts);
    assert!(cov.files.keys().any(|p| p.ends_with("/tricky.c")));
    assert!(!cov.files.keys().any(|p| p.ends_with("/other.c")));
    let src = fixture_src();
    let depth = src.components().count() - 1; // components after the root "/"
    let opts = Options {
        prefix_strip: depth,
        source_root: Some("/proj".into()),
        ..Options::default()
    };
    let (cov, _) = engine(dir.path(), &opts);
    assert!(
        cov.files.contains_key("/proj/tricky.c"),
        "{:?}",
        cov.files.keys().collect::<Vec<_>>()
    );
    assert!(cov.files.contains_key("/proj/tricky.h"));
}
