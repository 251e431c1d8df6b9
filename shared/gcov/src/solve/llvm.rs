//! llvm-cov gcov's rules (clang's `--coverage`): counts propagated over the spanning tree, every
//! line of a block given the block, entry blocks counted by their out-arcs, cycles cancelled
//! one augmenting cycle at a time, and branches in record order on a block's last line.

use super::graph::{CYCLE_BUDGET, CycleScratch, ENTRY_SRC, Graph, NONE};
use super::{Block, Entry};
use crate::format::ARC_ON_TREE;
use crate::gcno::{Location, NoteFunction};

/// llvm-cov's lines of a location: every line of the block, in record order, gets the block
/// itself (no provisional count); the last one becomes the block's last line.
pub(super) fn location_entries(
    g: &mut Graph,
    entries: &mut Vec<Entry>,
    f: &NoteFunction,
    loc: &Location,
    block: Block,
) {
    for &ln in f.location_lines(loc) {
        entries.push(Entry {
            source: loc.source,
            line: ln,
            inst: 0,
            seq: entries.len() as u32,
            count: 0,
            block: block.global,
            unexecuted: block.count == 0,
        });
        g.last_line[block.global as usize] = (loc.source, ln);
    }
}

/// llvm-cov's branches of a line (`at`): all arcs, in record order, of each block with more
/// than one that has `at` as its last line.
pub(super) fn line_branches(g: &Graph, blocks: &[u32], at: (u32, u32), out: &mut Vec<i64>) {
    for &b in blocks {
        let r = g.succ(b);
        if g.last_line[b as usize] == at && r.len() > 1 {
            out.extend(r.map(|a| g.arc_count[a]));
        }
    }
}

impl Graph {
    /// llvm-cov's `propagateCounts`: a depth-first walk over the spanning tree (plus a fake
    /// exit→entry tree arc) that sets every tree arc to the absolute excess of the subtree below
    /// it. Unlike flow solving, this gives llvm-cov's numbers also when the counters do not
    /// conserve flow (a longjmp out of a block that clang did not mark). Block counts are the
    /// sums of their out-arcs, as llvm-cov keeps them.
    pub(super) fn llvm_propagate(&mut self, base: u32, nb: u32, exit_is_one: bool) {
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

    /// llvm-cov's `collectSourceLine` count: the entry block contributes its out-arcs, other
    /// blocks the arcs entering from blocks not on the line; then the loops on the line.
    pub(super) fn llvm_line_count(
        &mut self,
        blocks: &[u32],
        cyc: &mut CycleScratch,
    ) -> std::result::Result<i64, &'static str> {
        let gen_ = self.mark_line(blocks);
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
}
