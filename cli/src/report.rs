//! `ccaas report DIR... -o OUT`: finds .gcno/.gcda files, runs the gcov engine, and writes
//! `coverage.info`, `cobertura.xml`, `summary.json`, `badge.svg` and the HTML report
//! (`index.html` and its pages, see `ccaas_report`) into OUT.

use std::collections::HashMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ccaas_gcov::{Builder, Coverage, Input, Options, SolvedUnit, SourceReader};
use ccaas_report::{DataFile, OutFile, ReportSink};
use clap::Args;
use rayon::prelude::*;

/// Arguments of `ccaas report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Build directories to search (recursively) for .gcno and .gcda files.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Output directory (created if missing).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Directory that relative source paths (after --prefix-strip) are joined to; also where
    /// sources are read for exclusion markers.
    #[arg(long, value_name = "DIR")]
    pub source_root: Option<PathBuf>,
    /// Keep only source files matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Drop source files matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Remove this many leading components from recorded source paths (like GCOV_PREFIX_STRIP).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub prefix_strip: usize,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Do not read sources for LCOV_EXCL_* / GCOVR_EXCL_* markers.
    #[arg(long)]
    pub no_markers: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Reads sources from disk, for exclusion markers.
struct DiskSources;

impl SourceReader for DiskSources {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        fs::read(path).ok()
    }
}

enum Bytes {
    Map(memmap2::Mmap),
    Vec(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Vec(v) => v,
        }
    }
}

// The memory map is the crate's one unsafe block besides `tune_allocator`.
#[allow(unsafe_code)]
fn load(path: &Path) -> std::io::Result<Bytes> {
    let f = fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len >= 64 * 1024 {
        // SAFETY: the file is only read; a concurrent writer could change what we read, which the
        // parser tolerates (it never trusts the contents).
        let m = unsafe { memmap2::Mmap::map(&f)? };
        Ok(Bytes::Map(m))
    } else {
        Ok(Bytes::Vec(fs::read(path)?))
    }
}

/// Pairs data files with notes files: same directory and stem first; otherwise the same path
/// relative to the searched directories; otherwise a unique notes file with the same stem.
fn pair(dirs: &[PathBuf], notes: &[PathBuf], data: &[PathBuf]) -> (Vec<Vec<usize>>, Vec<PathBuf>) {
    let mut by_stem_path: HashMap<PathBuf, usize> = HashMap::new();
    let mut by_rel: HashMap<PathBuf, usize> = HashMap::new();
    let mut by_name: HashMap<std::ffi::OsString, Vec<usize>> = HashMap::new();
    let rel = |p: &Path| -> Option<PathBuf> {
        dirs.iter()
            .find_map(|d| p.strip_prefix(d).ok().map(|r| r.with_extension("")))
    };
    for (i, n) in notes.iter().enumerate() {
        by_stem_path.insert(n.with_extension(""), i);
        if let Some(r) = rel(n) {
            by_rel.entry(r).or_insert(i);
        }
        if let Some(stem) = n.file_stem() {
            by_name.entry(stem.to_os_string()).or_default().push(i);
        }
    }
    let mut groups = vec![Vec::new(); notes.len()];
    let mut orphans = Vec::new();
    for (j, d) in data.iter().enumerate() {
        let hit = by_stem_path
            .get(&d.with_extension(""))
            .or_else(|| rel(d).and_then(|r| by_rel.get(&r)))
            .copied()
            .or_else(|| match d.file_stem().and_then(|s| by_name.get(s)) {
                Some(v) if v.len() == 1 => Some(v[0]),
                _ => None,
            });
        match hit {
            Some(i) => groups[i].push(j),
            None => orphans.push(d.clone()),
        }
    }
    (groups, orphans)
}

