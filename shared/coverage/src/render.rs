//! Stage 2's pure part: unpacked coverage files (and a build's published notes and sources) in,
//! report files out (the gcov engine, then `ccaas_report::write_report`: its data files and
//! HTML pages, the same step as `ccaas report`). The same
//! input gives the same bytes: inputs are walked in path order and the Cobertura timestamp is
//! the caller's (the task's creation time), never the clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use ccaas_gcov::{Coverage, Input, Options, Totals};
use ccaas_report::{DataFile, OutFile, ReportSink};

use crate::CoverageError;
use crate::paths::{Found, SuffixIndex, components};
use crate::unpack::Unpacked;

/// Most warnings kept in a task result; the rest are counted in one last warning, so a broken
/// build cannot blow the task item's size.
pub const MAX_WARNINGS: usize = 50;

/// A warning of the render stage, with a stable code for the task result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderWarning {
    /// `notes_missing`, `notes_ambiguous`, `notes_mismatch`, `sources_unusable` or `engine`.
    pub code: &'static str,
    /// A sentence for people, naming the files.
    pub message: String,
}

impl RenderWarning {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        RenderWarning {
            code,
            message: message.into(),
        }
    }
}

/// What [`render`] produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Every file; `index.html` is the last one, so publishing in order links nothing
    /// half-written.
    pub files: Vec<OutFile>,
    /// Line, function and branch totals.
    pub totals: Totals,
    /// Warnings (data without notes, notes of another build, unreadable files, unusable
    /// sources).
    pub warnings: Vec<RenderWarning>,
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

/// The notes a build published (`builds/<build-id>/notes.tar.gz`), for the `.gcda` that have
/// no `.gcno` beside them on the device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildNotes {
    /// The device's build id; `None` when unknown.
    pub build: Option<String>,
    /// The published `.gcno` files by path (relative to the published directory); `None` when
    /// the build published none (or they were not needed).
    pub notes: Option<BTreeMap<String, Vec<u8>>>,
}

impl BuildNotes {
    /// The key of the build's notes, for messages.
    pub fn key(&self) -> String {
        match &self.build {
            Some(b) => format!("builds/{b}/notes.tar.gz"),
            None => "builds/<unknown build>/notes.tar.gz".into(),
        }
    }

    fn publish_hint(&self) -> String {
        let b = self.build.as_deref().unwrap_or("<build-id>");
        format!(
            "publish the build's notes with `ccaas build publish DIR --build {b}` (DIR: the build's output directory, where its .gcno files are)"
        )
    }
}

/// The notes file of the data file `d`, beside it.
fn notes_beside(d: &str) -> String {
    format!("{}.gcno", d.strip_suffix(".gcda").unwrap_or(d))
}

fn is_mismatch(e: &ccaas_gcov::Error) -> bool {
    use ccaas_gcov::Error as E;
    matches!(
        e,
        E::StampMismatch { .. }
            | E::ChecksumMismatch { .. }
            | E::VersionMismatch { .. }
            | E::FunctionMismatch { .. }
    )
}

