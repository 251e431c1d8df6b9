//! The flow graph of one translation unit that both flavors' rules work on: every block and arc
//! of every function numbered globally, with counts, flags, successor and predecessor lists,
//! exceptional blocks, and the scratch space of the per-line cycle searches.

use super::gcc::Frame;
use crate::format::{ARC_FAKE, ARC_FALLTHROUGH, ARC_ON_TREE};
use crate::gcno::NoteFunction;

/// Work limit of the cycle searches of one translation unit, in steps (real files need a tiny
/// fraction; a hostile graph gets an error instead of a hang).
pub(super) const CYCLE_BUDGET: u64 = 200_000_000;
/// No block, no arc, no line.
pub(super) const NONE: u32 = u32::MAX;
/// Marks arcs leaving an entry block (their fake arcs are non-local returns, not calls).
pub(super) const ENTRY_SRC: u32 = 1 << 31;

/// All blocks and arcs of one translation unit, numbered globally.
pub(super) struct Graph {
    // blocks
    pub(super) block_count: Vec<i64>,
    pub(super) block_valid: Vec<bool>,
    pub(super) exceptional: Vec<bool>,
    pub(super) succ_start: Vec<u32>,
    pub(super) succ_end: Vec<u32>,
    pub(super) pred_start: Vec<u32>,
    pub(super) pred_list: Vec<u32>,
    pub(super) num_succ: Vec<i64>,
    pub(super) num_pred: Vec<i64>,
    pub(super) mark: Vec<u32>,
    pub(super) generation: u32,
    /// (source, line) of each block's last line in record order (llvm-cov's `getLastLine`).
    pub(super) last_line: Vec<(u32, u32)>,
    pub(super) traversable: Vec<bool>,
    pub(super) incoming: Vec<u32>,
    // arcs
    pub(super) arc_src: Vec<u32>,
    pub(super) arc_dst: Vec<u32>,
    pub(super) arc_flags: Vec<u32>,
    pub(super) arc_count: Vec<i64>,
    pub(super) arc_valid: Vec<bool>,
    pub(super) unconditional: Vec<bool>,
    pub(super) is_throw: Vec<bool>,
    pub(super) cs_count: Vec<i64>,
}

impl Graph {
    pub(super) fn with_capacity(blocks: usize, arcs: usize) -> Graph {
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

    pub(super) fn succ(&self, b: u32) -> std::ops::Range<usize> {
        self.succ_start[b as usize] as usize..self.succ_end[b as usize] as usize
    }

    pub(super) fn preds(&self, b: u32) -> std::ops::Range<usize> {
        self.pred_start[b as usize] as usize..self.pred_start[b as usize + 1] as usize
    }

    /// Appends one function's blocks and arcs, assigning the measured counters in gcov's order
    /// (blocks ascending, arcs in record order) and then sorting each block's arcs by
    /// destination (stable, as gcov's bubble sort).
    pub(super) fn add_function(
        &mut self,
        f: &NoteFunction,
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

    /// Marks `blocks` as the blocks of the line being counted, under a new generation (so no
    /// mark needs clearing between lines), and returns that generation.
    pub(super) fn mark_line(&mut self, blocks: &[u32]) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
        let gen_ = self.generation;
        for &b in blocks {
            self.mark[b as usize] = gen_;
        }
        gen_
    }

    /// gcov's `find_exception_blocks`: blocks reachable from the entry only through fake or
    /// throw arcs are exceptional.
    pub(super) fn find_exception_blocks(&mut self, base: u32, nb: u32) {
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
}

/// Scratch space of the cycle searches, reused across the lines of a unit; `steps` counts the
/// work of all of them against [`CYCLE_BUDGET`].
#[derive(Default)]
pub(super) struct CycleScratch {
    // gcov's circuit search
    pub(super) path: Vec<u32>,
    pub(super) blocked: Vec<u32>,
    pub(super) lists: Vec<Vec<u32>>,
    pub(super) stack: Vec<Frame>,
    pub(super) work: Vec<u32>,
    // llvm-cov's depth-first search
    pub(super) dfs: Vec<(u32, u32)>,
    pub(super) steps: u64,
}
