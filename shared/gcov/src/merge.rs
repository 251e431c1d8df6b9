//! Merges per-translation-unit results into one [`Coverage`]: line counts summed by (file, line),
//! branches summed by (file, line, index), functions summed by (file, start line, name). This is
//! where code in headers, several runs, several .gcda and several build directories meet.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::model::{Coverage, FileCoverage, FunctionCoverage, LineCoverage};
use crate::solve::UnitCoverage;

/// A solved unit with its source names already mapped to report paths; `None` drops a source.
#[derive(Debug, Clone)]
pub struct MappedUnit {
    /// The solved unit.
    pub unit: UnitCoverage,
    /// Report path per source of the unit, `None` when filtered out.
    pub paths: Vec<Option<String>>,
}

/// What a merge found odd (negative counts clamped to zero), per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeNote {
    /// The report path.
    pub path: String,
    /// Lines whose summed count was negative (corrupt or racy counters).
    pub negative_lines: u32,
}

/// One unit's share of a file: (unit index, source index in the unit, line range in the unit).
type Part = (usize, u32, usize, usize);

/// Merges units into a coverage report (totals computed).
pub fn merge(units: &[MappedUnit]) -> (Coverage, Vec<MergeNote>) {
    // path -> list of (unit, source index, line range in unit.lines)
    let mut by_path: HashMap<&str, Vec<Part>> = HashMap::new();
    for (ui, mu) in units.iter().enumerate() {
        let lines = &mu.unit.lines;
        let mut seen = vec![false; mu.paths.len()];
        let mut i = 0;
        while i < lines.len() {
            let s = lines[i].source;
            let start = i;
            while i < lines.len() && lines[i].source == s {
                i += 1;
            }
            if let Some(Some(p)) = mu.paths.get(s as usize) {
                by_path
                    .entry(p.as_str())
                    .or_default()
                    .push((ui, s, start, i));
                seen[s as usize] = true;
            }
        }
        // Files that only define functions (no lines) still get an entry.
        for f in &mu.unit.functions {
            if let Some(Some(p)) = mu.paths.get(f.source as usize)
                && !seen[f.source as usize]
            {
                seen[f.source as usize] = true;
                by_path
                    .entry(p.as_str())
                    .or_default()
                    .push((ui, f.source, 0, 0));
            }
        }
    }
    let mut paths: Vec<(&str, Vec<Part>)> = by_path.into_iter().collect();
    paths.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let merged: Vec<(String, FileCoverage, u32)> = paths
        .par_iter()
        .map(|(path, parts)| {
            let (fc, neg) = merge_file(units, parts);
            (path.to_string(), fc, neg)
        })
        .collect();
    let mut cov = Coverage::default();
    let mut notes = Vec::new();
    for (path, fc, neg) in merged {
        if neg > 0 {
            notes.push(MergeNote {
                path: path.clone(),
                negative_lines: neg,
            });
        }
        cov.files.insert(path, fc);
    }
    cov.compute_totals();
    (cov, notes)
}

fn merge_file(units: &[MappedUnit], parts: &[Part]) -> (FileCoverage, u32) {
    // Gather (line, unit order, index) and sort by line, stable in unit order.
    let n: usize = parts.iter().map(|p| p.3 - p.2).sum();
    let mut refs: Vec<(u32, u32, u32)> = Vec::with_capacity(n);
    for (k, &(ui, _s, a, b)) in parts.iter().enumerate() {
        for (i, l) in units[ui].unit.lines[a..b].iter().enumerate() {
            refs.push((l.line, k as u32, (a + i) as u32));
        }
    }
    let sorted = refs
        .windows(2)
        .all(|w| (w[0].0, w[0].1) <= (w[1].0, w[1].1));
    if !sorted {
        refs.sort_unstable();
    }
    let mut fc = FileCoverage::default();
    let mut wide: Vec<i64> = Vec::new();
    let mut negative = 0u32;
    let mut i = 0;
    while i < refs.len() {
        let line = refs[i].0;
        let mut count = 0i64;
        let mut unexec = false;
        wide.clear();
        while i < refs.len() && refs[i].0 == line {
            let (_, k, li) = refs[i];
            let u = &units[parts[k as usize].0].unit;
            let l = &u.lines[li as usize];
            count = count.wrapping_add(l.count);
            unexec |= l.unexecuted_block;
            let br = &u.branches[l.br_start as usize..(l.br_start + u32::from(l.br_len)) as usize];
            for (j, &c) in br.iter().enumerate() {
                if j < wide.len() {
                    wide[j] = wide[j].wrapping_add(c);
                } else {
                    wide.push(c);
                }
            }
            i += 1;
        }
        if count < 0 {
            negative += 1;
        }
        let start = fc.branches.len() as u32;
        fc.branches.extend(wide.iter().map(|&c| c.max(0) as u64));
        fc.lines.push(LineCoverage {
            line,
            count: count.max(0) as u64,
            branches: (start, wide.len() as u32),
            unexecuted_block: unexec && count > 0,
        });
    }
    // Functions: key (start_line, name), counts summed.
    let mut fns: Vec<(u32, &str, u32, u32, u32, i64)> = Vec::new();
    for &(ui, s, _, _) in parts {
        for f in &units[ui].unit.functions {
            if f.source == s {
                fns.push((
                    f.start_line,
                    f.name.as_str(),
                    f.start_column,
                    f.end_line,
                    f.end_column,
                    f.count,
                ));
            }
        }
    }
    fns.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for f in fns {
        match fc.functions.last_mut() {
            Some(prev) if prev.start_line == f.0 && prev.name == f.1 => {
                prev.count = prev.count.saturating_add(f.5.max(0) as u64);
            }
            _ => fc.functions.push(FunctionCoverage {
                name: f.1.to_string(),
                start_line: f.0,
                start_column: f.2,
                end_line: f.3,
                end_column: f.4,
                count: f.5.max(0) as u64,
            }),
        }
    }
    fc.compute_totals();
    (fc, negative)
}