/// Reads one notes file and its data files and solves the unit. Returns the messages for
/// files that could not be read.
fn solve_one(
    builder: &Builder,
    notes_path: &Path,
    data_idx: &[usize],
    data_paths: &[PathBuf],
) -> (Option<SolvedUnit>, Vec<String>) {
    let mut unread = Vec::new();
    let notes_name = notes_path.display().to_string();
    let notes = match load(notes_path) {
        Ok(b) => b,
        Err(e) => {
            unread.push(format!("{notes_name}: cannot read ({e}); skipped"));
            return (None, unread);
        }
    };
    let mut names = Vec::with_capacity(data_idx.len());
    let mut bytes = Vec::with_capacity(data_idx.len());
    for &j in data_idx {
        match load(&data_paths[j]) {
            Ok(b) => {
                names.push(data_paths[j].display().to_string());
                bytes.push(b);
            }
            Err(e) => unread.push(format!(
                "{}: cannot read ({e}); skipped",
                data_paths[j].display()
            )),
        }
    }
    let data: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| n.as_str())
        .zip(bytes.iter().map(|b| &b[..]))
        .collect();
    let input = Input {
        notes_name: &notes_name,
        notes: &notes,
        data: &data,
    };
    (Some(builder.unit(&input)), unread)
}

/// Fixes glibc's mmap threshold at 64 KiB. By default glibc raises the threshold each time a
/// large block is freed, after which the per-unit working memory comes from the heap arenas and
/// stays resident, fragmented; with a fixed threshold it goes back to the system when a unit is
/// done. zstdx full report: peak RSS 42 MB -> 33 MB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_MMAP_THRESHOLD: i32 = -3;
    // SAFETY: mallopt only sets a malloc parameter; it is called before any worker thread runs.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Runs the command; returns the process exit code.
pub fn run(args: ReportArgs) -> i32 {
    match run_inner(&args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("ccaas report: error: {msg}");
            2
        }
    }
}

