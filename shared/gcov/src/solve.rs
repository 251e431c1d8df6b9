//! Rebuilds gcov's counts for one translation unit (one notes file plus the summed counters of its
//! data files): solves the uninstrumented arcs by flow conservation, finds exceptional blocks, and
//! turns block counts into per-line counts, branches and function entry counts exactly as gcov 12
//! does (`solve_flow_graph`, `find_exception_blocks`, `add_line_counts`, `accumulate_line_info`
//! with its Hawick–James cycle search, and "group functions" that start on one line).

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::format::{ARC_FAKE, ARC_FALLTHROUGH, ARC_ON_TREE};
use crate::gcno::Notes;

/// The lines, branches and functions of one translation unit, per source file of its notes.
#[derive(Debug, Clone, Default)]
pub struct UnitCoverage {
    /// Source names (canonical, as in the notes); `lines` and `functions` index this.
    pub sources: Vec<String>,
    /// One entry per (source, line), sorted by (source, line).
    pub lines: Vec<UnitLine>,
    /// Branch taken-counts; each line owns `br_start..br_start + br_len`.
    pub branches: Vec<i64>,
    /// Functions (artificial ones dropped).
    pub functions: Vec<UnitFunction>,
}

/// One instrumented line of one translation unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitLine {
    /// Index into [`UnitCoverage::sources`].
    pub source: u32,
    /// Line number.
    pub line: u32,
    /// gcov's count (summed over group functions).
    pub count: i64,
    /// First branch in [`UnitCoverage::branches`].
    pub br_start: u32,
    /// Number of branches.
    pub br_len: u16,
    /// Some non-exceptional block on the line never ran.
    pub unexecuted_block: bool,
}

/// One function of one translation unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFunction {
    /// Index into [`UnitCoverage::sources`].
    pub source: u32,
    /// Mangled name.
    pub name: String,
    /// First line.
    pub start_line: u32,
    /// First column.
    pub start_column: u32,
    /// Last line.
    pub end_line: u32,
    /// Last column.
    pub end_column: u32,
    /// Entry count.
    pub count: i64,
    /// Blocks without entry and exit.
    pub blocks: u32,
    /// Blocks (without entry and exit) that ran.
    pub blocks_executed: u32,
}

/// Whose rules turn block counts into line counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// Decide per notes file: [`Flavor::Llvm`] when [`is_llvm`] says so, else [`Flavor::Gcc`].
    #[default]
    Auto,
    /// gcov 12 (GCC): lines get their blocks only on the last line of a location, entry and
    /// exit blocks excluded, group functions kept apart, branches sorted by destination.
    Gcc,
    /// `llvm-cov gcov` (clang's `--coverage`): every line of a block gets the block, no group
    /// functions, cycles cancelled one augmenting cycle at a time, branches in record order.
    Llvm,
}

/// Whether a notes file was written by clang/LLVM: LLVM stores the file stamp as every
/// function's CFG checksum, which GCC never does.
pub fn is_llvm(notes: &Notes) -> bool {
    !notes.functions.is_empty()
        && notes
            .functions
            .iter()
            .all(|f| f.cfg_checksum == notes.stamp)
}

/// Work limit of the cycle searches of one translation unit, in steps (real files need a tiny
/// fraction; a hostile graph gets an error instead of a hang).
const CYCLE_BUDGET: u64 = 200_000_000;
const NONE: u32 = u32::MAX;
const BIG: i64 = u32::MAX as i64;