/// Pairs every `.gcda` with its notes and runs the engine. The notes of a `.gcda` are the
/// `.gcno` beside it in the raw archive, else the one of the build's published notes whose
/// path fits it best (see [`crate::paths`], comparing paths without extension); the device's
/// notes are all reported (units that never ran show as zero), the published ones only when a
/// `.gcda` pairs with them (the build holds every daemon's notes, the session only its
/// modules'). CPU-bound.
///
/// Errors: [`CoverageError::NotesMissing`] when no `.gcda` has notes,
/// [`CoverageError::NotesMismatch`] when none matches its notes (stamp, checksum, version),
/// [`CoverageError::Report`] when nothing could be read at all.
pub fn model(
    unpacked: &Unpacked,
    build: &BuildNotes,
) -> Result<(Coverage, Vec<RenderWarning>), CoverageError> {
    let mut warnings = Vec::new();
    let key = build.key();
    type Group<'a> = (&'a [u8], Vec<(&'a str, &'a [u8])>);
    let mut groups: BTreeMap<String, Group<'_>> = unpacked
        .notes
        .iter()
        .map(|(n, b)| (n.clone(), (b.as_slice(), Vec::new())))
        .collect();
    let published = build.notes.as_ref().map(|notes| {
        let stems = notes.keys().map(|k| k.strip_suffix(".gcno").unwrap_or(k));
        (notes, SuffixIndex::new(stems))
    });
    let mut paired = 0usize;
    for (d, bytes) in &unpacked.data {
        let beside = notes_beside(d);
        if let Some(g) = groups
            .get_mut(&beside)
            .filter(|_| unpacked.notes.contains_key(&beside))
        {
            g.1.push((d.as_str(), bytes.as_slice()));
            paired += 1;
            continue;
        }
        let Some((notes, index)) = &published else {
            let why = if build.build.is_some() {
                format!(", and {key} is not published")
            } else {
                String::new()
            };
            warnings.push(RenderWarning::new(
                "notes_missing",
                format!("{d}: no notes (.gcno) beside it{why}; skipped"),
            ));
            continue;
        };
        let stem = d.strip_suffix(".gcda").unwrap_or(d);
        match index.find(stem) {
            Found::One(s) => {
                let path = format!("{s}.gcno");
                let Some(nb) = notes.get(&path) else {
                    continue;
                };
                let name = format!("{path} in {key}");
                groups
                    .entry(name)
                    .or_insert_with(|| (nb.as_slice(), Vec::new()))
                    .1
                    .push((d.as_str(), bytes.as_slice()));
                paired += 1;
            }
            Found::None => warnings.push(RenderWarning::new(
                "notes_missing",
                format!("{d}: no notes (.gcno) beside it nor in {key}; skipped"),
            )),
            Found::Ambiguous(v) => warnings.push(RenderWarning::new(
                "notes_ambiguous",
                format!(
                    "{d}: no notes beside it, and {key} holds several that fit it equally well ({}); skipped",
                    v.iter()
                        .map(|s| format!("{s}.gcno"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
    if paired == 0 && !unpacked.data.is_empty() {
        let n = unpacked.data.len();
        let message = match &build.notes {
            Some(notes) => format!(
                "none of the {n} .gcda files has notes: the device keeps no .gcno beside them, and none of the {} .gcno in {key} fits their paths; {}",
                notes.len(),
                build.publish_hint()
            ),
            None if build.build.is_some() => format!(
                "the device keeps no .gcno beside its {n} .gcda files, and {key} is not published; {}",
                build.publish_hint()
            ),
            None => format!(
                "the device keeps no .gcno beside its {n} .gcda files, and its build id is unknown"
            ),
        };
        return Err(CoverageError::NotesMissing(message));
    }
    let inputs: Vec<Input<'_>> = groups
        .iter()
        .map(|(name, (notes, data))| Input {
            notes_name: name,
            notes,
            data,
        })
        .collect();
    let (cov, engine_warnings) = ccaas_gcov::build(&inputs, &Options::default())
        .map_err(|e| CoverageError::Report(e.to_string()))?;
    let mut mismatched = BTreeSet::new();
    let mut first = None;
    for w in engine_warnings {
        if w.error.as_ref().is_some_and(is_mismatch) {
            mismatched.insert(w.input.clone());
            first.get_or_insert_with(|| w.message.clone());
            warnings.push(RenderWarning::new("notes_mismatch", w.message));
        } else {
            warnings.push(RenderWarning::new("engine", w.message));
        }
    }
    if paired > 0 && mismatched.len() >= paired {
        let b = build.build.as_deref().unwrap_or("<unknown>");
        return Err(CoverageError::NotesMismatch(format!(
            "none of the {paired} .gcda files matches its notes, so the notes are of another build than the one that ran (device build {b}): {}{}; {}",
            first.unwrap_or_default(),
            if paired > 1 {
                format!(" (and {} more)", paired - 1)
            } else {
                String::new()
            },
            build.publish_hint()
        )));
    }
    if cov.files.is_empty() {
        return Err(CoverageError::Report(format!(
            "no coverage data could be read ({} notes, {} data files)",
            unpacked.notes.len(),
            unpacked.data.len()
        )));
    }
    Ok((cov, warnings))
}

/// The file names (last path components) of the model's files: the only sources worth
/// unpacking from a build's `sources.tar.gz`.
pub fn source_names(cov: &Coverage) -> BTreeSet<String> {
    cov.files
        .keys()
        .filter_map(|p| components(p).last().map(|s| s.to_string()))
        .collect()
}

/// Runs the engine ([`model`]) and writes the report ([`write_report`]). CPU-bound: call it
/// from a blocking thread.
pub fn render(
    unpacked: &Unpacked,
    build: &BuildNotes,
    sources: &BTreeMap<String, Vec<u8>>,
    facts: &PageFacts,
    timestamp: u64,
) -> Result<Rendered, CoverageError> {
    let (cov, warnings) = model(unpacked, build)?;
    write_report(&cov, facts, warnings, sources, timestamp)
}

/// Writes the engine's files and the HTML pages of `cov`. The pages show the text of each
/// report file found in `sources` (by [`crate::paths`]' rule: the exact path, else the
/// longest unique suffix of path components); files without one list their instrumented
/// lines. The same input gives the same bytes.
pub fn write_report(
    cov: &Coverage,
    facts: &PageFacts,
    warnings: Vec<RenderWarning>,
    sources: &BTreeMap<String, Vec<u8>>,
    timestamp: u64,
) -> Result<Rendered, CoverageError> {
    let files = write_files(cov, facts, &warnings, sources, timestamp)?;
    Ok(Rendered {
        files,
        totals: cov.totals,
        warnings,
    })
}

fn write_files(
    cov: &Coverage,
    facts: &PageFacts,
    warnings: &[RenderWarning],
    sources: &BTreeMap<String, Vec<u8>>,
    timestamp: u64,
) -> Result<Vec<OutFile>, CoverageError> {
    let opts = ccaas_report::Options {
        title: "Coverage report".into(),
        facts: Some(ccaas_report::Facts {
            device: Some(facts.device.clone()),
            build: Some(facts.build.clone()),
            modules: facts.modules.clone(),
            started: Some(facts.started.clone()),
            ended: Some(facts.ended.clone()),
            warnings: facts
                .warnings
                .iter()
                .cloned()
                .chain(warnings.iter().map(|w| w.message.clone()))
                .collect(),
        }),
        ..ccaas_report::Options::default()
    };
    // Sources come from the build's published sources, never from the device.
    let index = SuffixIndex::new(sources.keys().map(String::as_str));
    let lookup = |path: &str| match index.find(path) {
        Found::One(k) => sources.get(k).cloned(),
        _ => None,
    };
    let kept = Kept(Mutex::new(Vec::new()));
    ccaas_report::write_report(cov, timestamp, &opts, &lookup, &kept)
        .map_err(|e| CoverageError::Report(e.to_string()))?;
    let mut files = kept.0.into_inner().unwrap_or_else(|p| p.into_inner());
    // Pages arrive in no fixed order: the data files first (in their order), then the pages
    // by path, `index.html` last, so the same input gives the same list.
    let rank = |f: &OutFile| {
        let data = DataFile::ALL.iter().position(|d| d.name() == f.path);
        (f.path == "index.html", data.is_none(), data)
    };
    files.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.path.cmp(&b.path)));
    Ok(files)
}

/// A [`ReportSink`] that keeps every file in memory, for the site.
struct Kept(Mutex<Vec<OutFile>>);

impl Kept {
    fn push(&self, f: OutFile) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(f);
    }
}

impl ReportSink for Kept {
    type Error = ccaas_gcov::Error;

    fn data(&self, file: DataFile, cov: &Coverage, timestamp: u64) -> Result<(), Self::Error> {
        let mut bytes = Vec::new();
        file.write(cov, timestamp, &mut bytes)?;
        self.push(OutFile {
            path: file.name().into(),
            bytes,
            content_type: file.content_type(),
        });
        Ok(())
    }

    fn page(&self, file: OutFile) -> Result<(), Self::Error> {
        self.push(file);
        Ok(())
    }
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
        let a = render(
            &fixture(),
            &BuildNotes::default(),
            &BTreeMap::new(),
            &facts,
            1_700_000_000,
        )
        .unwrap();
        let b = render(
            &fixture(),
            &BuildNotes::default(),
            &BTreeMap::new(),
            &facts,
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.files.last().map(|f| f.path.as_str()), Some("index.html"));
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
            assert!(a.files.iter().any(|f| f.path == name), "{name}");
        }
    }

    #[test]
    fn data_without_notes_is_a_warning_and_no_notes_at_all_is_notes_missing() {
        let mut u = fixture();
        u.data.insert("bd/x/lost.gcda".into(), b"junk".to_vec());
        let none = BTreeMap::new();
        let r = render(&u, &BuildNotes::default(), &none, &PageFacts::default(), 0).unwrap();
        assert!(
            r.warnings
                .iter()
                .any(|w| w.code == "notes_missing" && w.message.contains("bd/x/lost.gcda"))
        );
        u.notes.clear();
        assert!(matches!(
            render(&u, &BuildNotes::default(), &none, &PageFacts::default(), 0),
            Err(CoverageError::NotesMissing(_))
        ));
    }
}