fn run_inner(args: &ReportArgs) -> Result<i32, String> {
    let t0 = Instant::now();
    tune_allocator();
    let progress = !args.quiet;
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .map_err(|e| format!("cannot start {n} threads: {e}"))?;
    }
    let mut notes_paths = Vec::new();
    let mut data_paths = Vec::new();
    // Canonical directories, so that overlapping arguments (`build build/sub`) find each file
    // once instead of counting it twice.
    let mut dirs = Vec::with_capacity(args.dirs.len());
    for d in &args.dirs {
        if !d.is_dir() {
            return Err(format!("{} is not a directory", d.display()));
        }
        dirs.push(
            d.canonicalize()
                .map_err(|e| format!("reading {}: {e}", d.display()))?,
        );
    }
    for d in &dirs {
        let found = crate::files::regular_files(d, |p| {
            p.extension().is_some_and(|e| e == "gcno" || e == "gcda")
        })
        .map_err(|e| format!("reading {e}"))?;
        for (p, _) in found {
            if p.extension().is_some_and(|e| e == "gcno") {
                notes_paths.push(p);
            } else {
                data_paths.push(p);
            }
        }
    }
    notes_paths.sort();
    notes_paths.dedup();
    data_paths.sort();
    data_paths.dedup();
    if notes_paths.is_empty() {
        return Err(format!(
            "no .gcno files under {} (compile with --coverage)",
            args.dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let (groups, orphans) = pair(&dirs, &notes_paths, &data_paths);
    if progress {
        eprintln!(
            "ccaas report: {} .gcno, {} .gcda under {} director{}",
            notes_paths.len(),
            data_paths.len(),
            args.dirs.len(),
            if args.dirs.len() == 1 { "y" } else { "ies" }
        );
    }
    let mut warnings: Vec<String> = orphans
        .iter()
        .map(|o| format!("{}: no matching .gcno found; skipped", o.display()))
        .collect();

    let opts = Options {
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        prefix_strip: args.prefix_strip,
        source_root: args.source_root.as_ref().map(|p| p.display().to_string()),
        source_reader: if args.no_markers {
            None
        } else {
            Some(Arc::new(DiskSources))
        },
        ..Options::default()
    };
    let builder = Builder::new(&opts).map_err(|e| e.to_string())?;
    // Each worker reads one unit's files, solves it and drops the bytes before the next, so
    // memory holds the solved units, not every notes file at once.
    let done = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    let total = notes_paths.len();
    let solved: Vec<(Option<SolvedUnit>, Vec<String>)> = std::thread::scope(|scope| {
        if progress {
            scope.spawn(|| {
                let start = Instant::now();
                let mut next = Duration::from_secs(1);
                while !finished.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    if start.elapsed() >= next {
                        eprintln!(
                            "ccaas report: {}/{total} units solved ({:.0}s)",
                            done.load(Ordering::Relaxed),
                            t0.elapsed().as_secs_f64()
                        );
                        next += Duration::from_secs(1);
                    }
                }
            });
        }
        let r = (0..total)
            .into_par_iter()
            .map(|i| {
                let r = solve_one(&builder, &notes_paths[i], &groups[i], &data_paths);
                done.fetch_add(1, Ordering::Relaxed);
                r
            })
            .collect();
        finished.store(true, Ordering::Relaxed);
        r
    });
    let mut units = Vec::with_capacity(solved.len());
    let mut unreadable = 0usize;
    for (u, unread) in solved {
        unreadable += unread.len();
        warnings.extend(unread);
        units.extend(u);
    }
    let (cov, engine_warnings) = builder.finish(units);
    let bad_inputs = unreadable + engine_warnings.iter().filter(|w| w.error.is_some()).count();
    warnings.extend(engine_warnings.into_iter().map(|w| w.message));
    if progress {
        eprintln!(
            "ccaas report: {} source files solved in {:.2}s",
            cov.files.len(),
            t0.elapsed().as_secs_f64()
        );
    }

    fs::create_dir_all(&args.output)
        .map_err(|e| format!("creating {}: {e}", args.output.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    write_html(&args.output, &cov, now, &warnings)?;

    for w in &warnings {
        eprintln!("ccaas report: warning: {w}");
    }
    let t = cov.totals;
    if progress {
        eprintln!(
            "ccaas report: lines {}/{} ({:.2}%), functions {}/{} ({:.2}%), branches {}/{} ({:.2}%) -> {} in {:.2}s",
            t.lines.hit,
            t.lines.total,
            t.lines.percent(),
            t.functions.hit,
            t.functions.total,
            t.functions.percent(),
            t.branches.hit,
            t.branches.total,
            t.branches.percent(),
            args.output.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    if cov.files.is_empty() {
        eprintln!("ccaas report: error: no coverage data could be read");
        return Ok(1);
    }
    if bad_inputs > 0 {
        eprintln!(
            "ccaas report: error: {bad_inputs} input file{} could not be used (listed above); the report covers the rest",
            if bad_inputs == 1 { "" } else { "s" }
        );
        return Ok(1);
    }
    Ok(0)
}

/// Writes the whole report into `out` with `ccaas_report::write_report` (the render stage's
/// step too): the data files, then the pages as they are rendered, `index.html` last.
fn write_html(
    out: &Path,
    cov: &ccaas_gcov::Coverage,
    timestamp: u64,
    warnings: &[String],
) -> Result<(), String> {
    for d in ["d", "f"] {
        let p = out.join(d);
        fs::create_dir_all(&p).map_err(|e| format!("creating {}: {e}", p.display()))?;
    }
    let opts = ccaas_report::Options {
        facts: (!warnings.is_empty()).then(|| ccaas_report::Facts {
            warnings: warnings.to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let read = |p: &str| fs::read(p).ok();
    ccaas_report::write_report(cov, timestamp, &opts, &read, &Folder(out)).map_err(|e| e.0)
}

/// A [`ReportSink`] that writes each file into a folder as it comes.
struct Folder<'a>(&'a Path);

/// Why a report file could not be written, as the message the command prints.
struct WriteError(String);

impl From<ccaas_gcov::Error> for WriteError {
    fn from(e: ccaas_gcov::Error) -> Self {
        WriteError(e.to_string())
    }
}

impl ReportSink for Folder<'_> {
    type Error = WriteError;

    fn data(&self, file: DataFile, cov: &Coverage, timestamp: u64) -> Result<(), WriteError> {
        let p = self.0.join(file.name());
        let f = fs::File::create(&p)
            .map_err(|e| WriteError(format!("creating {}: {e}", p.display())))?;
        let mut w = BufWriter::with_capacity(256 << 10, f);
        file.write(cov, timestamp, &mut w)?;
        w.flush()
            .map_err(|e| WriteError(format!("writing {}: {e}", p.display())))
    }

    fn page(&self, file: OutFile) -> Result<(), WriteError> {
        let p = self.0.join(&file.path);
        fs::write(&p, &file.bytes).map_err(|e| WriteError(format!("writing {}: {e}", p.display())))
    }
}