/// Solves one translation unit. `counts` holds the summed arc counters of every function of
/// `notes` in order (`counters` of each); `has_data` is false when no .gcda exists (gcov then
/// reports every function with zero counts). Non-fatal oddities are appended to `warnings`.
pub fn solve(
    notes_name: &str,
    notes: &Notes,
    counts: &[u64],
    has_data: bool,
    flavor: Flavor,
    warnings: &mut Vec<String>,
) -> Result<UnitCoverage> {
    let llvm = match flavor {
        Flavor::Auto => is_llvm(notes),
        Flavor::Gcc => false,
        Flavor::Llvm => true,
    };
    let exit_block_is_one = notes.version.num >= 48;
    // ---- TU-wide flat graph: blocks and arcs of all non-artificial functions.
    let mut fn_block_base: Vec<u32> = Vec::with_capacity(notes.functions.len());
    let mut total_blocks = 0usize;
    let mut total_arcs = 0usize;
    for f in &notes.functions {
        fn_block_base.push(total_blocks as u32);
        total_blocks += f.blocks as usize;
        total_arcs += f.arcs.len();
    }
    let mut g = Graph::with_capacity(total_blocks, total_arcs);
    let mut counter_off = 0usize;
    for (fi, f) in notes.functions.iter().enumerate() {
        let n = f.counters as usize;
        let fcounts = counts.get(counter_off..counter_off + n).unwrap_or(&[]);
        counter_off += n;
        g.add_function(f, fn_block_base[fi], fcounts, !llvm);
        if llvm {
            g.llvm_propagate(fn_block_base[fi], f.blocks, exit_block_is_one);
        } else if !f.artificial && !g.solve_function(fn_block_base[fi], f.blocks, exit_block_is_one)
        {
            warnings.push(format!(
                "{notes_name}: graph is unsolvable for '{}'",
                f.name
            ));
        }
        if f.has_fake_call {
            g.find_exception_blocks(fn_block_base[fi], f.blocks);
        }
    }

    // ---- Group functions: non-artificial functions sharing (source, start line).
    let mut first_at: HashMap<(u32, u32), usize> = HashMap::new();
    let mut is_group = vec![false; notes.functions.len()];
    for (fi, f) in notes.functions.iter().enumerate() {
        if f.artificial || llvm {
            continue;
        }
        match first_at.get(&(f.source, f.start_line)) {
            Some(&other) => {
                is_group[other] = true;
                is_group[fi] = true;
            }
            None => {
                first_at.insert((f.source, f.start_line), fi);
            }
        }
    }

    // ---- add_line_counts: one entry per (block, location, line), plus a block marker on the
    // last line of each location.
    let mut entries: Vec<Entry> = Vec::new();
    let mut functions = Vec::new();
    let mut sorted_lines: Vec<u32> = Vec::new();
    for (fi, f) in notes.functions.iter().enumerate() {
        if f.artificial {
            continue;
        }
        let base = fn_block_base[fi];
        let nb = f.blocks;
        let mut blocks_executed = 0u32;
        let mut li = 0usize;
        for b in 0..nb {
            let gb = (base + b) as usize;
            let bcount = g.block_count[gb];
            if bcount != 0 && b != 0 && b + 1 != nb {
                blocks_executed += 1;
            }
            let exceptional = g.exceptional[gb];
            let mut last: Option<(u32, u32, u32)> = None;
            while li < f.locations.len() && f.locations[li].block < b {
                li += 1;
            }
            while li < f.locations.len() && f.locations[li].block == b {
                let loc = f.locations[li];
                li += 1;
                if llvm {
                    // llvm-cov: every line of the block, in record order, gets the block.
                    for &ln in f.location_lines(&loc) {
                        entries.push(Entry {
                            source: loc.source,
                            line: ln,
                            inst: 0,
                            seq: entries.len() as u32,
                            count: 0,
                            block: base + b,
                            unexecuted: bcount == 0,
                        });
                        g.last_line[gb] = (loc.source, ln);
                    }
                    continue;
                }
                sorted_lines.clear();
                sorted_lines.extend_from_slice(f.location_lines(&loc));
                sorted_lines.sort_unstable();
                for &ln in &sorted_lines {
                    let inst = if is_group[fi]
                        && f.source == loc.source
                        && f.start_line <= ln
                        && ln <= f.end_line
                    {
                        fi as u32 + 1
                    } else {
                        0
                    };
                    entries.push(Entry {
                        source: loc.source,
                        line: ln,
                        inst,
                        seq: entries.len() as u32,
                        count: bcount,
                        block: NONE,
                        unexecuted: !exceptional && bcount == 0,
                    });
                    last = Some((loc.source, ln, inst));
                }
                if b != 0
                    && b + 1 != nb
                    && let Some((source, line, inst)) = last
                {
                    entries.push(Entry {
                        source,
                        line,
                        inst,
                        seq: entries.len() as u32,
                        count: 0,
                        block: base + b,
                        unexecuted: false,
                    });
                }
            }
        }
        if llvm || f.counters > 0 || !has_data {
            functions.push(UnitFunction {
                source: f.source,
                name: f.name.clone(),
                start_line: f.start_line,
                start_column: f.start_column,
                end_line: f.end_line,
                end_column: f.end_column,
                count: if nb > 0 {
                    g.block_count[base as usize]
                } else {
                    0
                },
                blocks: nb.saturating_sub(2),
                blocks_executed,
            });
        }
    }
    entries.sort_unstable_by_key(|e| (e.source, e.line, e.inst, e.seq));

    // ---- accumulate_line_info per (source, line, instance); instances summed per line.
    let mut out = UnitCoverage {
        sources: notes.sources.clone(),
        functions,
        ..Default::default()
    };
    let mut blocks: Vec<u32> = Vec::new();
    let mut cyc = CycleScratch::default();
    let mut i = 0usize;
    while i < entries.len() {
        let (source, line, inst) = (entries[i].source, entries[i].line, entries[i].inst);
        let mut provisional = 0i64;
        let mut unexecuted = false;
        blocks.clear();
        while i < entries.len()
            && entries[i].source == source
            && entries[i].line == line
            && entries[i].inst == inst
        {
            let e = &entries[i];
            if e.block == NONE {
                provisional = provisional.wrapping_add(e.count);
                unexecuted |= e.unexecuted;
            } else {
                if llvm {
                    unexecuted |= e.unexecuted;
                }
                blocks.push(e.block);
            }
            i += 1;
        }
        let count = if blocks.is_empty() {
            Ok(provisional)
        } else if llvm {
            g.llvm_line_count(&blocks, &mut cyc)
        } else {
            g.line_count(&blocks, &mut cyc)
        };
        let count = count.map_err(|what| Error::Budget {
            file: notes_name.to_string(),
            function: format!(
                "line {line} of {}",
                notes.sources.get(source as usize).map_or("?", |s| s)
            ),
            what,
        })?;
        // Branches of the line.
        let br_from = out.branches.len();
        for &b in &blocks {
            if llvm {
                let r = g.succ(b);
                if g.last_line[b as usize] == (source, line) && r.len() > 1 {
                    out.branches.extend(r.map(|a| g.arc_count[a]));
                }
                continue;
            }
            for a in g.succ(b) {
                if !g.unconditional[a] && !g.call_non_return(a) {
                    out.branches.push(g.arc_count[a]);
                }
            }
        }
        let n_br = out.branches.len() - br_from;
        match out.lines.last_mut() {
            Some(prev) if prev.source == source && prev.line == line => {
                // Another instance (group function) of the same line: sum counts, merge branches
                // by index.
                prev.count = prev.count.wrapping_add(count);
                prev.unexecuted_block |= unexecuted;
                let prev_start = prev.br_start as usize;
                let prev_len = prev.br_len as usize;
                // The previous line's branches end at br_from.
                // Add the new branches into the previous ones index by index; the ones beyond
                // the previous count extend the line (they are already at the tail).
                let n_new = out.branches.len() - br_from;
                let overlap = n_new.min(prev_len);
                for k in 0..overlap {
                    let c = out.branches[br_from + k];
                    out.branches[prev_start + k] = out.branches[prev_start + k].wrapping_add(c);
                }
                // Move the non-overlapping rest down to follow the previous branches.
                out.branches
                    .copy_within(br_from + overlap.., prev_start + prev_len);
                out.branches
                    .truncate(prev_start + prev_len + (n_new - overlap));
                prev.br_len = branch_len(out.branches.len() - prev_start, notes_name, line)?;
            }
            _ => out.lines.push(UnitLine {
                source,
                line,
                count,
                br_start: br_from as u32,
                br_len: branch_len(n_br, notes_name, line)?,
                unexecuted_block: unexecuted,
            }),
        }
    }
    out.lines.shrink_to_fit();
    out.branches.shrink_to_fit();
    out.functions.shrink_to_fit();
    Ok(out)
}

