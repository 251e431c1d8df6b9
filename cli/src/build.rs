//! `ccaas build publish DIR --build ID`: uploads a build's notes (every `.gcno` under DIR) and
//! sources to the bucket's private `builds/<build-id>/`, for devices that keep no `.gcno`
//! beside their `.gcda`. The processor reads them when it renders an end task of that build.
//!
//! The sources the notes name are taken only when they are C/C++ sources or headers (by file
//! name ending) whose real path (symbolic links resolved) is under the source root
//! (`--source-root`, the current directory by default): a crafted `.gcno` cannot make the CLI
//! upload `~/.aws/credentials`. Every file left out is reported with its reason.
//!
//! Both archives are deterministic (sorted paths, no times, owners or modes from the disk), so
//! publishing the same tree again uploads the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ccaas_app::{BuildPart, BuildStore};
use ccaas_domain::BuildId;
use clap::{Args, Subcommand};

/// The processor's caps on a build's notes (its `UnpackLimits` defaults): more entries, a
/// larger file or more bytes would be refused when it renders, so they are refused here.
const MAX_NOTES: usize = 200_000;
const MAX_NOTES_FILE_BYTES: u64 = 256 << 20;
const MAX_NOTES_BYTES: u64 = 1 << 30;

/// File name endings of the C and C++ sources and headers published, from `--sources DIR` or
/// named by the notes.
const SOURCE_EXTENSIONS: [&str; 17] = [
    "c", "cc", "cpp", "cxx", "c++", "cp", "h", "hh", "hpp", "hxx", "h++", "inc", "inl", "ipp",
    "tcc", "tpp", "def",
];

/// Arguments of `ccaas build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(subcommand)]
    command: BuildCommand,
}

#[derive(Debug, Subcommand)]
enum BuildCommand {
    /// Upload a build's notes (.gcno) and sources for devices that keep no .gcno.
    ///
    /// Every *.gcno under DIR goes to s3://BUCKET/builds/ID/notes.tar.gz with its path relative
    /// to DIR, and the sources to s3://BUCKET/builds/ID/sources.tar.gz: by default the C/C++
    /// files the notes reference (read from where the compiler saw them, stored under that
    /// path without the leading '/'; only C/C++ sources and headers whose real path, symbolic
    /// links resolved, is under --source-root; the others are listed as skipped), or with
    /// --sources every C/C++ source and header under
    /// that directory (stored relative to it). An end task of build ID then pairs each .gcda
    /// the device wrote with the .gcno whose path shares the longest ending with it, and its
    /// report pages show the sources.
    ///
    /// S3 is reached with the standard AWS environment (credentials, AWS_REGION, and
    /// AWS_ENDPOINT_URL for an emulator).
    Publish(PublishArgs),
}

/// Arguments of `ccaas build publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The build's output directory: every *.gcno under it is published.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The build id, <Version>-<Build>[-<JobID>] as the device's /VERSION gives it (for
    /// example 17.1.0-0.0.16-1234567; an end task's result shows it as `build`).
    #[arg(long = "build", value_name = "ID")]
    pub build: String,
    /// Publish every C/C++ source and header under this directory instead of the files the
    /// notes reference.
    #[arg(long, value_name = "DIR", conflicts_with = "no_sources")]
    pub sources: Option<PathBuf>,
    /// Only sources the notes name under this directory are published (after resolving
    /// symbolic links); the others are reported as skipped.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub source_root: PathBuf,
    /// Publish the notes only (an earlier sources.tar.gz of the build is left as it is).
    #[arg(long)]
    pub no_sources: bool,
    /// The ccaas bucket.
    #[arg(long, env = "CCAAS_BUCKET", value_name = "BUCKET")]
    pub bucket: String,
    /// Skip source files larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_source_bytes: u64,
    /// Refuse to publish more than this many bytes of sources in all.
    #[arg(long, value_name = "BYTES", default_value_t = 512 << 20)]
    pub max_sources_bytes: u64,
    /// Print a JSON summary instead of a human one.
    #[arg(long)]
    pub json: bool,
}

