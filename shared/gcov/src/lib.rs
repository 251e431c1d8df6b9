//! The gcov engine: reads .gcno/.gcda bytes, rebuilds gcov's counts, and writes coverage formats.
//!
//! The crate is pure: it reads only the byte slices it is handed (and, for exclusion markers,
//! source text through a [`SourceReader`] the caller provides). [`build`] is the entry point:
//! notes + data bytes in, a [`Coverage`] model and a list of [`Warning`]s out. Writers for the
//! lcov tracefile, Cobertura XML, a JSON summary and an SVG badge take the model.
//!
//! Modules: [`format`](mod@format) (encoding), [`gcno`] and [`gcda`] (readers), [`solve`] (gcov's count
//! reconstruction per translation unit), [`merge`] (sums across units), [`filter`] (paths, globs,
//! markers), [`model`] (the public model), and the writers [`lcov`], [`cobertura`], [`summary`],
//! [`badge`].

pub mod badge;
pub mod cobertura;
pub mod error;
pub mod filter;
pub mod format;
pub mod gcda;
pub mod gcno;
pub mod lcov;
pub mod merge;
pub mod model;
pub mod solve;
pub mod summary;

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

pub use error::{Error, FileKind, Result};
pub use model::{Counter, Coverage, FileCoverage, FunctionCoverage, LineCoverage, Totals};

/// One translation unit to report: its notes file and every data file recorded for it (several
/// runs, machines or build directories; their counters are summed).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Name of the notes file (for messages).
    pub notes_name: &'a str,
    /// The notes bytes.
    pub notes: &'a [u8],
    /// `(name, bytes)` of each data file; empty when the unit never ran.
    pub data: &'a [(&'a str, &'a [u8])],
}

/// Gives the engine the text of a source file, for exclusion markers. Return `None` when the
/// file cannot be read (the file is then reported without exclusions).
pub trait SourceReader: Sync + Send {
    /// The bytes of the source at report path `path`.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

/// Report options.
#[derive(Clone, Default)]
pub struct Options {
    /// Keep only files whose mapped path matches one of these globs (all when empty).
    pub include: Vec<String>,
    /// Drop files whose mapped path matches one of these globs.
    pub exclude: Vec<String>,
    /// Remove this many leading components from recorded paths (like `GCOV_PREFIX_STRIP`).
    pub prefix_strip: usize,
    /// Join relative (after stripping) paths to this directory.
    pub source_root: Option<String>,
    /// Reads sources for `LCOV_EXCL_*` / `GCOVR_EXCL_*` markers; no exclusions when `None`.
    pub source_reader: Option<Arc<dyn SourceReader>>,
    /// Whose line-count rules to follow (gcov's or llvm-cov's); detected per notes file by
    /// default.
    pub flavor: solve::Flavor,
    /// Called once after each input unit is solved (from worker threads), for progress display.
    pub on_unit_done: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .field("prefix_strip", &self.prefix_strip)
            .field("source_root", &self.source_root)
            .field("source_reader", &self.source_reader.is_some())
            .field("flavor", &self.flavor)
            .field("on_unit_done", &self.on_unit_done.is_some())
            .finish()
    }
}

