//! The renderer on the engine's real gcc 12 fixture and on hostile and random models: golden
//! bytes, determinism, links, numbers, escaping, and no panics.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use ccaas_gcov::{Counter, Coverage, FileCoverage, FunctionCoverage, LineCoverage};
use ccaas_report::{
    DataFile, Facts, NoSources, Options, OutFile, ReportSink, render, render_each, write_report,
};
use common::{broken_links, fixture, fixture_source};
use proptest::prelude::*;

fn by_path(files: &[OutFile]) -> BTreeMap<&str, &OutFile> {
    files.iter().map(|f| (f.path.as_str(), f)).collect()
}

fn text<'a>(files: &'a [OutFile], path: &str) -> std::borrow::Cow<'a, str> {
    let f = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is missing"));
    String::from_utf8_lossy(&f.bytes)
}

/// The style sheet and the script, published as they are committed in `assets/`. The golden
/// copy holds the pages only: a golden copy of these would only be compared with itself.
const ASSETS: [&str; 2] = ["report.css", "report.js"];

fn committed_asset(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_fixture_report_matches_the_committed_golden_files() {
    let files: Vec<OutFile> = render(&fixture(), &Options::default(), &fixture_source)
        .into_iter()
        .filter(|f| !ASSETS.contains(&f.path.as_str()))
        .collect();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&golden);
        for f in &files {
            let p = golden.join(&f.path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, &f.bytes).unwrap();
        }
    }
    let mut on_disk = Vec::new();
    let mut stack = vec![golden.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(&golden)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                on_disk.push(rel);
            }
        }
    }
    on_disk.sort();
    let mut made: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    made.sort();
    assert_eq!(
        made, on_disk,
        "the report has other files than the golden copy"
    );
    for f in &files {
        let want = std::fs::read(golden.join(&f.path)).unwrap();
        assert!(
            want == f.bytes,
            "{} differs from its golden copy (UPDATE_GOLDEN=1 cargo test -p ccaas-report rewrites them)",
            f.path
        );
    }
}

