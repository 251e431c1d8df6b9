//! The coverage model every writer and consumer reads: files → lines (counts), functions (entry
//! counts) and branches (taken counts), with totals. Built by [`crate::build`]; independent of the
//! gcov file formats.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Coverage of a whole report: every source file, keyed by its (mapped) path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Files by path, in path order.
    pub files: BTreeMap<String, FileCoverage>,
    /// Totals over all files.
    pub totals: Totals,
}

/// Coverage of one source file, merged over every translation unit, run and build directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileCoverage {
    /// Instrumented lines in ascending line order, each once.
    pub lines: Vec<LineCoverage>,
    /// Branch taken-counts of all lines; see [`LineCoverage::branches`] and
    /// [`FileCoverage::branches_of`].
    pub branches: Vec<u64>,
    /// Functions defined in the file, by start line then name.
    pub functions: Vec<FunctionCoverage>,
    /// Totals of this file.
    pub totals: Totals,
}

/// One instrumented line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCoverage {
    /// 1-based line number.
    pub line: u32,
    /// Execution count, as gcov reports it, summed over translation units and group functions.
    pub count: u64,
    /// This line's branches: `start..start + len` in [`FileCoverage::branches`]. Branches are
    /// numbered per line in gcov's order and merged by that number.
    pub branches: (u32, u32),
    /// Some basic block on the line never ran although others did (gcov's `*` marker).
    pub unexecuted_block: bool,
}

impl LineCoverage {
    /// Whether the line ran at least once.
    pub fn is_covered(&self) -> bool {
        self.count > 0
    }
}

/// One function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCoverage {
    /// Mangled (linkage) name.
    pub name: String,
    /// First line.
    pub start_line: u32,
    /// First column (0 when the compiler does not record it).
    pub start_column: u32,
    /// Last line.
    pub end_line: u32,
    /// Last column.
    pub end_column: u32,
    /// How many times the function was entered.
    pub count: u64,
}

/// A hit/total pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Items with a count above zero.
    pub hit: u64,
    /// All items.
    pub total: u64,
}

impl Counter {
    /// Percentage hit, 0 when there is nothing to hit.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            100.0 * self.hit as f64 / self.total as f64
        }
    }

    /// Adds another counter.
    pub fn add(&mut self, o: Counter) {
        self.hit += o.hit;
        self.total += o.total;
    }
}

/// Line, function and branch totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Instrumented lines.
    pub lines: Counter,
    /// Functions.
    pub functions: Counter,
    /// Branches.
    pub branches: Counter,
}

impl Totals {
    /// Adds another file's totals.
    pub fn add(&mut self, o: &Totals) {
        self.lines.add(o.lines);
        self.functions.add(o.functions);
        self.branches.add(o.branches);
    }
}

impl FileCoverage {
    /// The branch counts of one line.
    pub fn branches_of(&self, line: &LineCoverage) -> &[u64] {
        let (s, n) = line.branches;
        self.branches
            .get(s as usize..(s + n) as usize)
            .unwrap_or(&[])
    }

    /// The line entry for a line number, if instrumented.
    pub fn line(&self, number: u32) -> Option<&LineCoverage> {
        self.lines
            .binary_search_by_key(&number, |l| l.line)
            .ok()
            .map(|i| &self.lines[i])
    }

    /// Recomputes [`FileCoverage::totals`] from the lines, branches and functions.
    pub fn compute_totals(&mut self) {
        let mut t = Totals::default();
        t.lines.total = self.lines.len() as u64;
        t.lines.hit = self.lines.iter().filter(|l| l.count > 0).count() as u64;
        t.branches.total = self.lines.iter().map(|l| u64::from(l.branches.1)).sum();
        t.branches.hit = self
            .lines
            .iter()
            .map(|l| self.branches_of(l).iter().filter(|&&c| c > 0).count() as u64)
            .sum();
        t.functions.total = self.functions.len() as u64;
        t.functions.hit = self.functions.iter().filter(|f| f.count > 0).count() as u64;
        self.totals = t;
    }
}

impl Coverage {
    /// Recomputes every file's totals and the report totals.
    pub fn compute_totals(&mut self) {
        let mut t = Totals::default();
        for f in self.files.values_mut() {
            f.compute_totals();
            t.add(&f.totals);
        }
        self.totals = t;
    }
}
