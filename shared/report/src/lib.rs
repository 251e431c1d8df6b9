//! The HTML coverage report: the gcov engine's [`Coverage`] model (plus optional session
//! [`Facts`] and a source lookup the caller supplies) in, a list of [`OutFile`]s out; and
//! [`write_report`], the one step from the model to every file of a report (the engine's data
//! files and the pages).
//!
//! The crate is pure: no I/O, no clock, no randomness. The same input gives the same bytes.
//! Pages are written with maud templates; every piece of text that comes from the input
//! (paths, function names, source lines, facts, warnings) goes through maud's escaping.
//!
//! Layout of a report (all links relative, so it works from a local folder and from an S3
//! website prefix):
//! - `index.html`: totals, session facts, the directory tree, and every file;
//! - `d/<n>.html`: one page per directory (its subdirectories and files);
//! - `f/<n>.html` (and `f/<n>-<k>.html` for the k-th part of a long file): source pages;
//! - `report.css`, `report.js`: the style sheet and the small sorting/navigation script.
//!
//! Page names are numbers given in path order, never the source paths, so no user text ever
//! becomes a file name or an object key. [`site_index`] renders the site-wide list of reports.
//!
//! C++ function names are shown demangled ([`demangle`]) in the pages and in `cobertura.xml`;
//! `coverage.info` keeps them mangled, as lcov does, and the pages show the mangled name on
//! hover.

mod assets;
mod fmt;
mod names;
mod page;
mod site;
mod source;
mod tree;

use ccaas_gcov::Coverage;
use rayon::prelude::*;

pub use names::{MAX_DEMANGLED, MAX_MANGLED, demangle};
pub use site::{SiteEntry, latest_page, site_index};

/// Lines per source page by default. Longer files are split into parts of this many lines
/// (see `docs/report.md` for the measurements behind the number).
pub const DEFAULT_LINES_PER_PAGE: usize = 5000;

/// The content type of HTML pages.
pub const HTML: &str = "text/html; charset=utf-8";
/// The content type of the style sheet.
pub const CSS: &str = "text/css; charset=utf-8";
/// The content type of the script.
pub const JS: &str = "text/javascript; charset=utf-8";

/// One file of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    /// Relative path inside the report, `/`-separated, made only of `[a-z0-9./-]`.
    pub path: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Its HTTP content type.
    pub content_type: &'static str,
}

/// What is known about the session the coverage came from; every field is optional text that
/// the report shows as given (escaped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The device (host name).
    pub device: Option<String>,
    /// The build id.
    pub build: Option<String>,
    /// The modules covered.
    pub modules: Vec<String>,
    /// When the session started (already formatted, for example RFC 3339).
    pub started: Option<String>,
    /// When it ended.
    pub ended: Option<String>,
    /// Warnings of the collection and of the engine.
    pub warnings: Vec<String>,
}

impl Facts {
    fn is_empty(&self) -> bool {
        *self == Facts::default()
    }
}

/// Report options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The title shown on every page.
    pub title: String,
    /// The session's facts, shown on the index page when given.
    pub facts: Option<Facts>,
    /// Source lines per page; longer files are split into parts (0 means never split).
    pub lines_per_page: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            title: "Coverage report".into(),
            facts: None,
            lines_per_page: DEFAULT_LINES_PER_PAGE,
        }
    }
}

/// Gives the renderer the text of a source file, by its path in the model. `None` when the
/// source is not available (the page then lists the instrumented lines only).
pub trait Sources: Sync {
    /// The bytes of the source at report path `path`.
    fn source(&self, path: &str) -> Option<Vec<u8>>;
}

impl<F> Sources for F
where
    F: Fn(&str) -> Option<Vec<u8>> + Sync,
{
    fn source(&self, path: &str) -> Option<Vec<u8>> {
        self(path)
    }
}

/// No sources: every file page lists its instrumented lines only.
pub struct NoSources;

impl Sources for NoSources {
    fn source(&self, _path: &str) -> Option<Vec<u8>> {
        None
    }
}

/// The engine's data files of every report, in order: lcov, Cobertura, the JSON summary and
/// the badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFile {
    /// `coverage.info`, the lcov tracefile (function names as the notes give them: C++ names
    /// stay mangled, as lcov writes them).
    Lcov,
    /// `cobertura.xml`, stamped with the caller's timestamp, with C++ method names demangled.
    Cobertura,
    /// `summary.json`.
    Summary,
    /// `badge.svg`.
    Badge,
}

impl DataFile {
    /// Every data file, in the order a report lists them.
    pub const ALL: [DataFile; 4] = [
        DataFile::Lcov,
        DataFile::Cobertura,
        DataFile::Summary,
        DataFile::Badge,
    ];

