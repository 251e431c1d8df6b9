//! The impact query's benchmark (docs/benchmarks.md, "Impact query"): `generate DIR` writes
//! synthetic coverage indexes of one build (default 1,000 sessions × 5,000 files) under
//! `DIR/index/coverage/<build>/`; `query DIR` runs `ccaas_app::Impacts` (the very use case
//! behind `POST /v1/impact`) over them through a file-backed `IndexStore` that reads byte
//! ranges with `pread`, and prints wall-time percentiles, bytes read and peak RSS as JSON.
//! Run it through `bench/impact.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ccaas_app::ports::{IndexStore, LatestBuild, index_key};
use ccaas_app::{Error, Impacts};
use ccaas_domain::{BuildId, TaskId};
use ccaas_impact::{IndexBuilder, IndexMeta};

const BUILD: &str = "17.1.0-0.0.16-bench";
const MODULES: usize = 40;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn file_path(i: usize) -> String {
    format!(
        "/build/bigip/src/mod{}/sub{}/file{i}.c",
        i % MODULES,
        (i / MODULES) % 7
    )
}

/// The instrumented lines of file `i`: the same in every session of the build.
fn instrumented(i: usize) -> Vec<u32> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
    let n = 10 + r.below(110) as u32;
    let mut line = 1u32;
    (0..n)
        .map(|_| {
            line += 1 + r.below(4) as u32;
            line
        })
        .collect()
}

fn session_id(k: usize) -> TaskId {
    TaskId::from_parts(1_764_000_000_000 + k as u64 * 60_000, k as u128 + 1)
}

fn generate(dir: PathBuf, sessions: usize, files: usize) {
    let build = BuildId::parse(BUILD).unwrap();
    let out = dir.join(format!("index/coverage/{build}"));
    std::fs::create_dir_all(&out).unwrap();
    let ins: Vec<Vec<u32>> = (0..files).map(instrumented).collect();
    let started = Instant::now();
    let mut bytes = 0u64;
    for k in 0..sessions {
        let id = session_id(k);
        let mut b = IndexBuilder::new(IndexMeta {
            session: id.to_string(),
            task: session_id(k + sessions).to_string(),
            name: format!("suite-{}", k % 97),
            user: format!("user{}", k % 13),
            build: BUILD.into(),
            device: format!("10.0.{}.{}:22", k / 250, k % 250),
            ended_ms: id.unix_ms() + 30_000,
        });
        let mut r = Rng(k as u64 * 7919 + 17);
        // Each session runs about a third of the files, and about half of their lines.
        for (i, lines) in ins.iter().enumerate() {
            let ran = r.below(3) == 0;
            let mut exe = Vec::new();
            if ran {
                exe.extend(lines.iter().copied().filter(|_| r.below(2) == 0));
            }
            b.file(&file_path(i), lines.iter().copied(), exe);
        }
        let idx = b.finish().unwrap();
        bytes += idx.len() as u64;
        std::fs::write(out.join(format!("{id}.idx")), idx).unwrap();
    }
    println!(
        "{{\"generated\": {sessions}, \"files\": {files}, \"bytes\": {bytes}, \"secs\": {:.1}}}",
        started.elapsed().as_secs_f64()
    );
}

/// Indexes in a directory, read in ranges with `pread`: what the S3 adapter's ranged GETs do,
/// without the network.
#[derive(Clone)]
struct FileIndexes {
    dir: PathBuf,
    read: Arc<AtomicU64>,
    calls: Arc<AtomicU64>,
}

fn io(e: std::io::Error) -> Error {
    Error::Unavailable {
        backend: "bench files",
        source: Box::new(e),
    }
}

impl IndexStore for FileIndexes {
    async fn put_index(&self, _: &BuildId, _: &TaskId, _: Vec<u8>) -> Result<(), Error> {
        Ok(())
    }

