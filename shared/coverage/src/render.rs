//! Stage 2's pure part: unpacked coverage files in, report files out (gcov engine, its writers
//! and the `ccaas-report` HTML pages). The same input gives the same bytes: inputs are walked in path order and
//! the Cobertura timestamp is the caller's (the task's creation time), never the clock.

use ccaas_gcov::{Coverage, Input, Options, Totals};

use crate::CoverageError;
use crate::unpack::Unpacked;

/// Most warnings kept in a task result; the rest are counted in one last warning, so a broken
/// build cannot blow the task item's size.
pub const MAX_WARNINGS: usize = 50;

/// One report file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFile {
    /// Relative path inside `reports/<task-id>/`.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Its HTTP content type.
    pub content_type: &'static str,
}

/// What [`render`] produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Every file; `index.html` is the last one, so publishing in order links nothing
    /// half-written.
    pub files: Vec<ReportFile>,
    /// Line, function and branch totals.
    pub totals: Totals,
    /// Engine warnings (unreadable or mismatched files, data without notes).
    pub warnings: Vec<String>,
}

/// Facts shown on the index page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageFacts {
    /// Device key.
    pub device: String,
    /// Build id.
    pub build: String,
    /// Modules.
    pub modules: Vec<String>,
    /// Session start, RFC 3339.
    pub started: String,
    /// Session end, RFC 3339.
    pub ended: String,
    /// Collection warnings (restarts, cores), as sentences.
    pub warnings: Vec<String>,
}

/// Runs the engine on the unpacked files and writes the report. CPU-bound: call it from a
/// blocking thread. Errors: [`CoverageError::Report`] when no coverage could be read at all.
pub fn render(
    unpacked: &Unpacked,
    facts: &PageFacts,
    timestamp: u64,
) -> Result<Rendered, CoverageError> {
    let mut warnings = Vec::new();
    for d in unpacked.data.keys() {
        let notes = format!("{}.gcno", d.trim_end_matches(".gcda"));
        if !unpacked.notes.contains_key(&notes) {
            warnings.push(format!("{d}: no notes (.gcno) beside it; skipped"));
        }
    }
    let data: Vec<Vec<(&str, &[u8])>> = unpacked
        .notes
        .keys()
        .map(|n| {
            let d = format!("{}.gcda", n.trim_end_matches(".gcno"));
            unpacked
                .data
                .get_key_value(&d)
                .map(|(k, v)| vec![(k.as_str(), v.as_slice())])
                .unwrap_or_default()
        })
        .collect();
    let inputs: Vec<Input<'_>> = unpacked
        .notes
        .iter()
        .zip(&data)
        .map(|((name, notes), data)| Input {
            notes_name: name,
            notes,
            data,
        })
        .collect();
    let (cov, engine_warnings) = ccaas_gcov::build(&inputs, &Options::default())
        .map_err(|e| CoverageError::Report(e.to_string()))?;
    warnings.extend(engine_warnings.into_iter().map(|w| w.message));
    if cov.files.is_empty() {
        return Err(CoverageError::Report(format!(
            "no coverage data could be read ({} notes, {} data files)",
            unpacked.notes.len(),
            unpacked.data.len()
        )));
    }
    let files = write_files(&cov, facts, &warnings, timestamp)?;
    Ok(Rendered {
        files,
        totals: cov.totals,
        warnings,
    })
}

fn write_files(
    cov: &Coverage,
    facts: &PageFacts,
    warnings: &[String],
    timestamp: u64,
) -> Result<Vec<ReportFile>, CoverageError> {
    let err = |e: ccaas_gcov::Error| CoverageError::Report(e.to_string());
    let mut lcov = Vec::new();
    ccaas_gcov::lcov::write(cov, "", &mut lcov).map_err(err)?;
    let mut cobertura = Vec::new();
    ccaas_gcov::cobertura::write(cov, timestamp, &mut cobertura).map_err(err)?;
    let mut summary = Vec::new();
    ccaas_gcov::summary::write(cov, &mut summary).map_err(err)?;
    let mut badge = Vec::new();
    ccaas_gcov::badge::write(cov, &mut badge).map_err(err)?;
    let mut files = vec![
        ReportFile {
            name: "coverage.info".into(),
            bytes: lcov,
            content_type: "text/plain; charset=utf-8",
        },
        ReportFile {
            name: "cobertura.xml".into(),
            bytes: cobertura,
            content_type: "application/xml",
        },
        ReportFile {
            name: "summary.json".into(),
            bytes: summary,
            content_type: "application/json",
        },
        ReportFile {
            name: "badge.svg".into(),
            bytes: badge,
            content_type: "image/svg+xml",
        },
    ];
    let opts = ccaas_report::Options {
        title: "Coverage report".into(),
        facts: Some(ccaas_report::Facts {
            device: Some(facts.device.clone()),
            build: Some(facts.build.clone()),
            modules: facts.modules.clone(),
            started: Some(facts.started.clone()),
            ended: Some(facts.ended.clone()),
            warnings: facts.warnings.iter().chain(warnings).cloned().collect(),
        }),
        ..ccaas_report::Options::default()
    };
    // No sources are collected from the device: the pages list the instrumented lines.
    let pages = ccaas_report::render(cov, &opts, &ccaas_report::NoSources);
    let (index, rest): (Vec<_>, Vec<_>) = pages.into_iter().partition(|f| f.path == "index.html");
    for f in rest.into_iter().chain(index) {
        files.push(ReportFile {
            name: f.path,
            bytes: f.bytes,
            content_type: f.content_type,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn fixture() -> Unpacked {
        let mut u = Unpacked::default();
        u.notes.insert(
            "tmm/b/tricky.gcno".into(),
            include_bytes!("../../gcov/tests/data/gcc12/tricky.gcno").to_vec(),
        );
        u.data.insert(
            "tmm/b/tricky.gcda".into(),
            include_bytes!("../../gcov/tests/data/gcc12/tricky.gcda").to_vec(),
        );
        u.notes.insert(
            "mcpd/b/other.gcno".into(),
            include_bytes!("../../gcov/tests/data/gcc12/other.gcno").to_vec(),
        );
        u
    }

    #[test]
    fn the_same_input_gives_the_same_bytes_and_index_html_comes_last() {
        let facts = PageFacts {
            device: "<script>".into(),
            ..PageFacts::default()
        };
        let a = render(&fixture(), &facts, 1_700_000_000).unwrap();
        let b = render(&fixture(), &facts, 1_700_000_000).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.files.last().map(|f| f.name.as_str()), Some("index.html"));
        assert!(a.totals.lines.total > 0 && a.totals.lines.hit > 0);
        assert!(
            a.totals.lines.hit < a.totals.lines.total,
            "other.c never ran"
        );
        let index = String::from_utf8(a.files.last().unwrap().bytes.clone()).unwrap();
        assert!(index.contains("&lt;script&gt;"), "facts are shown, escaped");
        for name in [
            "coverage.info",
            "cobertura.xml",
            "summary.json",
            "badge.svg",
        ] {
            assert!(a.files.iter().any(|f| f.name == name), "{name}");
        }
    }

    #[test]
    fn data_without_notes_is_a_warning_and_no_notes_at_all_is_an_error() {
        let mut u = fixture();
        u.data.insert("bd/x/lost.gcda".into(), b"junk".to_vec());
        let r = render(&u, &PageFacts::default(), 0).unwrap();
        assert!(r.warnings.iter().any(|w| w.contains("bd/x/lost.gcda")));
        u.notes.clear();
        assert!(matches!(
            render(&u, &PageFacts::default(), 0),
            Err(CoverageError::Report(_))
        ));
    }
}