    /// Its name inside the report.
    pub fn name(self) -> &'static str {
        match self {
            DataFile::Lcov => "coverage.info",
            DataFile::Cobertura => "cobertura.xml",
            DataFile::Summary => "summary.json",
            DataFile::Badge => "badge.svg",
        }
    }

    /// Its HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            DataFile::Lcov => "text/plain; charset=utf-8",
            DataFile::Cobertura => "application/xml",
            DataFile::Summary => "application/json",
            DataFile::Badge => "image/svg+xml",
        }
    }

    /// Writes it for `cov` (Cobertura stamped with `timestamp`, Unix seconds) into `out`.
    /// Errors: the engine's writer error.
    pub fn write(
        self,
        cov: &Coverage,
        timestamp: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ccaas_gcov::Error> {
        match self {
            DataFile::Lcov => ccaas_gcov::lcov::write(cov, "", out),
            DataFile::Cobertura => {
                ccaas_gcov::cobertura::write_with_names(cov, timestamp, &demangle, out)
            }
            DataFile::Summary => ccaas_gcov::summary::write(cov, out),
            DataFile::Badge => ccaas_gcov::badge::write(cov, out),
        }
    }
}

/// Where [`write_report`] puts a report's files. Its methods are called from rayon worker
/// threads, in no fixed order except that `index.html` comes last.
pub trait ReportSink: Sync {
    /// Why a file could not be kept.
    type Error: Send;

    /// Keeps the data file `file`, whose bytes [`DataFile::write`] gives. Called once per
    /// data file. Errors: the sink's own, or the writer's.
    fn data(&self, file: DataFile, cov: &Coverage, timestamp: u64) -> Result<(), Self::Error>;

    /// Keeps one page or asset of the HTML report. Called once per file. Errors: the sink's.
    fn page(&self, file: OutFile) -> Result<(), Self::Error>;
}

/// The one model-to-files step: writes the engine's data files ([`DataFile::ALL`], in
/// parallel; Cobertura stamped with `timestamp`) and then the HTML pages ([`render_each`],
/// `index.html` last) into `sink`. The CLI writes them to a folder as they come, the render
/// stage of an end task keeps them for the site. Errors: the first error of the sink; pages
/// after it are still rendered but may be dropped by the sink.
pub fn write_report<S: ReportSink>(
    cov: &Coverage,
    timestamp: u64,
    opts: &Options,
    sources: &dyn Sources,
    sink: &S,
) -> Result<(), S::Error> {
    DataFile::ALL
        .into_par_iter()
        .try_for_each(|f| sink.data(f, cov, timestamp))?;
    let failed = std::sync::Mutex::new(None);
    render_each(cov, opts, sources, &|f| {
        if let Err(e) = sink.page(f) {
            let mut first = failed.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert(e);
        }
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Renders the whole report. Files are rendered in parallel on the current rayon pool; the
/// output is in a fixed order (assets, directory pages, file pages, and `index.html` last) and
/// the same for the same input. Never fails: unreadable sources and odd paths are shown as such.
pub fn render(cov: &Coverage, opts: &Options, sources: &dyn Sources) -> Vec<OutFile> {
    let tree = tree::Tree::new(cov);
    let mut out = fixed_pages(&tree, opts);
    let index = out.pop();
    let files: Vec<Vec<OutFile>> = (0..tree.files.len())
        .into_par_iter()
        .map(|i| file_pages(&tree, i, opts, sources))
        .collect();
    out.extend(files.into_iter().flatten());
    out.extend(index);
    out
}

/// Like [`render`], but hands each file to `emit` as soon as it is made (from rayon worker
/// threads, in no fixed order) instead of holding the whole report in memory; `index.html` is
/// always emitted last, after every other file was emitted.
pub fn render_each(
    cov: &Coverage,
    opts: &Options,
    sources: &dyn Sources,
    emit: &(dyn Fn(OutFile) + Sync),
) {
    let tree = tree::Tree::new(cov);
    let mut fixed = fixed_pages(&tree, opts);
    let index = fixed.pop();
    fixed.into_iter().for_each(emit);
    (0..tree.files.len()).into_par_iter().for_each(|i| {
        file_pages(&tree, i, opts, sources)
            .into_iter()
            .for_each(emit)
    });
    index.into_iter().for_each(emit);
}

/// The assets, the directory pages, and `index.html` (last).
fn fixed_pages(tree: &tree::Tree<'_>, opts: &Options) -> Vec<OutFile> {
    let mut out = vec![
        OutFile {
            path: "report.css".into(),
            bytes: assets::CSS.as_bytes().to_vec(),
            content_type: CSS,
        },
        OutFile {
            path: "report.js".into(),
            bytes: assets::JS.as_bytes().to_vec(),
            content_type: JS,
        },
    ];
    for d in 1..tree.dirs.len() {
        out.push(OutFile {
            path: tree.dir_href(d, false),
            bytes: page::dir_page(tree, d, opts).into_bytes(),
            content_type: HTML,
        });
    }
    out.push(OutFile {
        path: "index.html".into(),
        bytes: page::dir_page(tree, 0, opts).into_bytes(),
        content_type: HTML,
    });
    out
}

fn file_pages(
    tree: &tree::Tree<'_>,
    i: usize,
    opts: &Options,
    sources: &dyn Sources,
) -> Vec<OutFile> {
    let text = sources.source(tree.files[i].path);
    source::file_pages(tree, i, text.as_deref(), opts)
}