    async fn list_sessions(&self, build: &BuildId, max: usize) -> Result<Vec<TaskId>, Error> {
        let dir = self.dir.join(format!("index/coverage/{build}"));
        let mut ids: Vec<TaskId> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| {
                let n = e.ok()?.file_name().into_string().ok()?;
                TaskId::parse(n.strip_suffix(".idx")?)
            })
            .collect();
        ids.sort();
        Ok(ids[ids.len().saturating_sub(max)..].to_vec())
    }

    async fn read_index(
        &self,
        build: &BuildId,
        session: &TaskId,
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let f = match std::fs::File::open(self.dir.join(index_key(build, session))) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let size = f.metadata().map_err(io)?.len();
        let n = len.min(size.saturating_sub(offset)) as usize;
        let mut buf = vec![0; n];
        f.read_exact_at(&mut buf, offset).map_err(io)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(Some(buf))
    }

    async fn put_merged_index(&self, _: &BuildId, _: &TaskId, _: Vec<u8>) -> Result<(), Error> {
        Ok(())
    }

    async fn read_merged_index(
        &self,
        _: &BuildId,
        _: &TaskId,
        _: u64,
        _: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        Ok(None)
    }

    async fn put_latest(&self, _: Option<&str>, _: &LatestBuild) -> Result<(), Error> {
        Ok(())
    }

    async fn latest(&self, _: Option<&str>) -> Result<Option<LatestBuild>, Error> {
        Ok(None)
    }
}

/// A git diff changing `per_file` lines in each of `files` files (spread over the build).
fn diff(files: usize, per_file: usize, total_files: usize) -> String {
    let mut d = String::new();
    for j in 0..files {
        let i = (j * 7919 + 13) % total_files;
        let p = file_path(i);
        let rel = p.trim_start_matches("/build/bigip/");
        d.push_str(&format!(
            "diff --git a/{rel} b/{rel}\n--- a/{rel}\n+++ b/{rel}\n"
        ));
        let lines = instrumented(i);
        for &l in lines.iter().take(per_file) {
            d.push_str(&format!("@@ -{l} +{l} @@\n-old\n+new\n"));
        }
    }
    d
}

fn vm(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn query(dir: PathBuf, rounds: usize) {
    let store = FileIndexes {
        dir,
        read: Arc::default(),
        calls: Arc::default(),
    };
    let impacts = Impacts {
        indexes: store.clone(),
    };
    let total_files = 5000;
    let rss_before = vm("VmRSS:");
    let mut results = Vec::new();
    for (files, per_file) in [(1, 5), (10, 10), (50, 20)] {
        let body = serde_json::to_vec(&serde_json::json!({
            "diff": diff(files, per_file, total_files),
            "build": BUILD,
        }))
        .unwrap();
        // One warm-up (the page cache), then timed rounds.
        let warm = impacts.impact(&body).await.unwrap();
        let mut times = Vec::new();
        let (r0, c0) = (
            store.read.load(Ordering::Relaxed),
            store.calls.load(Ordering::Relaxed),
        );
        for _ in 0..rounds {
            let t = Instant::now();
            let v = impacts.impact(&body).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(v.sessions_read, warm.sessions_read);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let pct =
            |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
        let per = |x: u64| x / rounds as u64;
        results.push(serde_json::json!({
            "files": files,
            "changed_lines": warm.changed_lines,
            "sessions_read": warm.sessions_read,
            "sessions_hit": warm.sessions.len(),
            "p50_ms": (pct(0.5) * 10.0).round() / 10.0,
            "p95_ms": (pct(0.95) * 10.0).round() / 10.0,
            "bytes_read": per(store.read.load(Ordering::Relaxed) - r0),
            "reads": per(store.calls.load(Ordering::Relaxed) - c0),
        }));
    }
    println!(
        "{}",
        serde_json::json!({
            "rounds": rounds,
            "queries": results,
            "rss_before_kb": rss_before,
            "peak_rss_kb": vm("VmHWM:"),
        })
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: impact_bench generate DIR [SESSIONS FILES] | query DIR [ROUNDS]";
    let (Some(cmd), Some(dir)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match cmd.as_str() {
        "generate" => generate(dir.into(), num(3, 1000), num(4, 5000)),
        "query" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(query(dir.into(), num(3, 20)));
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
