//! Helpers of the report tests: the committed gcc 12 fixture of the gcov engine, and a link
//! checker over a rendered report.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ccaas_gcov::{Coverage, Input, Options, build};
use ccaas_report::OutFile;

/// The gcov engine's test data.
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gcov/tests/data")
}

/// The model of the gcc 12 fixture (`other.c`, `tricky.c`, `tricky.h`), built by the engine.
pub fn fixture() -> Coverage {
    model_of(&data().join("gcc12"), &["other", "tricky"])
}

/// The engine's model of the `<stem>.gcno`/`<stem>.gcda` pairs in `dir`; fails the test on
/// an error or a warning.
pub fn model_of(dir: &Path, stems: &[&str]) -> Coverage {
    let mut files = Vec::new();
    for stem in stems {
        let n = std::fs::read(dir.join(format!("{stem}.gcno"))).unwrap();
        let a = std::fs::read(dir.join(format!("{stem}.gcda"))).unwrap();
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

/// Reads a fixture source by the last component of its model path.
pub fn fixture_source(path: &str) -> Option<Vec<u8>> {
    let name = path.rsplit('/').next()?;
    std::fs::read(data().join("src").join(name)).ok()
}

/// Every `href="…"`/`src="…"` value of an HTML page.
pub fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\"", "data-next=\"", "data-prev=\""] {
        let mut rest = html;
        while let Some(p) = rest.find(attr) {
            rest = &rest[p + attr.len()..];
            if let Some(e) = rest.find('"') {
                out.push(rest[..e].replace("&amp;", "&"));
                rest = &rest[e..];
            }
        }
    }
    out
}

/// Every `id="…"` of a page.
pub fn ids(html: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = html;
    while let Some(p) = rest.find(" id=\"") {
        rest = &rest[p + 5..];
        if let Some(e) = rest.find('"') {
            out.insert(rest[..e].to_string());
        }
    }
    out
}

/// Resolves `link` found on page `from` (both report-relative); `None` if it leaves the
/// report or is absolute.
pub fn resolve(from: &str, link: &str) -> Option<String> {
    if link.contains("://") || link.starts_with('/') || link.starts_with("//") {
        return None;
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in link.split('/') {
        match seg {
            ".." => {
                parts.pop()?;
            }
            "." | "" => {}
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// Every broken link of a report: `(page, link)` for links to missing files or anchors.
pub fn broken_links(files: &[OutFile]) -> Vec<(String, String)> {
    let pages: BTreeMap<&str, String> = files
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                String::from_utf8_lossy(&f.bytes).into_owned(),
            )
        })
        .collect();
    let anchors: BTreeMap<&str, BTreeSet<String>> =
        pages.iter().map(|(p, h)| (*p, ids(h))).collect();
    let mut bad = Vec::new();
    for (page, html) in pages.iter().filter(|(p, _)| p.ends_with(".html")) {
        for link in links(html) {
            let (target, frag) = match link.split_once('#') {
                Some((t, f)) => (t.to_string(), Some(f.to_string())),
                None => (link.clone(), None),
            };
            let resolved = if target.is_empty() {
                Some(page.to_string())
            } else {
                resolve(page, &target)
            };
            let ok = resolved.as_deref().is_some_and(|r| {
                anchors
                    .get(r)
                    .is_some_and(|a| frag.as_ref().is_none_or(|f| a.contains(f)))
            });
            if !ok {
                bad.push((page.to_string(), link));
            }
        }
    }
    bad
}
