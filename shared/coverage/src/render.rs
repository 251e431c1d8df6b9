//! Stage 2's pure part: unpacked coverage files (and a build's published notes and sources) in,
//! report files out (the gcov engine, then `ccaas_report::write_report`: its data files and
//! HTML pages, the same step as `ccaas report`). The same
//! input gives the same bytes: inputs are walked in path order and the Cobertura timestamp is
//! the caller's (the task's creation time), never the clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use ccaas_gcov::{Coverage, Input, Options, Totals};
use ccaas_report::{DataFile, OutFile, ReportSink};
use rayon::prelude::*;

use crate::CoverageError;
use crate::paths::{Found, SuffixIndex, components};
use crate::unpack::{Span, SpillError, SpillWriter, Spilled, StoreRef, Unpacked};

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

/// One file of a rendered report; its bytes wait in a scratch store until it is uploaded.
#[derive(Clone, Debug)]
pub struct ReportFile {
    /// Relative path inside the report.
    pub path: String,
    /// Its HTTP content type.
    pub content_type: &'static str,
    store: StoreRef,
    span: Span,
}

impl ReportFile {
    /// The file's bytes. Idempotent. Errors: [`CoverageError::Scratch`] (a disk error).
    pub fn bytes(&self) -> Result<Vec<u8>, CoverageError> {
        self.store.read(self.span)
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.span.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.span.len == 0
    }
}

impl PartialEq for ReportFile {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && self.content_type == other.content_type
            && self.bytes().ok() == other.bytes().ok()
    }
}

/// What [`render`] produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Every file; `index.html` is the last one, so publishing in order links nothing
    /// half-written.
    pub files: Vec<ReportFile>,
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
    pub notes: Option<Spilled>,
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
    model_of(&[unpacked], build)
}