/// A line's branch count, refused beyond what the model stores per line.
fn branch_len(n: usize, notes_name: &str, line: u32) -> Result<u16> {
    u16::try_from(n).map_err(|_| Error::Corrupt {
        file: notes_name.to_string(),
        offset: 0,
        what: format!("{n} branches on line {line}"),
    })
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    source: u32,
    line: u32,
    inst: u32,
    seq: u32,
    count: i64,
    block: u32,
    unexecuted: bool,
}

/// All blocks and arcs of one translation unit, numbered globally.
struct Graph {
    // blocks
    block_count: Vec<i64>,
    block_valid: Vec<bool>,
    exceptional: Vec<bool>,
    succ_start: Vec<u32>,
    succ_end: Vec<u32>,
    pred_start: Vec<u32>,
    pred_list: Vec<u32>,
    num_succ: Vec<i64>,
    num_pred: Vec<i64>,
    mark: Vec<u32>,
    generation: u32,
    /// (source, line) of each block's last line in record order (llvm-cov's `getLastLine`).
    last_line: Vec<(u32, u32)>,
    traversable: Vec<bool>,
    incoming: Vec<u32>,
    // arcs
    arc_src: Vec<u32>,
    arc_dst: Vec<u32>,
    arc_flags: Vec<u32>,
    arc_count: Vec<i64>,
    arc_valid: Vec<bool>,
    unconditional: Vec<bool>,
    is_throw: Vec<bool>,
    cs_count: Vec<i64>,
}

