//! Measures render time and page sizes of a report rebuilt from an lcov tracefile (such as
//! `ccaas report`'s `coverage.info`), for several page sizes:
//!
//! `cargo run --release -p ccaas-report --example measure -- coverage.info OUT [LINES_PER_PAGE...]`
//!
//! Writes `OUT/<lines-per-page>/` for each value (0 = one page per file) and prints, per value,
//! the render time, the number of files, the total bytes and the largest page.

#![allow(
    clippy::expect_used,
    reason = "a measurement run by hand: a bad path or tracefile should stop it loudly"
)]

use std::collections::BTreeMap;
use std::time::Instant;

use ccaas_gcov::{Coverage, FileCoverage, FunctionCoverage, LineCoverage};

fn parse(text: &str) -> Coverage {
    let mut cov = Coverage::default();
    let mut path = String::new();
    let mut lines: BTreeMap<u32, u64> = BTreeMap::new();
    let mut branches: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut fn_lines: BTreeMap<String, u32> = BTreeMap::new();
    let mut fn_counts: BTreeMap<String, u64> = BTreeMap::new();
    for l in text.lines() {
        if let Some(p) = l.strip_prefix("SF:") {
            path = p.to_string();
        } else if let Some(r) = l.strip_prefix("DA:") {
            let mut it = r.split(',');
            let n = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            let c = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            lines.insert(n, c);
        } else if let Some(r) = l.strip_prefix("BRDA:") {
            let v: Vec<&str> = r.split(',').collect();
            let n = v[0].parse().unwrap_or(0);
            let c = v[3].parse().unwrap_or(0);
            branches.entry(n).or_default().push(c);
        } else if let Some(r) = l.strip_prefix("FN:") {
            if let Some((n, name)) = r.split_once(',') {
                fn_lines.insert(name.to_string(), n.parse().unwrap_or(0));
            }
        } else if let Some(r) = l.strip_prefix("FNDA:") {
            if let Some((c, name)) = r.split_once(',') {
                fn_counts.insert(name.to_string(), c.parse().unwrap_or(0));
            }
        } else if l == "end_of_record" {
            let mut fc = FileCoverage::default();
            for (&n, &c) in &lines {
                let b = branches.remove(&n).unwrap_or_default();
                let start = fc.branches.len() as u32;
                fc.branches.extend(&b);
                fc.lines.push(LineCoverage {
                    line: n,
                    count: c,
                    branches: (start, b.len() as u32),
                    unexecuted_block: false,
                });
            }
            let mut fns: Vec<FunctionCoverage> = fn_lines
                .iter()
                .map(|(name, &start_line)| FunctionCoverage {
                    name: name.clone(),
                    start_line,
                    start_column: 0,
                    end_line: start_line,
                    end_column: 0,
                    count: fn_counts.get(name).copied().unwrap_or(0),
                })
                .collect();
            fns.sort_by(|a, b| (a.start_line, &a.name).cmp(&(b.start_line, &b.name)));
            fc.functions = fns;
            cov.files.insert(std::mem::take(&mut path), fc);
            lines.clear();
            branches.clear();
            fn_lines.clear();
            fn_counts.clear();
        }
    }
    cov.compute_totals();
    cov
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: measure coverage.info OUT [LINES_PER_PAGE...]");
        std::process::exit(2);
    }
    let cov = parse(&std::fs::read_to_string(&args[1]).expect("read the tracefile"));
    let sizes: Vec<usize> = if args.len() > 3 {
        args[3..]
            .iter()
            .map(|s| s.parse().expect("a number"))
            .collect()
    } else {
        vec![ccaas_report::DEFAULT_LINES_PER_PAGE, 0]
    };
    let read = |p: &str| std::fs::read(p).ok();
    for lpp in sizes {
        let opts = ccaas_report::Options {
            lines_per_page: lpp,
            ..Default::default()
        };
        let t = Instant::now();
        let files = ccaas_report::render(&cov, &opts, &read);
        let secs = t.elapsed().as_secs_f64();
        let total: usize = files.iter().map(|f| f.bytes.len()).sum();
        let largest = files.iter().max_by_key(|f| f.bytes.len()).expect("files");
        let dir = std::path::Path::new(&args[2]).join(lpp.to_string());
        for f in &files {
            let p = dir.join(&f.path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, &f.bytes).expect("write");
        }
        println!(
            "lines_per_page={lpp}: render {:.3} s, {} files, {:.1} MB, largest {} {:.2} MB",
            secs,
            files.len(),
            total as f64 / 1e6,
            largest.path,
            largest.bytes.len() as f64 / 1e6
        );
    }
}
