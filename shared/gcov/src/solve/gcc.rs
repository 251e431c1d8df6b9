//! gcov's (GCC's) counting rules: flow solving of the uninstrumented arcs, group functions,
//! line entries on the last line of each location, branches without unconditional and call
//! arcs, and line counts with the Hawick–James cycle search.

use std::collections::HashMap;

use super::graph::{CYCLE_BUDGET, CycleScratch, ENTRY_SRC, Graph, NONE};
use super::{Block, Entry};
use crate::format::ARC_FAKE;
use crate::gcno::{Location, NoteFunction, Notes};

const BIG: i64 = u32::MAX as i64;

/// gcov's group functions: non-artificial functions that share (source, start line) with
/// another. Their lines are counted per function (instance) and then summed.
pub(super) fn group_functions(notes: &Notes) -> Vec<bool> {
    let mut first_at: HashMap<(u32, u32), usize> = HashMap::new();
    let mut is_group = vec![false; notes.functions.len()];
    for (fi, f) in notes.functions.iter().enumerate() {
        if f.artificial {
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
    is_group
}

/// gcov's `add_line_counts` for one location of a block: each of its lines (sorted) gets the
/// block's count as a provisional entry, under the instance `group` when it is a line of that
/// group function; then the block itself goes on the last line seen (`last`, carried across
/// the block's locations), unless it is the entry or exit block.
pub(super) fn location_entries(
    entries: &mut Vec<Entry>,
    f: &NoteFunction,
    loc: &Location,
    block: Block,
    group: Option<u32>,
    last: &mut Option<(u32, u32, u32)>,
    sorted_lines: &mut Vec<u32>,
) {
    sorted_lines.clear();
    sorted_lines.extend_from_slice(f.location_lines(loc));
    sorted_lines.sort_unstable();
    for &ln in sorted_lines.iter() {
        let inst = match group {
            Some(inst) if f.source == loc.source && f.start_line <= ln && ln <= f.end_line => inst,
            _ => 0,
        };
        entries.push(Entry {
            source: loc.source,
            line: ln,
            inst,
            seq: entries.len() as u32,
            count: block.count,
            block: NONE,
            unexecuted: !block.exceptional && block.count == 0,
        });
        *last = Some((loc.source, ln, inst));
    }
    if block.interior
        && let Some((source, line, inst)) = *last
    {
        entries.push(Entry {
            source,
            line,
            inst,
            seq: entries.len() as u32,
            count: 0,
            block: block.global,
            unexecuted: false,
        });
    }
}

/// gcov's branches of a line: the arcs out of its blocks that are neither unconditional nor a
/// call that may not return, block by block, each block's arcs by destination.
pub(super) fn line_branches(g: &Graph, blocks: &[u32], out: &mut Vec<i64>) {
    for &b in blocks {
        for a in g.succ(b) {
            if !g.unconditional[a] && !g.call_non_return(a) {
                out.push(g.arc_count[a]);
            }
        }
    }
}

impl Graph {
    /// A fake arc out of a non-entry block: a call that may not return.
    pub(super) fn call_non_return(&self, a: usize) -> bool {
        self.arc_flags[a] & ARC_FAKE != 0 && self.arc_flags[a] & ENTRY_SRC == 0
    }

    /// gcov's `solve_flow_graph` worklist. Returns whether every block got a count.
    pub(super) fn solve_function(&mut self, base: u32, nb: u32, exit_is_one: bool) -> bool {
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

    /// gcov's `accumulate_line_info` count for a line with blocks: arcs entering the line's
    /// blocks from outside, plus the loops entirely on the line.
    pub(super) fn line_count(
        &mut self,
        blocks: &[u32],
        cyc: &mut CycleScratch,
    ) -> std::result::Result<i64, &'static str> {
        let gen_ = self.mark_line(blocks);
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

/// One block on the path of the circuit search, with the next of its arcs to follow.
pub(super) struct Frame {
    v: u32,
    next: u32,
    end: u32,
    loop_found: bool,
}