impl Graph {
    fn with_capacity(blocks: usize, arcs: usize) -> Graph {
        Graph {
            block_count: vec![0; blocks],
            block_valid: vec![false; blocks],
            exceptional: vec![false; blocks],
            succ_start: vec![0; blocks],
            succ_end: vec![0; blocks],
            pred_start: vec![0; blocks + 1],
            pred_list: Vec::with_capacity(arcs),
            num_succ: vec![0; blocks],
            num_pred: vec![0; blocks],
            mark: vec![0; blocks],
            generation: 0,
            last_line: vec![(NONE, NONE); blocks],
            traversable: vec![false; blocks],
            incoming: vec![NONE; blocks],
            arc_src: Vec::with_capacity(arcs),
            arc_dst: Vec::with_capacity(arcs),
            arc_flags: Vec::with_capacity(arcs),
            arc_count: Vec::with_capacity(arcs),
            arc_valid: Vec::with_capacity(arcs),
            unconditional: Vec::with_capacity(arcs),
            is_throw: Vec::with_capacity(arcs),
            cs_count: Vec::with_capacity(arcs),
        }
    }

    fn succ(&self, b: u32) -> std::ops::Range<usize> {
        self.succ_start[b as usize] as usize..self.succ_end[b as usize] as usize
    }

    /// A fake arc out of a non-entry block: a call that may not return.
    fn call_non_return(&self, a: usize) -> bool {
        self.arc_flags[a] & ARC_FAKE != 0 && self.arc_flags[a] & ENTRY_SRC == 0
    }

    /// Appends one function's blocks and arcs, assigning the measured counters in gcov's order
    /// (blocks ascending, arcs in record order) and then sorting each block's arcs by
    /// destination (stable, as gcov's bubble sort).
    fn add_function(
        &mut self,
        f: &crate::gcno::NoteFunction,
        base: u32,
        counts: &[u64],
        sort_by_dst: bool,
    ) {
        let a0 = self.arc_src.len();
        let mut ci = 0usize;
        let mut k = 0usize;
        for b in 0..f.blocks {
            let gb = (base + b) as usize;
            self.succ_start[gb] = (a0 + k) as u32;
            let mut non_fake = 0;
            let mut fake_from_call = false;
            let first = k;
            while k < f.arcs.len() && f.arcs[k].src == b {
                let arc = f.arcs[k];
                let mut flags = arc.flags;
                if b == 0 {
                    flags |= ENTRY_SRC;
                }
                let measured = flags & ARC_ON_TREE == 0;
                let count = if measured {
                    let c = counts.get(ci).copied().unwrap_or(0) as i64;
                    ci += 1;
                    c
                } else {
                    0
                };
                if flags & ARC_FAKE == 0 {
                    non_fake += 1;
                }
                if flags & ARC_FAKE != 0 && b != 0 {
                    fake_from_call = true;
                }
                self.arc_src.push(base + b);
                self.arc_dst.push(base + arc.dst);
                self.arc_flags.push(flags);
                self.arc_count.push(count);
                self.arc_valid.push(measured);
                self.unconditional.push(false);
                self.is_throw.push(false);
                self.cs_count.push(0);
                k += 1;
            }
            let range = a0 + first..a0 + k;
            self.succ_end[gb] = (a0 + k) as u32;
            if non_fake == 1 {
                for a in range.clone() {
                    if self.arc_flags[a] & ARC_FAKE == 0 {
                        self.unconditional[a] = true;
                    }
                }
            }
            if fake_from_call {
                for a in range.clone() {
                    if self.arc_flags[a] & (ARC_FAKE | ARC_FALLTHROUGH) == 0 {
                        self.is_throw[a] = true;
                    }
                }
            }
            // Stable sort of the block's arcs by destination.
            if sort_by_dst
                && !range
                    .clone()
                    .zip(range.clone().skip(1))
                    .all(|(x, y)| self.arc_dst[x] <= self.arc_dst[y])
            {
                let mut idx: Vec<usize> = range.clone().collect();
                idx.sort_by_key(|&a| self.arc_dst[a]);
                let perm = |v: &mut Vec<u32>| {
                    let t: Vec<u32> = idx.iter().map(|&a| v[a]).collect();
                    v[range.clone()].copy_from_slice(&t);
                };
                perm(&mut self.arc_dst);
                perm(&mut self.arc_flags);
                let t: Vec<i64> = idx.iter().map(|&a| self.arc_count[a]).collect();
                self.arc_count[range.clone()].copy_from_slice(&t);
                let pb = |v: &mut Vec<bool>| {
                    let t: Vec<bool> = idx.iter().map(|&a| v[a]).collect();
                    v[range.clone()].copy_from_slice(&t);
                };
                pb(&mut self.arc_valid);
                pb(&mut self.unconditional);
                pb(&mut self.is_throw);
            }
        }
        // Predecessor lists (CSR over this function's blocks).
        let nb = f.blocks as usize;
        let b0 = base as usize;
        let mut deg = vec![0u32; nb];
        for a in a0..self.arc_dst.len() {
            deg[self.arc_dst[a] as usize - b0] += 1;
        }
        let p0 = self.pred_list.len() as u32;
        let mut acc = p0;
        for (i, d) in deg.iter().enumerate() {
            self.pred_start[b0 + i] = acc;
            acc += d;
        }
        self.pred_start[b0 + nb] = acc;
        self.pred_list.resize(acc as usize, 0);
        let mut fill: Vec<u32> = (0..nb).map(|i| self.pred_start[b0 + i]).collect();
        for a in a0..self.arc_dst.len() {
            let d = self.arc_dst[a] as usize - b0;
            self.pred_list[fill[d] as usize] = a as u32;
            fill[d] += 1;
        }
    }

