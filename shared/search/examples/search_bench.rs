//! The search benchmark (docs/benchmarks.md, "Search"): indexes N generated tasks (100,000 by
//! default) into a fresh tantivy index, reopens it (the load time), and times a fixed mix of
//! queries through the `TaskSearch` port. Not a test: run it with `bench/search-bench.sh`.
//!
//! `search_bench [N] [DIR]`: DIR (default: a new directory under the temp dir) is left behind
//! for inspection only when given.

use std::time::{Duration, Instant};

use ccaas_app::ports::{SearchDoc, TaskSearch};
use ccaas_domain::{SearchQuery, Status, TaskId, TaskType};
use ccaas_search::TantivySearch;

/// A small deterministic generator (xorshift64*), so every run indexes the same tasks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SUITES: [&str; 12] = [
    "nightly",
    "smoke",
    "regression",
    "ltm",
    "gtm",
    "asm",
    "apm",
    "afm",
    "ssl",
    "http2",
    "dns",
    "irules",
];
const MODULES: [&str; 6] = ["tmm", "mcpd", "bd", "apmd", "tmrouted", "named"];
const ERRORS: [(&str, &str); 5] = [
    ("unreachable", "the device did not answer on port 22"),
    (
        "no_data",
        "no .gcda file was written under /var/gcov for tmm",
    ),
    ("timeout", "the device went silent for 120 s during tar"),
    (
        "notes_missing",
        "no notes for build 17.1.0-0.0.4 are published",
    ),
    ("auth_failed", "the device refused the password of root"),
];

/// A vocabulary of made-up words for log text: `w0` .. `w4999`, skewed so few are common.
fn word(rng: &mut Rng) -> String {
    let r = rng.below(5000);
    format!("w{}", r * r / 5000)
}

fn doc(i: usize, rng: &mut Rng, base_ms: u64) -> SearchDoc {
    let suite = SUITES[rng.below(SUITES.len())];
    let failed = rng.below(5) == 0;
    let status = if failed {
        Status::Failed
    } else if rng.below(20) == 0 {
        Status::Running
    } else {
        Status::Succeeded
    };
    let (error_code, error_message) = if failed {
        let (c, m) = ERRORS[rng.below(ERRORS.len())];
        (Some(c.to_owned()), Some(m.to_owned()))
    } else {
        (None, None)
    };
    let mut log = String::new();
    for _ in 0..(4 + rng.below(8)) {
        log.push_str(&format!(
            "tmsh show sys {} {}\n",
            word(rng),
            MODULES[rng.below(MODULES.len())]
        ));
        for _ in 0..(10 + rng.below(30)) {
            log.push_str(&word(rng));
            log.push(' ');
        }
        log.push('\n');
    }
    SearchDoc {
        id: TaskId::from_parts(base_ms + i as u64 * 1000, rng.next() as u128),
        name: Some(format!("{suite} run {}", i % 997)),
        user: format!("user{}", rng.below(200)),
        host: format!("10.0.{}.{}", rng.below(4), rng.below(50)),
        port: 22,
        task_type: [TaskType::CoverageStart, TaskType::CoverageEnd][rng.below(2)],
        status,
        modules: vec![MODULES[rng.below(MODULES.len())].to_owned()],
        build: Some(format!("17.1.{}-0.0.{}", rng.below(3), rng.below(20))),
        error_code,
        error_message,
        log,
        created: String::from("2026-12-01T00:00:00Z"),
    }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let given = args.next().map(std::path::PathBuf::from);
    let dir = given.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ccaas-search-bench-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&dir);

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let index = TantivySearch::open(&dir)?;
    let started = Instant::now();
    let batch = 2000;
    let mut log_bytes = 0usize;
    for start in (0..n).step_by(batch) {
        let docs: Vec<SearchDoc> = (start..(start + batch).min(n))
            .map(|i| doc(i, &mut rng, 1_764_547_200_000))
            .collect();
        log_bytes += docs.iter().map(|d| d.log.len()).sum::<usize>();
        index.upsert(&docs).await?;
    }
    let indexing = started.elapsed();
    // Changes after the bulk load: 1,000 single-task upserts (the indexer's steady state).
    let mut rng2 = Rng(7);
    let started = Instant::now();
    for i in 0..1000 {
        let mut d = doc(i * (n / 1000).max(1), &mut rng2, 1_764_547_200_000);
        d.status = Status::Failed;
        index.upsert(&[d]).await?;
    }
    let updates = started.elapsed() / 1000;
    drop(index);
    let bytes = dir_bytes(&dir);

    let started = Instant::now();
    let index = TantivySearch::open(&dir)?;
    let first = index
        .search(&SearchQuery::parse([("q", "nightly")])?)
        .await?;
    let load = started.elapsed();
    assert!(first.total > 0);

    let queries: Vec<String> = vec![
        "nightly".into(),
        "regression tmm".into(),
        "\"tmsh show sys\"".into(),
        "gcda user:user17".into(),
        "status:failed".into(),
        "silent status:failed type:code-coverage-end".into(),
        "device:10.0.1.7 smoke".into(),
        "w12 w400 w3000".into(),
        "w4999".into(),
        "17.1.2 notes".into(),
        "run 500".into(),
        "user:user3".into(),
        "".into(),
    ];
    let mut times = Vec::new();
    let mut per_query = Vec::new();
    for q in &queries {
        let parsed = SearchQuery::parse([("q", q.as_str())])?;
        let mut mine = Vec::new();
        let mut total = 0;
        for _ in 0..30 {
            let t = Instant::now();
            let page = index.search(&parsed).await?;
            mine.push(t.elapsed());
            total = page.total;
        }
        mine.sort();
        per_query.push((
            q.clone(),
            total,
            percentile(&mine, 0.5),
            percentile(&mine, 0.95),
        ));
        times.extend(mine);
    }
    // Deep paging: the page at hit 9,900.
    let deep = SearchQuery {
        offset: 9_900,
        limit: 100,
        ..SearchQuery::parse([("q", "nightly")])?
    };
    let t = Instant::now();
    let _ = index.search(&deep).await?;
    let deep_time = t.elapsed();
    times.sort();

    println!(
        "tasks: {n}; log text: {:.1} MiB",
        log_bytes as f64 / 1048576.0
    );
    println!(
        "bulk indexing: {:.1} s ({:.0} tasks/s, batches of {batch}); one-task upsert: {:.1} ms",
        indexing.as_secs_f64(),
        n as f64 / indexing.as_secs_f64(),
        updates.as_secs_f64() * 1000.0
    );
    println!("index on disk: {:.1} MiB", bytes as f64 / 1048576.0);
    println!(
        "load (open + first query): {:.0} ms",
        load.as_secs_f64() * 1000.0
    );
    println!(
        "queries: {} runs; p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms; page at hit 9,900: {:.2} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.95).as_secs_f64() * 1000.0,
        times
            .last()
            .map(|t| t.as_secs_f64() * 1000.0)
            .unwrap_or(0.0),
        deep_time.as_secs_f64() * 1000.0
    );
    println!("| q | hits | p50 ms | p95 ms |");
    println!("|---|---|---|---|");
    for (q, total, p50, p95) in per_query {
        println!(
            "| `{}` | {total} | {:.2} | {:.2} |",
            if q.is_empty() { "(empty)" } else { &q },
            p50.as_secs_f64() * 1000.0,
            p95.as_secs_f64() * 1000.0
        );
    }
    drop(index);
    if given.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