#[test]
fn the_style_sheet_and_script_are_published_as_committed_and_every_page_loads_them() {
    for lines_per_page in [0, 7] {
        let opts = Options {
            lines_per_page,
            ..Options::default()
        };
        let files = render(&fixture(), &opts, &fixture_source);
        for (name, content_type) in [
            ("report.css", "text/css; charset=utf-8"),
            ("report.js", "text/javascript; charset=utf-8"),
        ] {
            let published: Vec<&OutFile> =
                files.iter().filter(|f| f.path.ends_with(name)).collect();
            assert_eq!(published.len(), 1, "{name} is published once");
            assert_eq!(published[0].path, name, "{name} is at the report's root");
            assert_eq!(published[0].content_type, content_type, "{name}");
            assert!(
                published[0].bytes == committed_asset(name),
                "the published {name} differs from assets/{name}"
            );
        }
        let pages: Vec<&OutFile> = files.iter().filter(|f| f.path.ends_with(".html")).collect();
        assert!(pages.len() > 3, "only {} pages", pages.len());
        for page in pages {
            let up = "../".repeat(page.path.matches('/').count());
            let html = String::from_utf8_lossy(&page.bytes);
            for tag in [
                format!(r#"<link rel="stylesheet" href="{up}report.css">"#),
                format!(r#"<script defer src="{up}report.js"></script>"#),
            ] {
                assert!(html.contains(&tag), "{} lacks {tag}", page.path);
            }
        }
    }
}

#[test]
fn the_pages_carry_what_the_script_and_the_style_sheet_act_on() {
    let js = String::from_utf8(committed_asset("report.js")).unwrap();
    let css = String::from_utf8(committed_asset("report.css")).unwrap();
    let opts = Options {
        lines_per_page: 7,
        ..Options::default()
    };
    let files = render(&fixture(), &opts, &fixture_source);
    let html: Vec<String> = files
        .iter()
        .filter(|f| f.path.ends_with(".html"))
        .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
        .collect();
    // What the script looks for, and the markup in the pages that it finds.
    for (in_script, in_pages) in [
        ("table.sortable th button", r#"<table class="t sortable""#),
        (".blk>.s", r#"<div class="m s" id="L"#),
        (".tools", r#"<div class="tools""#),
        (
            "button[data-jump]",
            r#"<button type="button" data-jump="1""#,
        ),
        (r#""data-next""#, "<body data-next=\""),
        (r#""data-prev""#, " data-prev=\""),
    ] {
        assert!(
            js.contains(in_script),
            "report.js no longer uses {in_script}"
        );
        assert!(
            html.iter().any(|h| h.contains(in_pages)),
            "no page has {in_pages}, which report.js acts on through {in_script}"
        );
    }
    // A block of source lines reserves its height before it is laid out: the style sheet's
    // line height (`.blk>div`) times its lines, or `.blk`'s default for a full block.
    let rule = |selector: &str| {
        css.split_once(&format!("\n{selector}{{"))
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(body, _)| body.to_string())
            .unwrap_or_else(|| panic!("report.css has no {selector} rule"))
    };
    let px = |v: &str| -> usize {
        v.trim_end_matches("px")
            .parse()
            .unwrap_or_else(|_| panic!("not a pixel size: {v}"))
    };
    let line_px = rule(".blk>div")
        .split(';')
        .find_map(|d| d.strip_prefix("height:"))
        .map(px)
        .expect(".blk>div has a height");
    let full_block_px = rule(".blk")
        .split(';')
        .find_map(|d| d.strip_prefix("contain-intrinsic-size:auto "))
        .map(px)
        .expect(".blk has an intrinsic size");
    let mut blocks = 0;
    for h in &html {
        for block in h.split(r#"<div class="blk""#).skip(1) {
            let (open, inner) = block.split_once('>').unwrap();
            let lines = inner.matches(r#" id="L"#).count();
            let reserved = match open.strip_prefix(r#" style="contain-intrinsic-size:auto "#) {
                Some(v) => px(v.trim_end_matches('"')),
                None => full_block_px,
            };
            assert_eq!(
                reserved,
                lines * line_px,
                "a block of {lines} lines: {open}"
            );
            blocks += 1;
        }
    }
    assert!(blocks > 3, "only {blocks} blocks checked");
}

#[test]
fn two_renders_of_the_same_input_give_the_same_bytes() {
    let cov = fixture();
    let opts = Options {
        facts: Some(Facts {
            device: Some("bigip-1".into()),
            warnings: vec!["w1".into(), "w2".into()],
            ..Facts::default()
        }),
        lines_per_page: 9,
        ..Options::default()
    };
    let a = render(&cov, &opts, &fixture_source);
    let b = render(&cov, &opts, &fixture_source);
    assert_eq!(a, b);
}

#[test]
fn render_each_emits_the_same_files_with_index_html_last() {
    let cov = fixture();
    let opts = Options::default();
    let all = render(&cov, &opts, &fixture_source);
    let got = std::sync::Mutex::new(Vec::new());
    render_each(&cov, &opts, &fixture_source, &|f| {
        got.lock().unwrap().push(f)
    });
    let got = got.into_inner().unwrap();
    assert_eq!(got.last().map(|f| f.path.as_str()), Some("index.html"));
    assert_eq!(all.last().map(|f| f.path.as_str()), Some("index.html"));
    assert_eq!(by_path(&all), by_path(&got));
}

/// Keeps what `write_report` hands over, in arrival order; fails pages whose path is `fail`.
struct Kept {
    files: std::sync::Mutex<Vec<OutFile>>,
    fail: &'static str,
}

impl ReportSink for Kept {
    type Error = String;

    fn data(&self, file: DataFile, cov: &Coverage, timestamp: u64) -> Result<(), String> {
        let mut bytes = Vec::new();
        file.write(cov, timestamp, &mut bytes)
            .map_err(|e| e.to_string())?;
        self.page(OutFile {
            path: file.name().into(),
            bytes,
            content_type: file.content_type(),
        })
    }

    fn page(&self, file: OutFile) -> Result<(), String> {
        if file.path == self.fail {
            return Err(format!("cannot keep {}", file.path));
        }
        self.files.lock().unwrap().push(file);
        Ok(())
    }
}

#[test]
fn write_report_gives_the_engines_data_files_then_the_pages_with_index_html_last() {
    let cov = fixture();
    let opts = Options::default();
    let kept = Kept {
        files: std::sync::Mutex::new(Vec::new()),
        fail: "",
    };
    write_report(&cov, 1_700_000_000, &opts, &fixture_source, &kept).unwrap();
    let got = kept.files.into_inner().unwrap();
    let names: Vec<&str> = got[..4].iter().map(|f| f.path.as_str()).collect();
    for d in DataFile::ALL {
        assert!(
            names.contains(&d.name()),
            "{} not among the first four",
            d.name()
        );
    }
    let mut lcov = Vec::new();
    ccaas_gcov::lcov::write(&cov, "", &mut lcov).unwrap();
    let mut cobertura = Vec::new();
    ccaas_gcov::cobertura::write(&cov, 1_700_000_000, &mut cobertura).unwrap();
    let by = by_path(&got);
    assert_eq!(by["coverage.info"].bytes, lcov);
    assert_eq!(by["cobertura.xml"].bytes, cobertura);
    assert_eq!(by["cobertura.xml"].content_type, "application/xml");
    assert_eq!(got.last().map(|f| f.path.as_str()), Some("index.html"));
    let pages = render(&cov, &opts, &fixture_source);
    assert_eq!(got.len(), pages.len() + 4);
    for p in &pages {
        assert_eq!(by[p.path.as_str()], p, "{}", p.path);
    }
}

#[test]
fn write_report_returns_the_sinks_first_error() {
    let kept = Kept {
        files: std::sync::Mutex::new(Vec::new()),
        fail: "index.html",
    };
    let e = write_report(&fixture(), 0, &Options::default(), &NoSources, &kept).unwrap_err();
    assert_eq!(e, "cannot keep index.html");
}

#[test]
fn every_relative_link_and_anchor_of_the_fixture_report_resolves() {
    for lines_per_page in [0, 5000, 7] {
        let opts = Options {
            lines_per_page,
            ..Options::default()
        };
        let files = render(&fixture(), &opts, &fixture_source);
        assert_eq!(broken_links(&files), Vec::<(String, String)>::new());
        let links: usize = files
            .iter()
            .map(|f| common::links(&String::from_utf8_lossy(&f.bytes)).len())
            .sum();
        assert!(links > 50, "only {links} links: the checker saw nothing");
    }
}

#[test]
fn long_files_are_split_into_parts_that_link_to_each_other() {
    let cov = fixture();
    let opts = Options {
        lines_per_page: 7,
        ..Options::default()
    };
    let files = render(&cov, &opts, &fixture_source);
    let tricky = cov
        .files
        .keys()
        .position(|p| p.ends_with("tricky.c"))
        .unwrap();
    let parts = files
        .iter()
        .filter(|f| f.path.starts_with(&format!("f/{tricky}")))
        .count();
    let lines = fixture_source(cov.files.keys().nth(tricky).unwrap())
        .unwrap()
        .split(|&b| b == b'\n')
        .count();
    assert!(parts >= lines / 7, "{parts} parts for {lines} lines");
    let second = text(&files, &format!("f/{tricky}-1.html"));
    assert!(second.contains(&format!("href=\"{tricky}.html\"")));
    assert!(second.contains("id=\"L8\""));
    assert!(!second.contains("id=\"L7\""));
}

#[test]
fn the_numbers_on_the_pages_are_the_engines_numbers() {
    let cov = fixture();
    let files = render(&cov, &Options::default(), &fixture_source);
    let row = |name: &str, c: Counter| {
        format!(
            "<th scope=\"row\">{name}</th><td>{}</td><td>{}</td>",
            c.hit, c.total
        )
    };
    let index = text(&files, "index.html");
    let t = cov.totals;
    assert!(t.lines.total > 0 && t.branches.total > 0 && t.functions.total > 0);
    for (name, c) in [
        ("Lines", t.lines),
        ("Functions", t.functions),
        ("Branches", t.branches),
    ] {
        assert!(index.contains(&row(name, c)), "index lacks {name} {c:?}");
    }
    for (i, (path, fc)) in cov.files.iter().enumerate() {
        let page = text(&files, &format!("f/{i}.html"));
        let ft = fc.totals;
        for (name, c) in [
            ("Lines", ft.lines),
            ("Functions", ft.functions),
            ("Branches", ft.branches),
        ] {
            assert!(page.contains(&row(name, c)), "{path} lacks {name} {c:?}");
        }
        // The file table of the index shows hit / total and the missed lines.
        let cell = format!(
            "<td data-v=\"{}\">{} / {}</td><td data-v=\"{m}\">{m}</td>",
            ft.lines.total,
            ft.lines.hit,
            ft.lines.total,
            m = ft.lines.total - ft.lines.hit
        );
        assert!(index.contains(&cell), "index row of {path} lacks {cell}");
        // Every instrumented line shows its count.
        for l in &fc.lines {
            let want = format!(
                "id=\"L{}\"><a href=\"#L{0}\">{0}</a><span class=\"c\">{}</span>",
                l.line, l.count
            );
            assert!(
                page.contains(&want),
                "{path}:{} lacks count {}",
                l.line,
                l.count
            );
        }
        // Every executed line with branches shows each branch's count on hover.
        for l in fc.lines.iter().filter(|l| l.count > 0 && l.branches.1 > 0) {
            let counts: Vec<String> = fc.branches_of(l).iter().map(|c| c.to_string()).collect();
            let want = format!("times taken: {}\"", counts.join(" "));
            assert!(page.contains(&want), "{path}:{} lacks {want}", l.line);
        }
        for f in &fc.functions {
            assert!(page.contains(&format!("data-v=\"{}\">", f.count)));
        }
    }
}

fn hostile() -> Coverage {
    let evil = "<script>alert(1)</script>";
    let mut fc = FileCoverage {
        lines: vec![
            LineCoverage {
                line: 1,
                count: 0,
                branches: (0, 2),
                unexecuted_block: false,
            },
            LineCoverage {
                line: 2,
                count: 3,
                branches: (2, 2),
                unexecuted_block: true,
            },
        ],
        branches: vec![0, 0, 1, 0],
        functions: vec![FunctionCoverage {
            name: format!("{evil}\"'&<img src=x onerror=alert(2)>"),
            start_line: 1,
            start_column: 0,
            end_line: 2,
            end_column: 0,
            count: 0,
        }],
        totals: Default::default(),
    };
    fc.compute_totals();
    let mut cov = Coverage::default();
    cov.files
        .insert(format!("/src/{evil}/{evil}.c"), fc.clone());
    cov.files.insert(format!("{evil}.c"), fc);
    cov.compute_totals();
    cov
}

#[test]
fn hostile_paths_function_names_source_text_and_facts_render_as_text() {
    let cov = hostile();
    let opts = Options {
        title: "<script>alert(3)</script>".into(),
        facts: Some(Facts {
            device: Some("<script>alert(4)</script>".into()),
            build: Some("\"><script>alert(5)</script>".into()),
            modules: vec!["<b>tmm</b>".into()],
            started: Some("<i>".into()),
            ended: Some("</html>".into()),
            warnings: vec!["<script>alert(6)</script>".into()],
        }),
        ..Options::default()
    };
    let src = |_: &str| {
        Some(
            b"int x; /* <script>alert(7)</script> */\n</code></div><script>alert(8)</script>\n"
                .to_vec(),
        )
    };
    let files = render(&cov, &opts, &src);
    let mut seen_escaped = 0;
    for f in &files {
        let s = String::from_utf8_lossy(&f.bytes);
        assert!(
            !s.contains("<script>alert"),
            "{} has a live script tag",
            f.path
        );
        assert!(!s.contains("<img"), "{} has a live img tag", f.path);
        assert!(!s.contains("<b>tmm"), "{} has a live b tag", f.path);
        seen_escaped += s.matches("&lt;script&gt;alert(").count();
        assert!(
            f.path
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"./-".contains(&b)),
            "unsafe output path {}",
            f.path
        );
    }
    // The escaped text is there to read: title, facts, warnings, paths, names and source.
    let index = text(&files, "index.html");
    for n in 3..=6 {
        assert!(
            index.contains(&format!("&lt;script&gt;alert({n})&lt;/script&gt;")),
            "alert({n})"
        );
    }
    let page = text(&files, "f/0.html");
    assert!(page.contains("&lt;script&gt;alert(7)&lt;/script&gt;"));
    assert!(page.contains("&lt;/code&gt;&lt;/div&gt;&lt;script&gt;alert(8)"));
    assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(seen_escaped > 10);
    assert_eq!(broken_links(&files), Vec::<(String, String)>::new());
}

#[test]
fn a_missing_source_lists_the_instrumented_lines_and_says_so() {
    let cov = fixture();
    let files = render(&cov, &Options::default(), &NoSources);
    let (path, fc) = cov.files.iter().next().unwrap();
    let page = text(&files, "f/0.html");
    assert!(page.contains("source file was not available"), "{path}");
    assert_eq!(page.matches("<span class=\"c\">").count(), fc.lines.len());
}

#[test]
fn an_empty_model_gives_an_index_that_says_so() {
    let files = render(&Coverage::default(), &Options::default(), &NoSources);
    let index = text(&files, "index.html");
    assert!(index.contains("No source files were covered."));
    assert_eq!(files.len(), 3);
}

fn arb_model() -> impl Strategy<Value = Coverage> {
    let path =
        prop::string::string_regex("(/|\\.\\./|[a-z<>&\" ]{0,3}/){0,4}[a-z<>&\"\\.]{0,5}").unwrap();
    let file = (
        prop::collection::vec(
            (0u32..400, any::<u64>(), 0u32..6, 0u32..5, any::<bool>()),
            0..30,
        ),
        prop::collection::vec(0u64..3, 0..20),
        prop::collection::vec((".{0,8}", 0u32..500, 0u64..3), 0..4),
    )
        .prop_map(|(lines, branches, funcs)| {
            let mut lines: Vec<LineCoverage> = lines
                .into_iter()
                .map(|(line, count, s, n, u)| LineCoverage {
                    line,
                    count: count % 4,
                    branches: (s, n),
                    unexecuted_block: u,
                })
                .collect();
            lines.sort_by_key(|l| l.line);
            lines.dedup_by_key(|l| l.line);
            let mut fc = FileCoverage {
                lines,
                branches,
                functions: funcs
                    .into_iter()
                    .map(|(name, start_line, count)| FunctionCoverage {
                        name,
                        start_line,
                        start_column: 0,
                        end_line: start_line,
                        end_column: 0,
                        count,
                    })
                    .collect(),
                totals: Default::default(),
            };
            fc.compute_totals();
            fc
        });
    prop::collection::btree_map(path, file, 0..6).prop_map(|files| {
        let mut cov = Coverage {
            files,
            totals: Default::default(),
        };
        cov.compute_totals();
        cov
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_models_render_without_panics_and_with_working_links(
        cov in arb_model(),
        lpp in 0usize..50,
        src in prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
    ) {
        let opts = Options { lines_per_page: lpp, ..Options::default() };
        let files = render(&cov, &opts, &|_: &str| src.clone());
        prop_assert_eq!(broken_links(&files), Vec::<(String, String)>::new());
        prop_assert!(files.iter().any(|f| f.path == "index.html"));
    }
}

fn entry(id: &str, hit: u64) -> ccaas_report::SiteEntry {
    ccaas_report::SiteEntry {
        id: id.into(),
        when: Some(format!("when {id}")),
        totals: ccaas_gcov::Totals {
            lines: Counter { hit, total: 10 },
            ..Default::default()
        },
    }
}

#[test]
fn the_site_index_lists_reports_newest_first_once_each_whatever_the_input_order() {
    let a = vec![entry("01A", 1), entry("01C", 9), entry("01B", 5)];
    let b = vec![
        entry("01B", 5),
        entry("01A", 1),
        entry("01C", 9),
        entry("01C", 9),
    ];
    let page = ccaas_report::site_index(&a);
    assert_eq!(page, ccaas_report::site_index(&b));
    let s = String::from_utf8(page).unwrap();
    let pos = |id: &str| {
        s.find(&format!("href=\"reports/{id}/index.html\""))
            .unwrap()
    };
    assert!(pos("01C") < pos("01B") && pos("01B") < pos("01A"));
    assert_eq!(s.matches("reports/01C/index.html").count(), 1);
    assert!(s.contains("9 / 10") && s.contains("90.0%") && s.contains("10.0%"));
    assert!(s.contains("class=\"hi\"") && s.contains("class=\"lo\""));
}

#[test]
fn the_site_index_never_uses_colour_alone_low_cells_are_hatched_and_a_legend_names_the_scale() {
    let s = String::from_utf8(ccaas_report::site_index(&[entry("01A", 1)])).unwrap();
    let style = &s[s.find("<style>").unwrap()..s.find("</style>").unwrap()];
    let lo_rule = style
        .split('}')
        .find(|r| r.starts_with(".lo{") || r.contains("}.lo{"))
        .unwrap_or_else(|| panic!("no .lo rule in {style}"));
    assert!(lo_rule.contains("repeating-linear-gradient"), "{lo_rule}");
    assert!(s.contains("class=\"legend\""));
    assert!(s.contains("low (hatched)") && s.contains("high") && s.contains("medium"));
}

#[test]
fn the_site_index_escapes_ids_and_keeps_links_inside_the_site() {
    let s = String::from_utf8(ccaas_report::site_index(&[entry(
        "\"><script>alert(1)</script>/../../x",
        1,
    )]))
    .unwrap();
    assert!(!s.contains("<script>alert"));
    assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(s.contains("href=\"reports/scriptalert1scriptx/index.html\""));
    let empty = String::from_utf8(ccaas_report::site_index(&[])).unwrap();
    assert!(empty.contains("No reports yet."));
}