/// [`model`] over several raw archives of one build (a merge task's sessions): every `.gcda`
/// of one object, whichever archive holds it, goes into that object's one unit, whose
/// counters the engine sums before it solves the unit, as gcov does for several runs
/// (`gcov-tool merge`). The notes of a unit are the first archive's (in the given order) that
/// holds them beside a `.gcda`, else the build's published ones. So memory holds one model of
/// the union, however many archives. CPU-bound. Errors: as [`model`]'s, over all archives.
pub fn model_of(
    sets: &[&Unpacked],
    build: &BuildNotes,
) -> Result<(Coverage, Vec<RenderWarning>), CoverageError> {
    let mut warnings = Vec::new();
    let key = build.key();
    // Per unit: where its notes are (a device's or the build's set) and its data files, each
    // with the set it is in.
    type Group<'a> = (&'a Spilled, Span, Vec<(&'a str, &'a Spilled, Span)>);
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    for unpacked in sets {
        for (n, s) in &unpacked.notes.files {
            groups
                .entry(n.clone())
                .or_insert_with(|| (&unpacked.notes, *s, Vec::new()));
        }
    }
    let device_notes: BTreeSet<String> = groups.keys().cloned().collect();
    let data_files: usize = sets.iter().map(|u| u.data.len()).sum();
    let notes_files: usize = sets.iter().map(|u| u.notes.len()).sum();
    let published = build.notes.as_ref().map(|notes| {
        let stems = notes
            .files
            .keys()
            .map(|k| k.strip_suffix(".gcno").unwrap_or(k));
        (notes, SuffixIndex::new(stems))
    });
    let mut paired = 0usize;
    let data = sets
        .iter()
        .flat_map(|u| u.data.files.iter().map(move |(d, s)| (d, &u.data, s)));
    for (d, set, span) in data {
        let beside = notes_beside(d);
        if let Some(g) = groups
            .get_mut(&beside)
            .filter(|_| device_notes.contains(&beside))
        {
            g.2.push((d.as_str(), set, *span));
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
                let Some(ns) = notes.files.get(&path) else {
                    continue;
                };
                let name = format!("{path} in {key}");
                groups
                    .entry(name)
                    .or_insert_with(|| (*notes, *ns, Vec::new()))
                    .2
                    .push((d.as_str(), set, *span));
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
    if paired == 0 && data_files > 0 {
        let n = data_files;
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
    // One unit at a time per thread: its bytes are read from the scratch store, solved and
    // dropped, so memory holds the solved units and a unit's files per thread, never the set.
    let builder = ccaas_gcov::Builder::new(&Options::default())
        .map_err(|e| CoverageError::Report(e.to_string()))?;
    let solved = groups
        .par_iter()
        .map(|(name, (set, notes, data))| {
            let notes = set.read(*notes)?;
            let data = data
                .iter()
                .map(|(n, set, s)| Ok((*n, set.read(*s)?)))
                .collect::<Result<Vec<_>, CoverageError>>()?;
            let data: Vec<(&str, &[u8])> = data.iter().map(|(n, b)| (*n, b.as_slice())).collect();
            Ok(builder.unit(&Input {
                notes_name: name,
                notes: &notes,
                data: &data,
            }))
        })
        .collect::<Result<Vec<_>, CoverageError>>()?;
    let (cov, engine_warnings) = builder.finish(solved);
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
            "no coverage data could be read ({notes_files} notes, {data_files} data files)"
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

/// The source texts for the report of `cov` from a build's `sources.tar.gz` in `file`, when
/// the build published one: only the files whose names `cov` has. An unusable archive is a
/// warning (`sources_unusable`, naming `key`) and the pages then list the instrumented lines
/// only. Errors: [`CoverageError::Scratch`] (the scratch disk, no fault of the sources: the
/// task is retried).
pub(crate) fn sources_for(
    cov: &Coverage,
    file: Option<&std::path::Path>,
    limits: &crate::unpack::UnpackLimits,
    key: &str,
    warnings: &mut Vec<RenderWarning>,
) -> Result<Spilled, CoverageError> {
    let Some(path) = file else {
        return Ok(Spilled::default());
    };
    let names = source_names(cov);
    let file = std::fs::File::open(path).map_err(CoverageError::Scratch)?;
    let keep = |p: &str| p.rsplit('/').next().is_some_and(|n| names.contains(n));
    match crate::unpack::unpack_sources(std::io::BufReader::new(file), limits, keep) {
        Ok(s) => Ok(s),
        Err(SpillError::Scratch(e)) => Err(CoverageError::Scratch(e)),
        Err(SpillError::Input(why)) => {
            warnings.push(RenderWarning {
                code: "sources_unusable",
                message: format!(
                    "{key} is not usable ({why}); the pages list the instrumented lines only"
                ),
            });
            Ok(Spilled::default())
        }
    }
}

/// Runs the engine ([`model`]) and writes the report ([`write_report`]). CPU-bound: call it
/// from a blocking thread.
pub fn render(
    unpacked: &Unpacked,
    build: &BuildNotes,
    sources: &Spilled,
    facts: &PageFacts,
    timestamp: u64,
) -> Result<Rendered, CoverageError> {
    let (cov, warnings) = model(unpacked, build)?;
    write_report(&cov, facts, warnings, sources, timestamp, u64::MAX)
}

/// Writes the engine's files and the HTML pages of `cov`. The pages show the text of each
/// report file found in `sources` (by [`crate::paths`]' rule: the exact path, else the
/// longest unique suffix of path components); files without one list their instrumented
/// lines. The same input gives the same bytes. The files go to scratch files as they are
/// made (memory holds a page per thread), at most `max_bytes` in all.
///
/// Errors: [`CoverageError::TooLarge`] past `max_bytes`, [`CoverageError::Scratch`] when the
/// scratch files cannot be written, [`CoverageError::Report`] when a writer fails.
pub fn write_report(
    cov: &Coverage,
    facts: &PageFacts,
    warnings: Vec<RenderWarning>,
    sources: &Spilled,
    timestamp: u64,
    max_bytes: u64,
) -> Result<Rendered, CoverageError> {
    let files = write_files(cov, facts, &warnings, sources, timestamp, max_bytes)?;
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
    sources: &Spilled,
    timestamp: u64,
    max_bytes: u64,
) -> Result<Vec<ReportFile>, CoverageError> {
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
    let index = SuffixIndex::new(sources.files.keys().map(String::as_str));
    let lookup = |path: &str| match index.find(path) {
        Found::One(k) => sources.get(k),
        _ => None,
    };
    let kept = Kept {
        pages: Mutex::new(Some(
            SpillWriter::new().map_err(|e| e.into_coverage(CoverageError::Report))?,
        )),
        page_types: Mutex::new(Vec::new()),
        data: Mutex::new(Vec::new()),
        total: std::sync::atomic::AtomicU64::new(0),
        max_bytes,
    };
    ccaas_report::write_report(cov, timestamp, &opts, &lookup, &kept)?;
    let mut files = kept.data.into_inner().unwrap_or_else(|p| p.into_inner());
    let pages = kept
        .pages
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or_else(|| CoverageError::Report("the pages' scratch file is gone".into()))?
        .finish()
        .map_err(|e| e.into_coverage(CoverageError::Report))?;
    // Every page shares the one store (a handle, not a copy of the index).
    let store = pages.store();
    for (path, content_type) in kept
        .page_types
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        let Some(span) = pages.files.get(&path).copied() else {
            continue;
        };
        files.push(ReportFile {
            path,
            content_type,
            store: store.clone(),
            span,
        });
    }
    // Pages arrive in no fixed order: the data files first (in their order), then the pages
    // by path, `index.html` last, so the same input gives the same list.
    let rank = |f: &ReportFile| {
        let data = DataFile::ALL.iter().position(|d| d.name() == f.path);
        (f.path == "index.html", data.is_none(), data)
    };
    files.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.path.cmp(&b.path)));
    Ok(files)
}

