//! `summary.json` writer: report totals and per-file totals (hit, total, percent for lines,
//! functions and branches), as stable, documented JSON.

use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{Counter, Coverage, Totals};

/// One hit/total/percent triple.
#[derive(Debug, Serialize)]
pub struct Stat {
    /// Items hit.
    pub hit: u64,
    /// All items.
    pub total: u64,
    /// 100 × hit / total, rounded to 2 decimals (0 when total is 0).
    pub percent: f64,
}

impl From<Counter> for Stat {
    fn from(c: Counter) -> Stat {
        Stat {
            hit: c.hit,
            total: c.total,
            percent: (c.percent() * 100.0).round() / 100.0,
        }
    }
}

/// Lines, functions, branches.
#[derive(Debug, Serialize)]
pub struct StatSet {
    /// Lines.
    pub lines: Stat,
    /// Functions.
    pub functions: Stat,
    /// Branches.
    pub branches: Stat,
}

impl From<&Totals> for StatSet {
    fn from(t: &Totals) -> StatSet {
        StatSet {
            lines: t.lines.into(),
            functions: t.functions.into(),
            branches: t.branches.into(),
        }
    }
}

/// One file's entry.
#[derive(Debug, Serialize)]
pub struct FileSummary<'a> {
    /// The report path.
    pub path: &'a str,
    /// Its totals.
    #[serde(flatten)]
    pub totals: StatSet,
}

/// The whole document.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Format version of this document.
    pub format: u32,
    /// Report totals.
    pub totals: StatSet,
    /// Per file, in path order.
    pub files: Vec<FileSummary<'a>>,
}

/// Builds the summary document.
pub fn summary(cov: &Coverage) -> Summary<'_> {
    Summary {
        format: 1,
        totals: (&cov.totals).into(),
        files: cov
            .files
            .iter()
            .map(|(p, f)| FileSummary {
                path: p,
                totals: (&f.totals).into(),
            })
            .collect(),
    }
}

/// Writes `summary.json`.
pub fn write<W: Write>(cov: &Coverage, mut out: W) -> Result<()> {
    let s = summary(cov);
    serde_json::to_writer_pretty(&mut out, &s).map_err(|e| Error::Write {
        what: "summary JSON",
        source: e.into(),
    })?;
    out.write_all(b"\n")
        .and_then(|_| out.flush())
        .map_err(|source| Error::Write {
            what: "summary JSON",
            source,
        })
}
