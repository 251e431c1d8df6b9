//! The engine against truth recorded from other compilers' tools, on fixtures built from
//! tests/data/src and committed with that truth: gcc-11 with gcov-11 (JSON), clang-15 with
//! llvm-cov-15 gcov (text). (CI rebuilds whole corpora with these compilers: see
//! scripts/test.d/20-gcov-truth.sh.)

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use ccaas_gcov::{Input, Options, build};

fn dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn engine(name: &str) -> ccaas_gcov::Coverage {
    let d = dir(name);
    let mut files = Vec::new();
    for stem in ["other", "tricky"] {
        let n = std::fs::read(d.join(format!("{stem}.gcno"))).unwrap();
        let a = std::fs::read(d.join(format!("{stem}.gcda"))).unwrap();
        files.push((format!("{stem}.gcno"), n, format!("{stem}.gcda"), a));
    }
    let data: Vec<[(&str, &[u8]); 1]> = files
        .iter()
        .map(|(_, _, dn, db)| [(dn.as_str(), db.as_slice())])
        .collect();
    let inputs: Vec<Input<'_>> = files
        .iter()
        .zip(&data)
        .map(|((nn, nb, _, _), d)| Input {
            notes_name: nn,
            notes: nb,
            data: d,
        })
        .collect();
    let (cov, w) = build(&inputs, &Options::default()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    cov
}

fn truth_lines(name: &str) -> BTreeMap<(String, u32), u64> {
    std::fs::read_to_string(dir(name).join("truth-lines.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut it = l.split('\t');
            let f = it.next().unwrap().to_string();
            let n = it.next().unwrap().parse().unwrap();
            let c = it.next().unwrap().parse().unwrap();
            ((f, n), c)
        })
        .collect()
}

fn check(name: &str) {
    let cov = engine(name);
    let got: BTreeMap<(String, u32), u64> = cov
        .files
        .iter()
        .flat_map(|(p, f)| f.lines.iter().map(move |l| ((p.clone(), l.line), l.count)))
        .collect();
    assert_eq!(got, truth_lines(name));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir(name).join("truth-summary.json")).unwrap())
            .unwrap();
    let all = &s["all"];
    let t = cov.totals;
    assert_eq!(
        (t.functions.hit, t.functions.total),
        (
            all["functions_covered"].as_u64().unwrap(),
            all["functions"].as_u64().unwrap()
        )
    );
    assert_eq!(
        (t.branches.hit, t.branches.total),
        (
            all["branches_taken"].as_u64().unwrap(),
            all["branches"].as_u64().unwrap()
        )
    );
}

#[test]
fn gcc_11_files_equal_gcov_11() {
    check("gcc11");
}

#[test]
fn clang_15_files_equal_llvm_cov_15_gcov() {
    check("clang15");
}

#[test]
fn clang_notes_are_detected_as_llvm_and_gcc_notes_are_not() {
    for (name, llvm) in [("clang15", true), ("gcc11", false), ("gcc12", false)] {
        let n = std::fs::read(dir(name).join("tricky.gcno")).unwrap();
        let notes = ccaas_gcov::gcno::parse("tricky.gcno", &n).unwrap();
        assert_eq!(ccaas_gcov::solve::is_llvm(&notes), llvm, "{name}");
    }
}

#[test]
fn forcing_gcc_rules_on_clang_files_changes_the_branch_list() {
    let d = dir("clang15");
    let n = std::fs::read(d.join("tricky.gcno")).unwrap();
    let a = std::fs::read(d.join("tricky.gcda")).unwrap();
    let data = [("tricky.gcda", a.as_slice())];
    let inputs = [Input {
        notes_name: "tricky.gcno",
        notes: &n,
        data: &data,
    }];
    let llvm = build(&inputs, &Options::default()).unwrap().0;
    let gcc = build(
        &inputs,
        &Options {
            flavor: ccaas_gcov::solve::Flavor::Gcc,
            ..Options::default()
        },
    )
    .unwrap()
    .0;
    // llvm-cov lists both functions' branches on the macro line; gcov merges them by index.
    assert_ne!(llvm.totals.branches, gcc.totals.branches);
}