/// A [`ReportSink`] that appends every file to scratch files (the pages to one, each data file
/// to its own, as they are written in parallel), within a byte budget.
struct Kept {
    pages: Mutex<Option<SpillWriter>>,
    page_types: Mutex<Vec<(String, &'static str)>>,
    data: Mutex<Vec<ReportFile>>,
    total: std::sync::atomic::AtomicU64,
    max_bytes: u64,
}

impl Kept {
    /// Counts `n` more bytes against the budget.
    fn count(&self, n: u64) -> Result<(), CoverageError> {
        use std::sync::atomic::Ordering;
        let total = self.total.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        if total > self.max_bytes {
            return Err(CoverageError::TooLarge {
                what: "the report's files (written so far)".into(),
                limit: self.max_bytes,
                seen: total,
            });
        }
        Ok(())
    }
}

impl ReportSink for Kept {
    type Error = CoverageError;

    fn data(&self, file: DataFile, cov: &Coverage, timestamp: u64) -> Result<(), Self::Error> {
        let mut out = SpillWriter::new().map_err(|e| e.into_coverage(CoverageError::Report))?;
        let mut failed = None;
        out.put_with(file.name(), &mut |w| {
            file.write(cov, timestamp, w).map_err(|e| {
                let why = e.to_string();
                failed = Some(e);
                std::io::Error::other(why)
            })
        })
        .map_err(|e| match (e, failed.take()) {
            (SpillError::Scratch(disk), _) => CoverageError::Scratch(disk),
            (_, Some(e)) => CoverageError::Report(e.to_string()),
            (SpillError::Input(why), None) => CoverageError::Report(why),
        })?;
        let set = out
            .finish()
            .map_err(|e| e.into_coverage(CoverageError::Report))?;
        let Some(span) = set.files.get(file.name()).copied() else {
            return Err(CoverageError::Report(format!(
                "{} was not kept",
                file.name()
            )));
        };
        self.count(span.len)?;
        self.data
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ReportFile {
                path: file.name().into(),
                content_type: file.content_type(),
                store: set.store(),
                span,
            });
        Ok(())
    }

    fn page(&self, file: OutFile) -> Result<(), Self::Error> {
        self.count(file.bytes.len() as u64)?;
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        let w = pages
            .as_mut()
            .ok_or_else(|| CoverageError::Report("the pages' scratch file is gone".into()))?;
        w.put(
            &file.path,
            file.bytes.len() as u64,
            &mut file.bytes.as_slice(),
        )
        .map_err(|e| e.into_coverage(CoverageError::Report))?;
        drop(pages);
        self.page_types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((file.path, file.content_type));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_files() -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>) {
        let mut notes = BTreeMap::new();
        let mut data = BTreeMap::new();
        notes.insert(
            "tmm/b/tricky.gcno".to_string(),
            include_bytes!("../../gcov/tests/data/gcc12/tricky.gcno").to_vec(),
        );
        data.insert(
            "tmm/b/tricky.gcda".to_string(),
            include_bytes!("../../gcov/tests/data/gcc12/tricky.gcda").to_vec(),
        );
        notes.insert(
            "mcpd/b/other.gcno".to_string(),
            include_bytes!("../../gcov/tests/data/gcc12/other.gcno").to_vec(),
        );
        (notes, data)
    }

    pub(crate) fn fixture() -> Unpacked {
        let (notes, data) = fixture_files();
        Unpacked::from_memory(notes, data)
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
            &Spilled::default(),
            &facts,
            1_700_000_000,
        )
        .unwrap();
        let b = render(
            &fixture(),
            &BuildNotes::default(),
            &Spilled::default(),
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
        let index = String::from_utf8(a.files.last().unwrap().bytes().unwrap()).unwrap();
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
    fn a_report_past_its_byte_budget_is_too_large_and_one_within_it_reads_back_whole() {
        let (cov, warnings) = model(&fixture(), &BuildNotes::default()).unwrap();
        let none = Spilled::default();
        let facts = PageFacts::default();
        let r = write_report(&cov, &facts, warnings.clone(), &none, 0, 1000);
        assert!(
            matches!(r, Err(CoverageError::TooLarge { limit: 1000, seen, .. }) if seen > 1000),
            "{r:?}"
        );
        let ok = write_report(&cov, &facts, warnings, &none, 0, u64::MAX).unwrap();
        for f in &ok.files {
            assert_eq!(f.bytes().unwrap().len() as u64, f.len(), "{}", f.path);
        }
    }

    #[test]
    fn data_without_notes_is_a_warning_and_no_notes_at_all_is_notes_missing() {
        let (mut notes, mut data) = fixture_files();
        data.insert("bd/x/lost.gcda".into(), b"junk".to_vec());
        let u = Unpacked::from_memory(notes.clone(), data.clone());
        let none = Spilled::default();
        let r = render(&u, &BuildNotes::default(), &none, &PageFacts::default(), 0).unwrap();
        assert!(
            r.warnings
                .iter()
                .any(|w| w.code == "notes_missing" && w.message.contains("bd/x/lost.gcda"))
        );
        notes.clear();
        let u = Unpacked::from_memory(notes, data);
        assert!(matches!(
            render(&u, &BuildNotes::default(), &none, &PageFacts::default(), 0),
            Err(CoverageError::NotesMissing(_))
        ));
    }
}