/// Something that was skipped or looked wrong; the rest of the report is still produced.
#[derive(Debug)]
pub struct Warning {
    /// The input file the warning is about (notes, data or source path).
    pub input: String,
    /// What happened.
    pub message: String,
    /// The error, when the warning is a skipped input.
    pub error: Option<Error>,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Warning {
    fn from_error(input: &str, e: Error) -> Warning {
        Warning {
            input: input.to_string(),
            message: e.to_string(),
            error: Some(e),
        }
    }
}

/// Reads, solves and merges every input into one coverage model. Inputs are processed in
/// parallel on the current rayon pool. Bad files become warnings; the rest is still reported.
/// Fails only on invalid options (a bad glob). Same as [`Builder`] with every input at once.
pub fn build(inputs: &[Input<'_>], opts: &Options) -> Result<(Coverage, Vec<Warning>)> {
    let b = Builder::new(opts)?;
    let units: Vec<SolvedUnit> = inputs.par_iter().map(|input| b.unit(input)).collect();
    Ok(b.finish(units))
}

/// The two halves of [`build`], for callers that want to hold only one unit's bytes at a time:
/// call [`Builder::unit`] for each input (from any thread, in any order), drop the bytes, then
/// [`Builder::finish`] with the results.
pub struct Builder {
    filter: filter::PathFilter,
    opts: Options,
}

/// One solved translation unit (or the warnings that explain why it could not be).
#[derive(Debug)]
pub struct SolvedUnit {
    unit: Option<merge::MappedUnit>,
    warnings: Vec<Warning>,
}

impl SolvedUnit {
    /// The problems found in this unit's files.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

impl Builder {
    /// Compiles the options (fails on a bad glob).
    pub fn new(opts: &Options) -> Result<Builder> {
        let filter = filter::PathFilter::new(
            &opts.include,
            &opts.exclude,
            opts.prefix_strip,
            opts.source_root.as_deref(),
        )?;
        Ok(Builder {
            filter,
            opts: opts.clone(),
        })
    }

    /// Parses, checks and solves one unit; it keeps nothing of the input bytes.
    pub fn unit(&self, input: &Input<'_>) -> SolvedUnit {
        let (unit, warnings) = unit(input, &self.filter, self.opts.flavor);
        if let Some(f) = &self.opts.on_unit_done {
            f();
        }
        SolvedUnit { unit, warnings }
    }

    /// Merges the solved units into the model and applies the exclusion markers.
    pub fn finish(&self, solved: Vec<SolvedUnit>) -> (Coverage, Vec<Warning>) {
        let mut warnings = Vec::new();
        let mut units = Vec::with_capacity(solved.len());
        for s in solved {
            warnings.extend(s.warnings);
            units.extend(s.unit);
        }
        let (mut cov, notes) = merge::merge(&units);
        drop(units);
        for n in notes {
            warnings.push(Warning {
                input: n.path.clone(),
                message: format!(
                    "{}: {} lines have a negative summed count (corrupt or racy counters); reported as 0",
                    n.path, n.negative_lines
                ),
                error: None,
            });
        }
        if let Some(reader) = &self.opts.source_reader {
            apply_markers(&mut cov, reader.as_ref());
        }
        (cov, warnings)
    }
}

/// Parses and solves one unit, mapping its paths.
fn unit(
    input: &Input<'_>,
    filter: &filter::PathFilter,
    flavor: solve::Flavor,
) -> (Option<merge::MappedUnit>, Vec<Warning>) {
    let mut warnings = Vec::new();
    let notes = match gcno::parse(input.notes_name, input.notes) {
        Ok(n) => n,
        Err(e) => return (None, vec![Warning::from_error(input.notes_name, e)]),
    };
    let mut offsets = Vec::with_capacity(notes.functions.len());
    let mut total = 0u32;
    let mut by_ident = HashMap::with_capacity(notes.functions.len());
    for (i, f) in notes.functions.iter().enumerate() {
        offsets.push(total);
        total = total.saturating_add(f.counters);
        by_ident.insert(f.ident, i);
    }
    let mut counts = vec![0u64; total as usize];
    let mut applied = 0usize;
    for (dname, dbytes) in input.data {
        let res = gcda::parse(dname, dbytes).and_then(|d| {
            gcda::check_header(input.notes_name, &notes, dname, &d)?;
            // Check every function first so that a bad file adds nothing.
            let mut scratch = vec![0u64; counts.len()];
            gcda::accumulate(
                input.notes_name,
                &notes,
                &offsets,
                &by_ident,
                dname,
                &d,
                &mut scratch,
            )?;
            Ok(scratch)
        });
        match res {
            Ok(add) => {
                for (c, a) in counts.iter_mut().zip(add) {
                    *c = c.wrapping_add(a);
                }
                applied += 1;
            }
            Err(e) => warnings.push(Warning::from_error(dname, e)),
        }
    }
    let mut msgs = Vec::new();
    let unit = match solve::solve(
        input.notes_name,
        &notes,
        &counts,
        !input.data.is_empty(),
        flavor,
        &mut msgs,
    ) {
        Ok(u) => u,
        Err(e) => {
            warnings.push(Warning::from_error(input.notes_name, e));
            return (None, warnings);
        }
    };
    let _ = applied;
    warnings.extend(msgs.into_iter().map(|m| Warning {
        input: input.notes_name.to_string(),
        message: m,
        error: None,
    }));
    let cwd = notes.cwd.as_deref();
    let mut unit = unit;
    let paths = std::mem::take(&mut unit.sources)
        .iter()
        .map(|s| {
            let p = filter.map(s, cwd);
            filter.keep(&p).then_some(p)
        })
        .collect();
    (Some(merge::MappedUnit { unit, paths }), warnings)
}

/// Drops lines (and their branches) and functions excluded by markers in the source text.
fn apply_markers(cov: &mut Coverage, reader: &dyn SourceReader) {
    cov.files.par_iter_mut().for_each(|(path, fc)| {
        let Some(text) = reader.read(path) else {
            return;
        };
        let Some(ex) = filter::excluded_lines(&text) else {
            return;
        };
        let is_ex = |n: u32| ex.get(n as usize).copied().unwrap_or(false);
        let old_branches = std::mem::take(&mut fc.branches);
        let mut kept = Vec::with_capacity(fc.lines.len());
        for l in fc.lines.drain(..) {
            if is_ex(l.line) {
                continue;
            }
            let (s, n) = l.branches;
            let start = fc.branches.len() as u32;
            fc.branches.extend_from_slice(
                old_branches
                    .get(s as usize..(s + n) as usize)
                    .unwrap_or(&[]),
            );
            kept.push(LineCoverage {
                branches: (start, n),
                ..l
            });
        }
        fc.lines = kept;
        fc.functions.retain(|f| !is_ex(f.start_line));
    });
    cov.compute_totals();
}
