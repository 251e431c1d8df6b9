//! The writers on arbitrary models: never panic, and the lcov tracefile reads back to the same
//! per-line counts, totals and function names (paths and names may hold newlines, carriage
//! returns and backslashes, which the writer escapes); Cobertura and summary totals agree with
//! the model.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use ccaas_gcov::{Coverage, FileCoverage, FunctionCoverage, LineCoverage};
use proptest::prelude::*;

fn file() -> impl Strategy<Value = FileCoverage> {
    (
        prop::collection::btree_map(
            1u32..5000,
            (any::<u32>(), prop::collection::vec(0u64..5, 0..4)),
            0..40,
        ),
        prop::collection::vec(("[a-z_<>&\"\\\\\r\n]{1,8}", 1u32..5000, 0u64..3), 0..5),
    )
        .prop_map(|(lines, funcs)| {
            let mut f = FileCoverage::default();
            for (line, (count, br)) in lines {
                let start = f.branches.len() as u32;
                f.branches.extend(&br);
                f.lines.push(LineCoverage {
                    line,
                    count: u64::from(count % 3) * u64::from(count),
                    branches: (start, br.len() as u32),
                    unexecuted_block: false,
                });
            }
            for (name, start_line, count) in funcs {
                f.functions.push(FunctionCoverage {
                    name,
                    start_line,
                    start_column: 0,
                    end_line: start_line,
                    end_column: 0,
                    count,
                });
            }
            f.compute_totals();
            f
        })
}

fn coverage() -> impl Strategy<Value = Coverage> {
    prop::collection::btree_map("(/[a-zA-Zш0-9 ._\\\\\r\n-]{1,6}){1,4}\\.c", file(), 0..5).prop_map(
        |files| {
            let mut c = Coverage {
                files,
                ..Coverage::default()
            };
            c.compute_totals();
            c
        },
    )
}

/// Undoes `ccaas_gcov::lcov::escape` (`\\`, `\n`, `\r`).
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            other => panic!("a lone backslash before {other:?} in {field:?}"),
        }
    }
    out
}

/// The per-line counts, LF and BRF sums of a tracefile, and the function names per file. Every
/// line must be a known record: a name that broke its line would show as an unknown one.
#[allow(clippy::type_complexity)]
fn read_lcov(
    text: &str,
) -> (
    BTreeMap<(String, u32), u64>,
    u64,
    u64,
    BTreeMap<String, Vec<String>>,
) {
    let mut lines = BTreeMap::new();
    let mut functions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut lf, mut brf) = (0, 0);
    let mut sf = String::new();
    for l in text.split('\n').filter(|l| !l.is_empty()) {
        const RECORDS: [&str; 13] = [
            "TN:",
            "SF:",
            "FN:",
            "FNDA:",
            "FNF:",
            "FNH:",
            "BRDA:",
            "BRF:",
            "BRH:",
            "DA:",
            "LF:",
            "LH:",
            "end_of_record",
        ];
        assert!(
            RECORDS.iter().any(|k| l.starts_with(k)),
            "not a record: {l:?}"
        );
        assert!(!l.contains('\r'), "a carriage return in {l:?}");
        if let Some(p) = l.strip_prefix("SF:") {
            sf = unescape(p);
            functions.entry(sf.clone()).or_default();
        } else if let Some(f) = l.strip_prefix("FN:") {
            let (_, name) = f.split_once(',').unwrap();
            functions
                .entry(sf.clone())
                .or_default()
                .push(unescape(name));
        } else if let Some(d) = l.strip_prefix("DA:") {
            let (n, c) = d.split_once(',').unwrap();
            lines.insert((sf.clone(), n.parse().unwrap()), c.parse().unwrap());
        } else if let Some(n) = l.strip_prefix("LF:") {
            lf += n.parse::<u64>().unwrap();
        } else if let Some(n) = l.strip_prefix("BRF:") {
            brf += n.parse::<u64>().unwrap();
        }
    }
    (lines, lf, brf, functions)
}

proptest! {
    #[test]
    fn lcov_reads_back_to_the_model_and_no_writer_panics(cov in coverage()) {
        let mut info = Vec::new();
        ccaas_gcov::lcov::write(&cov, "t", &mut info).unwrap();
        let (lines, lf, brf, functions) = read_lcov(std::str::from_utf8(&info).unwrap());
        let want: BTreeMap<(String, u32), u64> = cov
            .files
            .iter()
            .flat_map(|(p, f)| f.lines.iter().map(move |l| ((p.clone(), l.line), l.count)))
            .collect();
        prop_assert_eq!(lines, want);
        let want_functions: BTreeMap<String, Vec<String>> = cov
            .files
            .iter()
            .map(|(p, f)| (p.clone(), f.functions.iter().map(|x| x.name.clone()).collect()))
            .collect();
        prop_assert_eq!(functions, want_functions);
        prop_assert_eq!(lf, cov.totals.lines.total);
        prop_assert_eq!(brf, cov.totals.branches.total);

        let mut xml = Vec::new();
        ccaas_gcov::cobertura::write(&cov, 0, &mut xml).unwrap();
        let xml = String::from_utf8(xml).unwrap();
        let needle = format!("lines-valid=\"{}\"", cov.totals.lines.total);
        prop_assert!(xml.contains(&needle));
        prop_assert_eq!(xml.matches("<class ").count(), cov.files.len());

        let mut js = Vec::new();
        ccaas_gcov::summary::write(&cov, &mut js).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&js).unwrap();
        prop_assert_eq!(v["totals"]["branches"]["total"].as_u64(), Some(cov.totals.branches.total));
        prop_assert_eq!(v["files"].as_array().map(|a| a.len()), Some(cov.files.len()));

        let mut svg = Vec::new();
        ccaas_gcov::badge::write(&cov, &mut svg).unwrap();
        prop_assert!(String::from_utf8(svg).unwrap().starts_with("<svg"));
    }
}

#[test]
fn badge_colour_follows_the_line_percentage() {
    assert_eq!(ccaas_gcov::badge::color(95.0), "#4c1");
    assert_eq!(ccaas_gcov::badge::color(80.0), "#a3c51c");
    assert_eq!(ccaas_gcov::badge::color(10.0), "#e05d44");
    assert!(ccaas_gcov::badge::svg(37.64).contains("37.6%"));
}