    fn preds(&self, b: u32) -> std::ops::Range<usize> {
        self.pred_start[b as usize] as usize..self.pred_start[b as usize + 1] as usize
    }

    /// gcov's `solve_flow_graph` worklist. Returns whether every block got a count.
    fn solve_function(&mut self, base: u32, nb: u32, exit_is_one: bool) -> bool {
        if nb == 0 {
            return true;
        }
        let blocks = base..base + nb;
        for b in blocks.clone() {
            let bi = b as usize;
            self.num_succ[bi] = i64::from(self.succ_end[bi] - self.succ_start[bi]);
            self.num_pred[bi] = (self.preds(b).len()) as i64;
        }
        if nb >= 2 {
            let entry = base as usize;
            let exit = if exit_is_one {
                base as usize + 1
            } else {
                (base + nb - 1) as usize
            };
            if self.num_pred[entry] == 0 {
                self.num_pred[entry] = BIG;
            }
            if self.num_succ[exit] == 0 {
                self.num_succ[exit] = BIG;
            }
        }
        for b in blocks.clone() {
            for a in self.succ(b) {
                if self.arc_valid[a] {
                    self.num_succ[b as usize] -= 1;
                    self.num_pred[self.arc_dst[a] as usize] -= 1;
                }
            }
        }
        let mut invalid: Vec<u32> = blocks.clone().collect();
        let mut in_invalid = vec![true; nb as usize];
        let mut valid: Vec<u32> = Vec::new();
        let mut in_valid = vec![false; nb as usize];
        let local = |b: u32| (b - base) as usize;
        while !invalid.is_empty() || !valid.is_empty() {
            while let Some(b) = invalid.pop() {
                in_invalid[local(b)] = false;
                let bi = b as usize;
                let total: i64 = if self.num_succ[bi] == 0 {
                    self.succ(b)
                        .map(|a| self.arc_count[a])
                        .fold(0i64, i64::wrapping_add)
                } else if self.num_pred[bi] == 0 {
                    self.preds(b)
                        .map(|p| self.arc_count[self.pred_list[p] as usize])
                        .fold(0i64, i64::wrapping_add)
                } else {
                    continue;
                };
                self.block_count[bi] = total;
                self.block_valid[bi] = true;
                valid.push(b);
                in_valid[local(b)] = true;
            }
            while let Some(b) = valid.pop() {
                in_valid[local(b)] = false;
                let bi = b as usize;
                if self.num_succ[bi] == 1 {
                    let mut total = self.block_count[bi];
                    let mut inv = None;
                    for a in self.succ(b) {
                        total = total.wrapping_sub(self.arc_count[a]);
                        if !self.arc_valid[a] {
                            inv = Some(a);
                        }
                    }
                    if let Some(a) = inv {
                        let dst = self.arc_dst[a];
                        let di = dst as usize;
                        self.arc_valid[a] = true;
                        self.arc_count[a] = total;
                        self.num_succ[bi] -= 1;
                        self.num_pred[di] -= 1;
                        if self.block_valid[di] {
                            if self.num_pred[di] == 1 && !in_valid[local(dst)] {
                                valid.push(dst);
                                in_valid[local(dst)] = true;
                            }
                        } else if self.num_pred[di] == 0 && !in_invalid[local(dst)] {
                            invalid.push(dst);
                            in_invalid[local(dst)] = true;
                        }
                    }
                }
                if self.num_pred[bi] == 1 {
                    let mut total = self.block_count[bi];
                    let mut inv = None;
                    for p in self.preds(b) {
                        let a = self.pred_list[p] as usize;
                        total = total.wrapping_sub(self.arc_count[a]);
                        if !self.arc_valid[a] {
                            inv = Some(a);
                        }
                    }
                    if let Some(a) = inv {
                        let src = self.arc_src[a];
                        let si = src as usize;
                        self.arc_valid[a] = true;
                        self.arc_count[a] = total;
                        self.num_pred[bi] -= 1;
                        self.num_succ[si] -= 1;
                        if self.block_valid[si] {
                            if self.num_succ[si] == 1 && !in_valid[local(src)] {
                                valid.push(src);
                                in_valid[local(src)] = true;
                            }
                        } else if self.num_succ[si] == 0 && !in_invalid[local(src)] {
                            invalid.push(src);
                            in_invalid[local(src)] = true;
                        }
                    }
                }
            }
        }
        blocks.clone().all(|b| self.block_valid[b as usize])
    }

