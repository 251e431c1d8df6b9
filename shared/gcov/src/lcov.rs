//! The lcov tracefile writer (`coverage.info`): TN, SF, FN, FNDA, FNF, FNH, BRDA, BRF, BRH, DA,
//! LF, LH, end_of_record per file, in the order lcov 1.x writes them.

use std::io::Write;

use crate::error::{Error, Result};
use crate::model::Coverage;

/// Writes `cov` as an lcov tracefile with test name `test_name` (may be empty).
pub fn write<W: Write>(cov: &Coverage, test_name: &str, out: W) -> Result<()> {
    write_inner(cov, test_name, out).map_err(|source| Error::Write {
        what: "lcov tracefile",
        source,
    })
}

fn write_inner<W: Write>(cov: &Coverage, test_name: &str, mut w: W) -> std::io::Result<()> {
    let mut buf = itoa_buf();
    for (path, f) in &cov.files {
        writeln!(w, "TN:{test_name}")?;
        writeln!(w, "SF:{path}")?;
        for func in &f.functions {
            writeln!(w, "FN:{},{}", func.start_line, func.name)?;
        }
        for func in &f.functions {
            writeln!(w, "FNDA:{},{}", func.count, func.name)?;
        }
        writeln!(w, "FNF:{}", f.totals.functions.total)?;
        writeln!(w, "FNH:{}", f.totals.functions.hit)?;
        for l in &f.lines {
            for (i, &c) in f.branches_of(l).iter().enumerate() {
                if l.count == 0 {
                    writeln!(w, "BRDA:{},0,{},-", l.line, i)?;
                } else {
                    writeln!(w, "BRDA:{},0,{},{}", l.line, i, c)?;
                }
            }
        }
        if f.totals.branches.total > 0 {
            writeln!(w, "BRF:{}", f.totals.branches.total)?;
            writeln!(w, "BRH:{}", f.totals.branches.hit)?;
        }
        for l in &f.lines {
            buf.clear();
            buf.extend_from_slice(b"DA:");
            push_u64(&mut buf, u64::from(l.line));
            buf.push(b',');
            push_u64(&mut buf, l.count);
            buf.push(b'\n');
            w.write_all(&buf)?;
        }
        writeln!(w, "LF:{}", f.totals.lines.total)?;
        writeln!(w, "LH:{}", f.totals.lines.hit)?;
        writeln!(w, "end_of_record")?;
    }
    w.flush()
}

fn itoa_buf() -> Vec<u8> {
    Vec::with_capacity(48)
}

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}
