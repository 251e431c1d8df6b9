//! Test helpers: build the fixture program with a real compiler, run it, and read gcov's own
//! JSON output as the oracle.
#![allow(dead_code)]

pub mod synth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ccaas_gcov::{Coverage, Input, Options};

pub fn fixture_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/src")
}

pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success() || cmd.get_program().to_string_lossy().starts_with("./"),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles tricky.c and other.c with `cc --coverage -O0` in `dir` (the cwd of the compile) and
/// links `dir/t`. Returns nothing; the .gcno are in `dir`.
pub fn compile(cc: &str, dir: &Path) {
    let src = fixture_src();
    for f in ["tricky", "other"] {
        run(Command::new(cc)
            .current_dir(dir)
            .args(["--coverage", "-O0", "-c"])
            .arg(src.join(format!("{f}.c")))
            .args(["-o", &format!("{f}.o")]));
    }
    run(Command::new(cc)
        .current_dir(dir)
        .args(["--coverage", "tricky.o", "other.o", "-o", "t"]));
}

/// Runs the fixture program once with `args`.
pub fn exec(dir: &Path, args: &[&str]) {
    let st = Command::new(dir.join("t"))
        .current_dir(dir)
        .args(args)
        .status()
        .expect("run fixture");
    assert!(st.code().is_some(), "fixture crashed");
}

/// gcov's merged truth: per (file, line) counts, per (file, line, name) function counts, per
/// (file, line, index) branch counts, summed the way lcov/gcovr/oracle.py sum them.
#[derive(Debug, Default, PartialEq)]
pub struct Truth {
    pub lines: BTreeMap<(String, u32), i64>,
    pub functions: BTreeMap<(String, u32, String), i64>,
    pub branches: BTreeMap<(String, u32, usize), i64>,
}

/// Runs `gcov_cmd --json-format --stdout -b` on every .gcda in `dir`.
pub fn gcov_truth(gcov_cmd: &[&str], dir: &Path, data: &[&str]) -> Truth {
    let out = Command::new(gcov_cmd[0])
        .args(&gcov_cmd[1..])
        .current_dir(dir)
        .args(["--json-format", "--stdout", "--branch-probabilities"])
        .args(data)
        .output()
        .expect("run gcov");
    assert!(
        out.status.success(),
        "gcov failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut t = Truth::default();
    for doc in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
    {
        let v: serde_json::Value = serde_json::from_str(doc).expect("gcov json");
        for f in v["files"].as_array().into_iter().flatten() {
            let name = f["file"].as_str().unwrap().to_string();
            for func in f["functions"].as_array().into_iter().flatten() {
                *t.functions
                    .entry((
                        name.clone(),
                        func["start_line"].as_u64().unwrap() as u32,
                        func["name"].as_str().unwrap().into(),
                    ))
                    .or_default() += func["execution_count"].as_i64().unwrap();
            }
            for l in f["lines"].as_array().into_iter().flatten() {
                let ln = l["line_number"].as_u64().unwrap() as u32;
                *t.lines.entry((name.clone(), ln)).or_default() += l["count"].as_i64().unwrap();
                for (i, b) in l["branches"].as_array().into_iter().flatten().enumerate() {
                    *t.branches.entry((name.clone(), ln, i)).or_default() +=
                        b["count"].as_i64().unwrap();
                }
            }
        }
    }
    t
}

/// Our engine's numbers in the same shape.
pub fn ours(cov: &Coverage) -> Truth {
    let mut t = Truth::default();
    for (path, f) in &cov.files {
        for l in &f.lines {
            t.lines.insert((path.clone(), l.line), l.count as i64);
            for (i, &c) in f.branches_of(l).iter().enumerate() {
                t.branches.insert((path.clone(), l.line, i), c as i64);
            }
        }
        for func in &f.functions {
            t.functions.insert(
                (path.clone(), func.start_line, func.name.clone()),
                func.count as i64,
            );
        }
    }
    t
}

/// Reads every .gcno in `dir` with its .gcda (if any) and builds the report.
pub fn engine(dir: &Path, opts: &Options) -> (Coverage, Vec<ccaas_gcov::Warning>) {
    let mut notes = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "gcno") {
            let bytes = std::fs::read(&p).unwrap();
            let d = p.with_extension("gcda");
            let data = std::fs::read(&d).ok().map(|b| (d.display().to_string(), b));
            notes.push((p.display().to_string(), bytes, data));
        }
    }
    notes.sort();
    let data: Vec<Vec<(&str, &[u8])>> = notes
        .iter()
        .map(|(_, _, d)| d.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect())
        .collect();
    let inputs: Vec<Input<'_>> = notes
        .iter()
        .zip(&data)
        .map(|((n, b, _), d)| Input {
            notes_name: n,
            notes: b,
            data: d,
        })
        .collect();
    ccaas_gcov::build(&inputs, opts).expect("options are valid")
}
