//! Rebuilds gcov's counts for one translation unit (one notes file plus the summed counters of its
//! data files): solves the uninstrumented arcs by flow conservation, finds exceptional blocks, and
//! turns block counts into per-line counts, branches and function entry counts exactly as gcov 12
//! does (`solve_flow_graph`, `find_exception_blocks`, `add_line_counts`, `accumulate_line_info`
//! with its Hawick–James cycle search, and "group functions" that start on one line).
//!
//! This module holds the public model of a solved unit and the driver that walks the functions,
//! lines and branches of a unit; `graph` the flow graph both flavors work on; `gcc` gcov's own
//! rules and `llvm` those of `llvm-cov gcov` ([`Flavor`] picks one per notes file).

mod gcc;
mod graph;
mod llvm;

use crate::error::{Error, Result};
use crate::gcno::Notes;
use graph::{CycleScratch, Graph, NONE};

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

    // ---- Group functions (gcov only).
    let is_group = if llvm {
        vec![false; notes.functions.len()]
    } else {
        gcc::group_functions(notes)
    };

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
                let block = Block {
                    global: base + b,
                    count: bcount,
                    exceptional,
                    interior: b != 0 && b + 1 != nb,
                };
                if llvm {
                    llvm::location_entries(&mut g, &mut entries, f, &loc, block);
                } else {
                    let group = is_group[fi].then_some(fi as u32 + 1);
                    gcc::location_entries(
                        &mut entries,
                        f,
                        &loc,
                        block,
                        group,
                        &mut last,
                        &mut sorted_lines,
                    );
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
        if llvm {
            llvm::line_branches(&g, &blocks, (source, line), &mut out.branches);
        } else {
            gcc::line_branches(&g, &blocks, &mut out.branches);
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

/// One line record of `add_line_counts`: a provisional count (`block == NONE`), or a block whose
/// arcs `accumulate_line_info` counts.
#[derive(Debug, Clone, Copy)]
struct Entry {
    source: u32,
    line: u32,
    /// Group function instance (its index + 1), 0 outside group functions.
    inst: u32,
    /// Order of creation, the last sort key.
    seq: u32,
    count: i64,
    block: u32,
    unexecuted: bool,
}

/// The block a location belongs to, as the line rules need it.
#[derive(Debug, Clone, Copy)]
struct Block {
    /// Global block number in the [`Graph`].
    global: u32,
    /// Its count.
    count: i64,
    /// Reached from the entry only through fake or throw arcs.
    exceptional: bool,
    /// Neither the function's entry nor its exit block.
    interior: bool,
}