/// Runs a build subcommand and returns the process exit code.
pub fn run(args: BuildArgs) -> i32 {
    let BuildCommand::Publish(p) = args.command;
    let build = match BuildId::parse(&p.build) {
        Ok(b) => b,
        Err(e) => return fail(&format!("--build: {}", e.message)),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        // Uploads of large archives need minutes: one call may take up to 10 of them.
        let sdk = ccaas_aws::sdk_config(Duration::from_secs(600)).await;
        let store = ccaas_s3::S3Builds::new(ccaas_s3::client(&sdk), &p.bucket);
        publish(&store, &build, &p).await
    });
    match result {
        Ok(s) => {
            if p.json {
                println!("{}", s.json(&p.bucket));
            } else {
                println!("{}", s.human(&p.bucket));
            }
            0
        }
        Err(msg) => fail(&msg),
    }
}

fn fail(msg: &str) -> i32 {
    eprintln!("ccaas: {msg}");
    2
}

/// What was published.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// The build id.
    pub build: String,
    /// Notes files.
    pub notes: usize,
    /// Bytes of `notes.tar.gz`.
    pub notes_bytes: u64,
    /// Source files (`None`: sources not published).
    pub sources: Option<usize>,
    /// Bytes of `sources.tar.gz`.
    pub sources_bytes: u64,
    /// Sources the notes reference that were not published, in path order.
    pub skipped: Vec<Skipped>,
}

/// A source the notes name that was not published, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The path the notes give.
    pub path: String,
    /// Why it was left out.
    pub why: SkipReason,
}

/// Why a source the notes name was left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Not a regular file (gone, a directory, unreadable).
    Missing,
    /// Over `--max-source-bytes`.
    TooLarge,
    /// Its name does not end like a C/C++ source or header.
    NotSource,
    /// Its real path (symbolic links resolved) is not under `--source-root`.
    OutsideRoot,
}

impl SkipReason {
    /// The reason as the summaries print it.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Missing => "missing",
            SkipReason::TooLarge => "over --max-source-bytes",
            SkipReason::NotSource => "not a C/C++ source or header",
            SkipReason::OutsideRoot => "outside --source-root",
        }
    }
}