    /// llvm-cov's `propagateCounts`: a depth-first walk over the spanning tree (plus a fake
    /// exit→entry tree arc) that sets every tree arc to the absolute excess of the subtree below
    /// it. Unlike flow solving, this gives llvm-cov's numbers also when the counters do not
    /// conserve flow (a longjmp out of a block that clang did not mark). Block counts are the
    /// sums of their out-arcs, as llvm-cov keeps them.
    fn llvm_propagate(&mut self, base: u32, nb: u32, exit_is_one: bool) {
        const FAKE: usize = usize::MAX;
        if nb >= 2 {
            let entry = base;
            let exit = if exit_is_one { base + 1 } else { base + nb - 1 };
            let mut visited = vec![false; nb as usize];
            // (block, arc it was reached by, reached through its destination, next index, excess)
            let mut stack: Vec<(u32, Option<usize>, bool, usize, u64)> = Vec::new();
            for start in base..base + nb {
                stack.push((start, None, false, 0, 0));
                while let Some(&(v, pred, in_dst, i, excess)) = stack.last() {
                    if i == 0 {
                        let seen = &mut visited[(v - base) as usize];
                        if *seen {
                            stack.pop();
                            continue;
                        }
                        *seen = true;
                    }
                    let preds = self.preds(v);
                    let n_pred = preds.len() + usize::from(v == entry);
                    let succs = self.succ(v);
                    let n_succ = succs.len() + usize::from(v == exit);
                    if i < n_pred {
                        let e = if i < preds.len() {
                            self.pred_list[preds.start + i] as usize
                        } else {
                            FAKE
                        };
                        if let Some(top) = stack.last_mut() {
                            top.3 += 1;
                        }
                        if Some(e) != pred {
                            let on_tree = e == FAKE || self.arc_flags[e] & ARC_ON_TREE != 0;
                            if on_tree {
                                let src = if e == FAKE { exit } else { self.arc_src[e] };
                                stack.push((src, Some(e), false, 0, 0));
                            } else {
                                if let Some(top) = stack.last_mut() {
                                    top.4 = excess.wrapping_add(self.arc_count[e] as u64);
                                }
                            }
                        }
                    } else if i < n_pred + n_succ {
                        let k = i - n_pred;
                        let e = if k < succs.len() {
                            succs.start + k
                        } else {
                            FAKE
                        };
                        if let Some(top) = stack.last_mut() {
                            top.3 += 1;
                        }
                        if Some(e) != pred {
                            let on_tree = e == FAKE || self.arc_flags[e] & ARC_ON_TREE != 0;
                            if on_tree {
                                let dst = if e == FAKE { entry } else { self.arc_dst[e] };
                                stack.push((dst, Some(e), true, 0, 0));
                            } else {
                                if let Some(top) = stack.last_mut() {
                                    top.4 = excess.wrapping_sub(self.arc_count[e] as u64);
                                }
                            }
                        }
                    } else {
                        let mut ex = excess;
                        if (ex as i64) < 0 {
                            ex = ex.wrapping_neg();
                        }
                        if let Some(e) = pred
                            && e != FAKE
                        {
                            self.arc_count[e] = ex as i64;
                            self.arc_valid[e] = true;
                        }
                        stack.pop();
                        if let Some(parent) = stack.last_mut() {
                            parent.4 = if in_dst {
                                parent.4.wrapping_sub(ex)
                            } else {
                                parent.4.wrapping_add(ex)
                            };
                        }
                    }
                }
            }
        }
        for b in base..base + nb {
            let c = self
                .succ(b)
                .map(|a| self.arc_count[a])
                .fold(0i64, i64::wrapping_add);
            self.block_count[b as usize] = c;
            self.block_valid[b as usize] = true;
        }
    }

    /// gcov's `find_exception_blocks`: blocks reachable from the entry only through fake or
    /// throw arcs are exceptional.
    fn find_exception_blocks(&mut self, base: u32, nb: u32) {
        if nb == 0 {
            return;
        }
        for b in base..base + nb {
            self.exceptional[b as usize] = true;
        }
        let mut queue = vec![base];
        self.exceptional[base as usize] = false;
        while let Some(b) = queue.pop() {
            for a in self.succ(b) {
                let d = self.arc_dst[a] as usize;
                if self.arc_flags[a] & ARC_FAKE == 0 && !self.is_throw[a] && self.exceptional[d] {
                    self.exceptional[d] = false;
                    queue.push(d as u32);
                }
            }
        }
    }

