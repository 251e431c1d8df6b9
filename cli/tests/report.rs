//! `ccaas report` end to end, on a program built here with gcc --coverage.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/gcov/tests/data/src")
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the fixture in `dir` and runs it once (with extra environment).
fn build_and_run(dir: &Path, env: &[(&str, String)]) {
    fs::create_dir_all(dir).unwrap();
    for f in ["tricky", "other"] {
        sh(Command::new("gcc")
            .current_dir(dir)
            .args(["--coverage", "-O0", "-c"])
            .arg(fixture_src().join(format!("{f}.c")))
            .args(["-o", &format!("{f}.o")]));
    }
    sh(Command::new("gcc")
        .current_dir(dir)
        .args(["--coverage", "tricky.o", "other.o", "-o", "t"]));
    let st = Command::new(dir.join("t"))
        .current_dir(dir)
        .envs(env.iter().cloned())
        .status()
        .unwrap();
    assert!(st.code().is_some());
}

fn ccaas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccaas"))
        .args(args)
        .output()
        .expect("run ccaas")
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap()
}

fn line_count(info: &str, file_suffix: &str, line: u32) -> Option<u64> {
    let mut in_file = false;
    for l in info.lines() {
        if let Some(sf) = l.strip_prefix("SF:") {
            in_file = sf.ends_with(file_suffix);
        } else if in_file && let Some(da) = l.strip_prefix("DA:") {
            let (n, c) = da.split_once(',').unwrap();
            if n.parse::<u32>().unwrap() == line {
                return Some(c.parse().unwrap());
            }
        }
    }
    None
}

#[test]
fn report_writes_lcov_cobertura_summary_and_badge() {
    let t = tempfile::tempdir().unwrap();
    let build = t.path().join("build");
    build_and_run(&build, &[]);
    let out = t.path().join("out");
    let o = ccaas(&[
        "report",
        build.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = fs::read_to_string(out.join("coverage.info")).unwrap();
    assert!(info.contains("SF:") && info.contains("end_of_record"));
    assert_eq!(
        line_count(&info, "/tricky.c", 23),
        Some(10),
        "s += f1(i) + f2(i) runs 10 times"
    );
    let xml = fs::read_to_string(out.join("cobertura.xml")).unwrap();
    assert!(xml.contains("<coverage line-rate=") && xml.contains("filename=\"tricky.c\""));
    let s = summary(&out);
    let lines = &s["totals"]["lines"];
    assert!(lines["total"].as_u64().unwrap() > 20);
    assert!(lines["hit"].as_u64().unwrap() < lines["total"].as_u64().unwrap());
    let badge = fs::read_to_string(out.join("badge.svg")).unwrap();
    assert!(badge.starts_with("<svg") && badge.contains('%'));
}

#[test]
fn report_sums_the_same_sources_from_two_build_directories() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let b = t.path().join("b");
    build_and_run(&a, &[]);
    build_and_run(&b, &[]);
    let one = t.path().join("one");
    let two = t.path().join("two");
    assert!(
        ccaas(&[
            "report",
            a.to_str().unwrap(),
            "-o",
            one.to_str().unwrap(),
            "-q"
        ])
        .status
        .success()
    );
    assert!(
        ccaas(&[
            "report",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "-o",
            two.to_str().unwrap(),
            "-q"
        ])
        .status
        .success()
    );
    let i1 = fs::read_to_string(one.join("coverage.info")).unwrap();
    let i2 = fs::read_to_string(two.join("coverage.info")).unwrap();
    assert_eq!(line_count(&i1, "/tricky.c", 23), Some(10));
    assert_eq!(line_count(&i2, "/tricky.c", 23), Some(20));
    assert_eq!(
        summary(&one)["totals"]["lines"]["total"],
        summary(&two)["totals"]["lines"]["total"]
    );
}

#[test]
fn overlapping_directory_arguments_do_not_count_files_twice() {
    let t = tempfile::tempdir().unwrap();
    let build = t.path().join("build");
    build_and_run(&build, &[]);
    let out = t.path().join("out");
    let same = format!("{}/.", build.display());
    let o = ccaas(&[
        "report",
        build.to_str().unwrap(),
        &same,
        t.path().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = fs::read_to_string(out.join("coverage.info")).unwrap();
    assert_eq!(line_count(&info, "/tricky.c", 23), Some(10));
}

#[test]
fn data_written_under_gcov_prefix_is_paired_by_relative_path() {
    let t = tempfile::tempdir().unwrap();
    let build = t.path().join("build");
    let data = t.path().join("data");
    let strip = build.components().count() - 1;
    build_and_run(
        &build,
        &[
            ("GCOV_PREFIX", data.display().to_string()),
            ("GCOV_PREFIX_STRIP", strip.to_string()),
        ],
    );
    assert!(data.join("tricky.gcda").exists(), "libgcov wrote elsewhere");
    assert!(!build.join("tricky.gcda").exists());
    let out = t.path().join("out");
    let o = ccaas(&[
        "report",
        build.to_str().unwrap(),
        data.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("no matching .gcno"));
    let info = fs::read_to_string(out.join("coverage.info")).unwrap();
    assert_eq!(line_count(&info, "/tricky.c", 23), Some(10));
}

#[test]
fn a_corrupt_notes_file_is_named_fails_the_command_and_the_rest_is_still_reported() {
    let t = tempfile::tempdir().unwrap();
    let build = t.path().join("build");
    build_and_run(&build, &[]);
    fs::write(build.join("junk.gcno"), b"this is not a notes file").unwrap();
    let out = t.path().join("out");
    let o = ccaas(&[
        "report",
        build.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "bad input must fail the command");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning") && err.contains("junk.gcno") && err.contains("not a gcov"),
        "{err}"
    );
    let info = fs::read_to_string(out.join("coverage.info")).unwrap();
    assert!(line_count(&info, "/tricky.c", 23).is_some());
}

#[test]
fn a_directory_without_notes_files_exits_nonzero_with_a_message() {
    let t = tempfile::tempdir().unwrap();
    let o = ccaas(&[
        "report",
        t.path().to_str().unwrap(),
        "-o",
        t.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no .gcno files"));
}

#[test]
fn include_exclude_prefix_strip_and_source_root_flags_reach_the_engine() {
    let t = tempfile::tempdir().unwrap();
    let build = t.path().join("build");
    build_and_run(&build, &[]);
    let out = t.path().join("out");
    let strip = fixture_src().canonicalize().unwrap().components().count() - 1;
    let o = ccaas(&[
        "report",
        build.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--prefix-strip",
        &strip.to_string(),
        "--source-root",
        "/proj",
        "--exclude",
        "**/*.h",
        "--include",
        "/proj/**",
        "--threads",
        "1",
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = fs::read_to_string(out.join("coverage.info")).unwrap();
    let sfs: Vec<&str> = info.lines().filter_map(|l| l.strip_prefix("SF:")).collect();
    assert_eq!(sfs, ["/proj/other.c", "/proj/tricky.c"]);
}