impl Published {
    fn human(&self, bucket: &str) -> String {
        let mut s = format!(
            "published s3://{bucket}/builds/{}/notes.tar.gz ({} notes, {} bytes)",
            self.build, self.notes, self.notes_bytes
        );
        if let Some(n) = self.sources {
            s.push_str(&format!(
                "\npublished s3://{bucket}/builds/{}/sources.tar.gz ({n} sources, {} bytes)",
                self.build, self.sources_bytes
            ));
        }
        if !self.skipped.is_empty() {
            s.push_str(&format!(
                "\nskipped {} sources the notes name: {}",
                self.skipped.len(),
                self.skipped
                    .iter()
                    .take(10)
                    .map(|k| format!("{} ({})", k.path, k.why.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            if self.skipped.len() > 10 {
                s.push_str(", ...");
            }
        }
        s
    }

    fn json(&self, bucket: &str) -> String {
        serde_json::json!({
            "bucket": bucket,
            "build": self.build,
            "notes": {"key": format!("builds/{}/notes.tar.gz", self.build), "files": self.notes, "bytes": self.notes_bytes},
            "sources": self.sources.map(|n| serde_json::json!({
                "key": format!("builds/{}/sources.tar.gz", self.build), "files": n, "bytes": self.sources_bytes,
            })),
            "skipped": self
                .skipped
                .iter()
                .map(|k| serde_json::json!({"path": k.path, "why": k.why.as_str()}))
                .collect::<Vec<_>>(),
        })
        .to_string()
    }
}

/// Packs and uploads the notes and sources of `p.dir` for `build`: the sources first and the
/// notes last, so a build whose notes are visible has its sources too. Idempotent: the same
/// tree gives the same objects. Errors: a message naming the file or cap.
pub async fn publish(
    store: &impl BuildStore,
    build: &BuildId,
    p: &PublishArgs,
) -> Result<Published, String> {
    let notes = find_notes(&p.dir)?;
    let notes_tar = tempfile::NamedTempFile::new().map_err(|e| format!("scratch file: {e}"))?;
    let notes_bytes = write_tar(notes_tar.path(), &notes)?;
    let mut out = Published {
        build: build.to_string(),
        notes: notes.len(),
        notes_bytes,
        ..Published::default()
    };
    if !p.no_sources {
        let (sources, skipped) = match &p.sources {
            Some(dir) => (find_sources(dir, p)?, Vec::new()),
            None => referenced_sources(&notes, p)?,
        };
        let tar = tempfile::NamedTempFile::new().map_err(|e| format!("scratch file: {e}"))?;
        out.sources_bytes = write_tar(tar.path(), &sources)?;
        out.sources = Some(sources.len());
        out.skipped = skipped;
        store
            .put_part(build, BuildPart::Sources, tar.path())
            .await
            .map_err(|e| format!("uploading builds/{build}/sources.tar.gz: {}", chain(&e)))?;
    }
    store
        .put_part(build, BuildPart::Notes, notes_tar.path())
        .await
        .map_err(|e| format!("uploading builds/{build}/notes.tar.gz: {}", chain(&e)))?;
    Ok(out)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A file to archive: its path inside the archive and where to read it.
type Entries = BTreeMap<String, PathBuf>;

/// The `/`-joined path of `p` under `base`, when it is UTF-8 (archive paths must be).
fn relative(base: &Path, p: &Path) -> Option<String> {
    let rel = p.strip_prefix(base).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Every regular file under `dir` that `want` accepts (symbolic links are not followed, so
/// nothing outside `dir` is published), by path relative to `dir`.
fn walk(dir: &Path, want: impl Fn(&Path) -> bool) -> Result<Vec<(String, PathBuf, u64)>, String> {
    let meta = fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    crate::files::regular_files(dir, want)?
        .into_iter()
        .map(|(p, len)| match relative(dir, &p) {
            Some(rel) => Ok((rel, p, len)),
            None => Err(format!("{}: the path is not UTF-8", p.display())),
        })
        .collect()
}

/// Every `.gcno` under `dir`, within the processor's caps.
fn find_notes(dir: &Path) -> Result<Entries, String> {
    let found = walk(dir, |p| p.extension().is_some_and(|e| e == "gcno"))?;
    if found.is_empty() {
        return Err(format!(
            "no .gcno files under {}: give the build's output directory (where gcc --coverage wrote them)",
            dir.display()
        ));
    }
    if found.len() > MAX_NOTES {
        return Err(format!(
            "{} .gcno files under {}: more than the {MAX_NOTES} a report can read",
            found.len(),
            dir.display()
        ));
    }
    let mut total = 0u64;
    let mut out = Entries::new();
    for (rel, path, len) in found {
        if len > MAX_NOTES_FILE_BYTES {
            return Err(format!(
                "{} is over {MAX_NOTES_FILE_BYTES} bytes",
                path.display()
            ));
        }
        total += len;
        out.insert(rel, path);
    }
    if total > MAX_NOTES_BYTES {
        return Err(format!(
            "the .gcno files under {} are over {MAX_NOTES_BYTES} bytes in all",
            dir.display()
        ));
    }
    Ok(out)
}

/// Every C/C++ source and header under `dir` (see [`SOURCE_EXTENSIONS`]), skipping files over
/// the per-file cap and refusing more than the total cap.
fn find_sources(dir: &Path, p: &PublishArgs) -> Result<Entries, String> {
    let found = walk(dir, is_source)?;
    let mut total = 0u64;
    let mut out = Entries::new();
    for (rel, path, len) in found {
        if len > p.max_source_bytes {
            continue;
        }
        total += len;
        if total > p.max_sources_bytes {
            return Err(sources_over(p));
        }
        out.insert(rel, path);
    }
    Ok(out)
}

/// Whether the file name ends like a C/C++ source or header ([`SOURCE_EXTENSIONS`], any case).
fn is_source(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SOURCE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sources_over(p: &PublishArgs) -> String {
    format!(
        "the sources are over --max-sources-bytes ({} bytes) in all; raise it or publish a narrower --sources directory",
        p.max_sources_bytes
    )
}

/// The sources the notes reference, as the engine names them in a report (the compilation
/// directory joined to relative names), through [`select_sources`].
fn referenced_sources(notes: &Entries, p: &PublishArgs) -> Result<(Entries, Vec<Skipped>), String> {
    let mut paths = std::collections::BTreeSet::new();
    for path in notes.values() {
        let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path.display().to_string();
        // A notes file the engine cannot read is reported when a task renders; here it just
        // names no sources.
        let Ok(parsed) = ccaas_gcov::gcno::parse(&name, &bytes) else {
            continue;
        };
        for s in &parsed.sources {
            let full = match parsed.cwd.as_deref() {
                Some(cwd) if !s.starts_with('/') && !cwd.is_empty() => {
                    ccaas_gcov::format::canonicalize(&format!("{cwd}/{s}"))
                }
                _ => ccaas_gcov::format::canonicalize(s),
            };
            // Only absolute names say where the file is; a relative one (no compilation
            // directory recorded) cannot be found reliably.
            if full.starts_with('/') {
                paths.insert(full);
            }
        }
    }
    select_sources(paths, p)
}

/// Of the absolute `paths` the notes name, the C/C++ sources and headers whose real path
/// (symbolic links resolved) is under `--source-root` and within the caps, each stored under
/// its named path without the leading `/` and read from its real path. The rest come back as
/// skipped, with the reason; more than `--max-sources-bytes` in all is refused.
fn select_sources(
    paths: std::collections::BTreeSet<String>,
    p: &PublishArgs,
) -> Result<(Entries, Vec<Skipped>), String> {
    let root = fs::canonicalize(&p.source_root)
        .map_err(|e| format!("--source-root {}: {e}", p.source_root.display()))?;
    let mut out = Entries::new();
    let mut skipped = Vec::new();
    let mut total = 0u64;
    for full in paths {
        let skip = |why| Skipped {
            path: full.clone(),
            why,
        };
        if !is_source(Path::new(&full)) {
            skipped.push(skip(SkipReason::NotSource));
            continue;
        }
        let Ok(real) = fs::canonicalize(&full) else {
            skipped.push(skip(SkipReason::Missing));
            continue;
        };
        // The real path, so a link inside the root that points out of it is refused, and a
        // link whose target is not a source either.
        if !real.starts_with(&root) {
            skipped.push(skip(SkipReason::OutsideRoot));
            continue;
        }
        if !is_source(&real) {
            skipped.push(skip(SkipReason::NotSource));
            continue;
        }
        let meta = match fs::metadata(&real) {
            Ok(m) if m.is_file() => m,
            _ => {
                skipped.push(skip(SkipReason::Missing));
                continue;
            }
        };
        if meta.len() > p.max_source_bytes {
            skipped.push(skip(SkipReason::TooLarge));
            continue;
        }
        total += meta.len();
        if total > p.max_sources_bytes {
            return Err(sources_over(p));
        }
        let rel = full.trim_start_matches('/').to_string();
        out.insert(rel, real);
    }
    Ok((out, skipped))
}

/// Writes a deterministic `.tar.gz` of `entries` (sorted, mode 0644, time 0, owner 0) to `to`
/// and returns its size. A file that changes size while it is read is an error.
fn write_tar(to: &Path, entries: &Entries) -> Result<u64, String> {
    let file = fs::File::create(to).map_err(|e| format!("scratch file: {e}"))?;
    let gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, path) in entries {
        let f = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let len = f
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        let mut h = tar::Header::new_gnu();
        h.set_size(len);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append_data(&mut h, name, f.take(len))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let gz = tar
        .into_inner()
        .map_err(|e| format!("writing the archive: {e}"))?;
    let mut w = gz
        .finish()
        .map_err(|e| format!("writing the archive: {e}"))?;
    w.flush().map_err(|e| format!("writing the archive: {e}"))?;
    drop(w);
    fs::metadata(to)
        .map(|m| m.len())
        .map_err(|e| format!("scratch file: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccaas_app::memory::MemoryBuilds;

    fn args(dir: &Path) -> PublishArgs {
        PublishArgs {
            dir: dir.to_path_buf(),
            build: "17.1.0-0.0.16-1234567".into(),
            sources: None,
            source_root: dir.to_path_buf(),
            no_sources: false,
            bucket: "b".into(),
            max_source_bytes: 16 << 20,
            max_sources_bytes: 512 << 20,
            json: false,
        }
    }

    fn entries(targz: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(targz));
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let p = e.path().unwrap().to_string_lossy().into_owned();
                let mut b = Vec::new();
                e.read_to_end(&mut b).unwrap();
                (p, b)
            })
            .collect()
    }

    #[tokio::test]
    async fn notes_keep_their_relative_paths_and_sources_come_from_the_sources_dir() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("out");
        fs::create_dir_all(dir.join("tmm/obj")).unwrap();
        fs::write(dir.join("tmm/obj/a.gcno"), b"notes-a").unwrap();
        fs::write(dir.join("b.gcno"), b"notes-b").unwrap();
        fs::write(dir.join("tmm/obj/a.o"), b"object").unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("tmm")).unwrap();
        fs::write(src.join("tmm/a.c"), b"int a;").unwrap();
        fs::write(src.join("tmm/a.h"), b"int a(void);").unwrap();
        fs::write(src.join("tmm/big.c"), vec![b'x'; 100]).unwrap();
        fs::write(src.join("README"), b"not a source").unwrap();
        let store = MemoryBuilds::default();
        let build = BuildId::parse("17.1.0-0.0.16-1234567").unwrap();
        let mut p = args(&dir);
        p.sources = Some(src);
        p.max_source_bytes = 50;
        let got = publish(&store, &build, &p).await.unwrap();
        assert_eq!((got.notes, got.sources), (2, Some(2)));
        let objects = store.objects();
        let notes = entries(&objects["builds/17.1.0-0.0.16-1234567/notes.tar.gz"]);
        assert_eq!(
            notes,
            vec![
                ("b.gcno".to_string(), b"notes-b".to_vec()),
                ("tmm/obj/a.gcno".to_string(), b"notes-a".to_vec())
            ]
        );
        let sources = entries(&objects["builds/17.1.0-0.0.16-1234567/sources.tar.gz"]);
        let names: Vec<&str> = sources.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["tmm/a.c", "tmm/a.h"], "big.c is over the cap");

        // The same tree gives the same bytes.
        let again = MemoryBuilds::default();
        publish(&again, &build, &p).await.unwrap();
        assert_eq!(again.objects(), objects);
    }

    #[tokio::test]
    async fn a_directory_without_notes_or_sources_over_the_total_cap_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let store = MemoryBuilds::default();
        let build = BuildId::parse("1.0-2").unwrap();
        let e = publish(&store, &build, &args(t.path())).await.unwrap_err();
        assert!(e.contains("no .gcno files"), "{e}");
        fs::write(t.path().join("x.gcno"), b"n").unwrap();
        fs::write(t.path().join("x.c"), vec![b'x'; 100]).unwrap();
        let mut p = args(t.path());
        p.sources = Some(t.path().to_path_buf());
        p.max_sources_bytes = 99;
        let e = publish(&store, &build, &p).await.unwrap_err();
        assert!(e.contains("--max-sources-bytes"), "{e}");
        assert!(store.objects().is_empty(), "nothing uploaded");
    }

    #[test]
    fn referenced_sources_are_stored_under_their_absolute_path_without_the_slash() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().canonicalize().unwrap();
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(
            dir.join("src/m.h"),
            "static inline int twice(int x) { return 2 * x; }\n",
        )
        .unwrap();
        fs::write(
            dir.join("src/m.c"),
            "#include \"m.h\"\nint main(void) { return twice(0); }\n",
        )
        .unwrap();
        fs::create_dir_all(dir.join("obj")).unwrap();
        let ok = std::process::Command::new("gcc")
            .args(["--coverage", "-O0", "-c", "../src/m.c", "-o", "m.o"])
            .current_dir(dir.join("obj"))
            .status()
            .expect("gcc runs")
            .success();
        assert!(ok, "gcc --coverage failed");
        let notes = find_notes(&dir.join("obj")).unwrap();
        assert_eq!(notes.keys().collect::<Vec<_>>(), ["m.gcno"]);
        let (found, skipped) = referenced_sources(&notes, &args(&dir)).unwrap();
        let want = |f: &str| {
            dir.join(f)
                .display()
                .to_string()
                .trim_start_matches('/')
                .to_string()
        };
        assert!(
            found.contains_key(&want("src/m.c")),
            "{found:?} {skipped:?}"
        );
        assert!(
            found.contains_key(&want("src/m.h")),
            "{found:?} {skipped:?}"
        );
        assert_eq!(found[&want("src/m.c")], dir.join("src/m.c"));

        // A source that is gone is skipped, not an error.
        fs::remove_file(dir.join("src/m.h")).unwrap();
        let (found, skipped) = referenced_sources(&notes, &args(&dir)).unwrap();
        assert!(!found.contains_key(&want("src/m.h")));
        assert!(skipped.contains(&Skipped {
            path: dir.join("src/m.h").display().to_string(),
            why: SkipReason::Missing
        }));

        // Under a source root that holds only obj/, nothing is published and both are named.
        let mut narrow = args(&dir);
        narrow.source_root = dir.join("obj");
        let (found, skipped) = referenced_sources(&notes, &narrow).unwrap();
        assert!(found.is_empty(), "{found:?}");
        assert!(skipped.contains(&Skipped {
            path: dir.join("src/m.c").display().to_string(),
            why: SkipReason::OutsideRoot
        }));
    }

    /// A tree with a source root holding sources, links and a non-source, and a secret
    /// outside it: `(tempdir, root, outside)`, all canonical.
    fn rooted_tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir_all(root.join("src")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("src/a.c"), b"int a;").unwrap();
        fs::write(root.join("src/a.HPP"), b"int b;").unwrap();
        fs::write(root.join("src/notes.txt"), b"not a source").unwrap();
        fs::write(outside.join("secret.c"), b"top secret").unwrap();
        fs::write(outside.join("credentials"), b"aws_secret_access_key").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.c"), root.join("src/out.c")).unwrap();
        std::os::unix::fs::symlink("../../outside/credentials", root.join("src/creds.h")).unwrap();
        std::os::unix::fs::symlink("a.c", root.join("src/inside.c")).unwrap();
        std::os::unix::fs::symlink(root.join("src/notes.txt"), root.join("src/notes.h")).unwrap();
        (t, root, outside)
    }

    #[test]
    fn only_sources_whose_real_path_is_under_the_source_root_are_taken() {
        let (_t, root, outside) = rooted_tree();
        let name = |p: &Path| p.display().to_string();
        let cases = [
            (root.join("src/a.c"), None),
            (root.join("src/a.HPP"), None),
            (root.join("src/inside.c"), None),
            (root.join("src/notes.txt"), Some(SkipReason::NotSource)),
            (root.join("src/notes.h"), Some(SkipReason::NotSource)),
            (root.join("src/out.c"), Some(SkipReason::OutsideRoot)),
            (root.join("src/creds.h"), Some(SkipReason::OutsideRoot)),
            (
                root.join("src/../../outside/secret.c"),
                Some(SkipReason::OutsideRoot),
            ),
            (outside.join("secret.c"), Some(SkipReason::OutsideRoot)),
            (outside.join("credentials"), Some(SkipReason::NotSource)),
            (PathBuf::from("/etc/passwd"), Some(SkipReason::NotSource)),
            (root.join("src/gone.c"), Some(SkipReason::Missing)),
            (root.join("src"), Some(SkipReason::NotSource)),
        ];
        let mut p = args(&root);
        p.source_root = root.clone();
        let paths = cases.iter().map(|(f, _)| name(f)).collect();
        let (found, skipped) = select_sources(paths, &p).unwrap();
        for (file, want) in &cases {
            let rel = name(file).trim_start_matches('/').to_string();
            let got = skipped.iter().find(|k| k.path == name(file)).map(|k| k.why);
            assert_eq!(got, *want, "{}", file.display());
            assert_eq!(
                found.contains_key(&rel),
                want.is_none(),
                "{}",
                file.display()
            );
        }
        // A link inside the root is read from its real path, under the name the notes give.
        let link = name(&root.join("src/inside.c"));
        assert_eq!(found[link.trim_start_matches('/')], root.join("src/a.c"));
        assert_eq!(found.len() + skipped.len(), cases.len());
    }

    #[tokio::test]
    async fn skipped_sources_are_counted_and_the_first_ones_named_in_the_summary() {
        let (_t, root, outside) = rooted_tree();
        let mut p = args(&root);
        p.source_root = root.clone();
        let paths: std::collections::BTreeSet<String> = (0..12)
            .map(|i| format!("{}/stolen{i:02}.c", outside.display()))
            .chain([format!("{}/src/a.c", root.display())])
            .collect();
        for f in &paths {
            if !f.ends_with("/src/a.c") {
                fs::write(f, b"x").unwrap();
            }
        }
        let (found, skipped) = select_sources(paths, &p).unwrap();
        assert_eq!(found.len(), 1);
        let published = Published {
            build: "1.0-2".into(),
            sources: Some(found.len()),
            skipped,
            ..Published::default()
        };
        let human = published.human("b");
        assert!(
            human.contains("skipped 12 sources the notes name"),
            "{human}"
        );
        assert!(
            human.contains("stolen00.c (outside --source-root)"),
            "{human}"
        );
        assert!(!human.contains("stolen11.c"), "only the first ten: {human}");
        assert!(human.ends_with(", ..."), "{human}");
        let json: serde_json::Value = serde_json::from_str(&published.json("b")).unwrap();
        assert_eq!(json["skipped"].as_array().unwrap().len(), 12);
        assert_eq!(json["skipped"][0]["why"], "outside --source-root");
    }
}