    /// gcov's `accumulate_line_info` count for a line with blocks: arcs entering the line's
    /// blocks from outside, plus the loops entirely on the line.
    fn line_count(
        &mut self,
        blocks: &[u32],
        cyc: &mut CycleScratch,
    ) -> std::result::Result<i64, &'static str> {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
        let gen_ = self.generation;
        for &b in blocks {
            self.mark[b as usize] = gen_;
        }
        let mut count = 0i64;
        let mut internal = false;
        for &b in blocks {
            for p in self.preds(b) {
                let a = self.pred_list[p] as usize;
                if self.mark[self.arc_src[a] as usize] != gen_ {
                    count = count.wrapping_add(self.arc_count[a]);
                }
            }
            for a in self.succ(b) {
                self.cs_count[a] = self.arc_count[a];
                if self.mark[self.arc_dst[a] as usize] == gen_ {
                    internal = true;
                }
            }
        }
        if internal {
            count = count.wrapping_add(self.cycles(blocks, cyc)?);
        }
        Ok(count)
    }

    /// llvm-cov's `collectSourceLine` count: the entry block contributes its out-arcs, other
    /// blocks the arcs entering from blocks not on the line; then the loops on the line.
    fn llvm_line_count(
        &mut self,
        blocks: &[u32],
        cyc: &mut CycleScratch,
    ) -> std::result::Result<i64, &'static str> {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
        let gen_ = self.generation;
        for &b in blocks {
            self.mark[b as usize] = gen_;
        }
        let mut count = 0i64;
        for &b in blocks {
            if self.is_entry(b) {
                for a in self.succ(b) {
                    count = count.wrapping_add(self.arc_count[a]);
                }
            } else {
                for p in self.preds(b) {
                    let a = self.pred_list[p] as usize;
                    if self.mark[self.arc_src[a] as usize] != gen_ {
                        count = count.wrapping_add(self.arc_count[a]);
                    }
                }
            }
            for a in self.succ(b) {
                self.cs_count[a] = self.arc_count[a];
            }
        }
        Ok(count.wrapping_add(self.llvm_cycles(blocks, cyc)?))
    }

    fn is_entry(&self, b: u32) -> bool {
        // Arcs out of entry blocks carry ENTRY_SRC; a block with no arcs is not an entry that
        // matters here (it contributes nothing either way).
        self.succ(b)
            .next()
            .is_some_and(|a| self.arc_flags[a] & ENTRY_SRC != 0)
    }

    /// llvm-cov's `getCyclesCount`: repeatedly find one cycle among the line's blocks by depth
    /// first search and cancel its smallest remaining arc count.
    fn llvm_cycles(
        &mut self,
        blocks: &[u32],
        s: &mut CycleScratch,
    ) -> std::result::Result<i64, &'static str> {
        const MARK: u32 = NONE - 1;
        let mut count = 0i64;
        loop {
            for &b in blocks {
                self.traversable[b as usize] = true;
                self.incoming[b as usize] = NONE;
            }
            let mut d = 0i64;
            'starts: for &start in blocks {
                if !self.traversable[start as usize] {
                    continue;
                }
                s.dfs.clear();
                s.dfs.push((start, 0));
                self.incoming[start as usize] = MARK;
                while let Some(&(u, i)) = s.dfs.last() {
                    s.steps += 1;
                    if s.steps > CYCLE_BUDGET {
                        return Err("cycle search");
                    }
                    let r = self.succ(u);
                    if i as usize == r.len() {
                        self.traversable[u as usize] = false;
                        s.dfs.pop();
                        continue;
                    }
                    if let Some(top) = s.dfs.last_mut() {
                        top.1 += 1;
                    }
                    let a = r.start + i as usize;
                    let w = self.arc_dst[a];
                    if self.cs_count[a] == 0 || !self.traversable[w as usize] || w == u {
                        continue;
                    }
                    if self.incoming[w as usize] == NONE {
                        self.incoming[w as usize] = a as u32;
                        s.dfs.push((w, 0));
                        continue;
                    }
                    // A cycle w -> ... -> u -> w.
                    s.steps += 2 * s.dfs.len() as u64;
                    let mut min = self.cs_count[a] as u64;
                    let mut v = u;
                    while v != w {
                        let ia = self.incoming[v as usize] as usize;
                        min = min.min(self.cs_count[ia] as u64);
                        v = self.arc_src[ia];
                    }
                    self.cs_count[a] = (self.cs_count[a] as u64).wrapping_sub(min) as i64;
                    let mut v = u;
                    while v != w {
                        let ia = self.incoming[v as usize] as usize;
                        self.cs_count[ia] = (self.cs_count[ia] as u64).wrapping_sub(min) as i64;
                        v = self.arc_src[ia];
                    }
                    d = min as i64;
                    // Leave the blocks still on the stack traversable; they are reset above.
                    for &(x, _) in s.dfs.iter() {
                        self.traversable[x as usize] = false;
                    }
                    break 'starts;
                }
                if d > 0 {
                    break;
                }
            }
            for &b in blocks {
                self.traversable[b as usize] = false;
            }
            if d == 0 {
                break;
            }
            count = count.wrapping_add(d);
        }
        Ok(count)
    }

    /// gcov's `get_cycles_count`: Hawick–James circuit enumeration from every block of the line,
    /// each cycle adding its smallest remaining arc count and subtracting it from its arcs.
    fn cycles(
        &mut self,
        blocks: &[u32],
        s: &mut CycleScratch,
    ) -> std::result::Result<i64, &'static str> {
        let gen_ = self.generation;
        let mut count = 0i64;
        for &start in blocks {
            s.path.clear();
            s.blocked.clear();
            s.lists.clear();
            s.stack.clear();
            self.enter(start, s);
            while let Some(top) = s.stack.last_mut() {
                s.steps += 1 + s.path.len() as u64;
                if s.steps > CYCLE_BUDGET {
                    return Err("cycle search");
                }
                if top.next < top.end {
                    let a = top.next as usize;
                    top.next += 1;
                    let w = self.arc_dst[a];
                    if w < start || self.cs_count[a] <= 0 || self.mark[w as usize] != gen_ {
                        continue;
                    }
                    s.path.push(a as u32);
                    if w == start {
                        let min = s
                            .path
                            .iter()
                            .map(|&p| self.cs_count[p as usize])
                            .min()
                            .unwrap_or(0);
                        count = count.wrapping_add(min);
                        for &p in &s.path {
                            self.cs_count[p as usize] -= min;
                        }
                        if let Some(t) = s.stack.last_mut() {
                            t.loop_found = true;
                        }
                        s.path.pop();
                    } else if !s.path.iter().any(|&p| self.cs_count[p as usize] <= 0)
                        && !s.blocked.contains(&w)
                    {
                        self.enter(w, s);
                    } else {
                        s.path.pop();
                    }
                } else {
                    // The loop runs while the stack has a top, so this always pops one.
                    let Some(frame) = s.stack.pop() else { break };
                    if frame.loop_found {
                        s.unblock(frame.v);
                    } else {
                        for a in self.succ(frame.v) {
                            let w = self.arc_dst[a];
                            if w < start || self.cs_count[a] <= 0 || self.mark[w as usize] != gen_ {
                                continue;
                            }
                            if let Some(ix) = s.blocked.iter().position(|&x| x == w)
                                && !s.lists[ix].contains(&frame.v)
                            {
                                s.lists[ix].push(frame.v);
                            }
                        }
                    }
                    if let Some(parent) = s.stack.last_mut() {
                        s.path.pop();
                        parent.loop_found |= frame.loop_found;
                    }
                }
            }
        }
        Ok(count)
    }

    fn enter(&self, v: u32, s: &mut CycleScratch) {
        s.blocked.push(v);
        s.lists.push(Vec::new());
        let r = self.succ(v);
        s.stack.push(Frame {
            v,
            next: r.start as u32,
            end: r.end as u32,
            loop_found: false,
        });
    }
}

/// Marks arcs leaving an entry block (their fake arcs are non-local returns, not calls).
const ENTRY_SRC: u32 = 1 << 31;

#[derive(Default)]
struct CycleScratch {
    path: Vec<u32>,
    blocked: Vec<u32>,
    lists: Vec<Vec<u32>>,
    stack: Vec<Frame>,
    work: Vec<u32>,
    dfs: Vec<(u32, u32)>,
    steps: u64,
}

impl CycleScratch {
    /// gcov's recursive `unblock`, as a work list (the set unblocked does not depend on order).
    fn unblock(&mut self, u: u32) {
        self.work.clear();
        self.work.push(u);
        while let Some(x) = self.work.pop() {
            if let Some(ix) = self.blocked.iter().position(|&b| b == x) {
                self.blocked.remove(ix);
                let list = self.lists.remove(ix);
                self.work.extend(list.into_iter().rev());
            }
        }
    }
}

struct Frame {
    v: u32,
    next: u32,
    end: u32,
    loop_found: bool,
}
