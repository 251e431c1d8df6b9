//! C++ names on a real g++ build with templates in a header (`tests/data/cpp`: `ring.hpp` with
//! a function template and a class template, used by `main.cpp` and `other.cpp`), built here
//! with `g++ --coverage`, run twice, read by the engine and rendered. gcov itself is the
//! oracle: its `--demangled-names` JSON gives the names the pages and `cobertura.xml` must
//! show, its counts the numbers; `coverage.info` keeps the mangled names, as lcov does.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use ccaas_gcov::Coverage;
use ccaas_report::{DataFile, NoSources, OutFile};

/// One function as gcov reports it.
#[derive(Debug)]
struct GcovFunction {
    file: String,
    line: u32,
    count: u64,
    name: String,
    demangled: String,
}

/// gcov's numbers, summed over the translation units as lcov and gcovr sum them.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    lines: BTreeMap<(String, u32), u64>,
    functions: BTreeMap<(String, u32, String), u64>,
    branches: BTreeMap<(String, u32, usize), u64>,
}

struct Build {
    _dir: tempfile::TempDir,
    cov: Coverage,
    gcov: Vec<GcovFunction>,
    want: Counts,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cpp")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (g++ and gcov are needed): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the fixture with `g++ --coverage -O0`, runs it with no argument and with one, and
/// reads it with the engine and with gcov.
fn build() -> Build {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for unit in ["main", "other"] {
        run(Command::new("g++")
            .current_dir(d)
            .args(["--coverage", "-O0", "-c"])
            .arg(src().join(format!("{unit}.cpp")))
            .args(["-o", &format!("{unit}.o")]));
    }
    run(Command::new("g++")
        .current_dir(d)
        .args(["--coverage", "main.o", "other.o", "-o", "t"]));
    run(Command::new(d.join("t")).current_dir(d));
    run(Command::new(d.join("t")).current_dir(d).arg("x"));

    let cov = common::model_of(d, &["main", "other"]);

    let out = Command::new("gcov")
        .current_dir(d)
        .args([
            "--json-format",
            "--stdout",
            "--branch-probabilities",
            "--demangled-names",
            "main.gcda",
            "other.gcda",
        ])
        .output()
        .expect("run gcov");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut gcov = Vec::new();
    let mut want = Counts::default();
    for doc in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
    {
        let v: serde_json::Value = serde_json::from_str(doc).unwrap();
        for f in v["files"].as_array().unwrap() {
            let file = f["file"].as_str().unwrap().to_string();
            for func in f["functions"].as_array().unwrap() {
                let g = GcovFunction {
                    file: file.clone(),
                    line: func["start_line"].as_u64().unwrap() as u32,
                    count: func["execution_count"].as_u64().unwrap(),
                    name: func["name"].as_str().unwrap().into(),
                    demangled: func["demangled_name"].as_str().unwrap().into(),
                };
                *want
                    .functions
                    .entry((file.clone(), g.line, g.name.clone()))
                    .or_default() += g.count;
                gcov.push(g);
            }
            for l in f["lines"].as_array().unwrap() {
                let line = l["line_number"].as_u64().unwrap() as u32;
                *want.lines.entry((file.clone(), line)).or_default() +=
                    l["count"].as_u64().unwrap();
                for (i, b) in l["branches"].as_array().unwrap().iter().enumerate() {
                    *want.branches.entry((file.clone(), line, i)).or_default() +=
                        b["count"].as_u64().unwrap();
                }
            }
        }
    }
    Build {
        _dir: dir,
        cov,
        gcov,
        want,
    }
}

fn data_file(cov: &Coverage, f: DataFile) -> String {
    let mut out = Vec::new();
    f.write(cov, 0, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The source page of file `name` (the pages name files relative to their common directory).
fn page_of<'a>(pages: &'a [OutFile], name: &str) -> &'a str {
    pages
        .iter()
        .filter(|p| p.path.starts_with("f/"))
        .map(|p| std::str::from_utf8(&p.bytes).unwrap())
        .find(|h| h.contains(&format!("<h1>{name}</h1>")))
        .unwrap_or_else(|| panic!("no page for {name}"))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_escape(s: &str) -> String {
    ccaas_gcov::cobertura::escape(s).into_owned()
}

#[test]
fn the_engine_demangles_every_cpp_name_of_the_build_as_gcov_does() {
    let b = build();
    let cpp: Vec<&GcovFunction> = b.gcov.iter().filter(|g| g.name.starts_with("_Z")).collect();
    // Template instances of the header (two of one class, a member template with a lambda),
    // an operator, an anonymous namespace and a lambda; and main and the C function.
    assert!(cpp.len() >= 12, "{cpp:?}");
    for want in [
        "int geo::clamp_to<int>(int, int, int)",
        "geo::Ring<double, 2ul>::push(double const&)",
        "int geo::Ring<int, 4ul>::count_if<main::{lambda(int)#1}>(main::{lambda(int)#1}) const",
        "(anonymous namespace)::twice(int)",
        "operator+(Meters, Meters)",
        "main::{lambda(int)#1}::operator()(int) const",
    ] {
        assert!(b.gcov.iter().any(|g| g.demangled == want), "{want}");
    }
    for g in &b.gcov {
        assert_eq!(ccaas_report::demangle(&g.name), g.demangled, "{}", g.name);
    }
}

#[test]
fn pages_show_demangled_names_with_the_mangled_name_on_hover() {
    let b = build();
    let pages = ccaas_report::render(&b.cov, &ccaas_report::Options::default(), &NoSources);
    for g in &b.gcov {
        let file = Path::new(&g.file).file_name().unwrap().to_str().unwrap();
        let html = page_of(&pages, file);
        let shown = html_escape(&g.demangled);
        // The cell: sorted by the shown name, linked to its line, the mangled name as title.
        let cell = if g.name.starts_with("_Z") {
            format!(
                r#"<td class="name" data-v="{shown}" title="{}"><a href="#,
                html_escape(&g.name)
            )
        } else {
            format!(r#"<td class="name" data-v="{shown}"><a href="#)
        };
        let at = html
            .find(&cell)
            .unwrap_or_else(|| panic!("{cell} not in the page of {file}"));
        let rest = &html[at..];
        let link_end = rest.find("</a>").unwrap();
        assert!(
            rest[..link_end].ends_with(&format!("#L{}\">{shown}", g.line)),
            "{}",
            &rest[..link_end]
        );
        if g.name.starts_with("_Z") {
            // The mangled name is only in the title: never shown as text.
            assert!(!html.contains(&format!(">{}<", g.name)), "{}", g.name);
        }
    }
}

#[test]
fn cobertura_names_methods_by_their_demangled_names() {
    let b = build();
    let xml = data_file(&b.cov, DataFile::Cobertura);
    for g in &b.gcov {
        let method = format!(
            r#"<method name="{}" signature="""#,
            xml_escape(&g.demangled)
        );
        assert!(xml.contains(&method), "{method}");
        if g.name.starts_with("_Z") {
            assert!(!xml.contains(&g.name), "{}", g.name);
        }
    }
}

#[test]
fn lcov_keeps_the_mangled_names_as_lcov_does() {
    let b = build();
    let info = data_file(&b.cov, DataFile::Lcov);
    for g in &b.gcov {
        let fn_line = format!("FN:{},{}", g.line, g.name);
        assert!(info.lines().any(|l| l == fn_line), "{fn_line}");
        let fnda = format!(",{}", g.name);
        assert!(
            info.lines()
                .any(|l| l.starts_with("FNDA:") && l.ends_with(&fnda)),
            "FNDA of {}",
            g.name
        );
        if g.name.starts_with("_Z") {
            assert!(!info.contains(&g.demangled), "{}", g.demangled);
        }
    }
}

#[test]
fn counts_of_the_template_build_equal_gcov() {
    let b = build();
    let mut got = Counts::default();
    for (path, f) in &b.cov.files {
        for l in &f.lines {
            got.lines.insert((path.clone(), l.line), l.count);
            for (i, &c) in f.branches_of(l).iter().enumerate() {
                got.branches.insert((path.clone(), l.line, i), c);
            }
        }
        for func in &f.functions {
            got.functions.insert(
                (path.clone(), func.start_line, func.name.clone()),
                func.count,
            );
        }
    }
    assert!(!b.want.lines.is_empty());
    assert_eq!(got.lines, b.want.lines);
    assert_eq!(got.functions, b.want.functions);
    assert_eq!(got.branches, b.want.branches);
    // The header's instances are counted from both units: clamp_to<int> ran 6 times in main
    // per run (12) and 5 and 6 times in other_sum.
    let clamp = b
        .want
        .functions
        .iter()
        .find(|((_, _, n), _)| n == "_ZN3geo8clamp_toIiEET_S1_S1_S1_")
        .unwrap();
    assert_eq!(*clamp.1, 12 + 5 + 6);
}
