//! The lcov tracefile writer (`coverage.info`): TN, SF, FN, FNDA, FNF, FNH, BRDA, BRF, BRH, DA,
//! LF, LH, end_of_record per file, in the order lcov 1.x writes them.
//!
//! A tracefile is one record per line, and lcov has no quoting, so the free-text fields (test
//! name, `SF:` path, `FN:`/`FNDA:` function name) are escaped by [`escape`]: a backslash becomes
//! `\\`, a line feed `\n` and a carriage return `\r`. A name holding a newline therefore stays on
//! its line and cannot forge a record; names without those three characters are written as
//! they are (docs/report.md).

use std::borrow::Cow;
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
    let test_name = escape(test_name);
    for (path, f) in &cov.files {
        writeln!(w, "TN:{test_name}")?;
        writeln!(w, "SF:{}", escape(path))?;
        for func in &f.functions {
            writeln!(w, "FN:{},{}", func.start_line, escape(&func.name))?;
        }
        for func in &f.functions {
            writeln!(w, "FNDA:{},{}", func.count, escape(&func.name))?;
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

/// A free-text field made safe for one tracefile line: `\` → `\\`, line feed → `\n`,
/// carriage return → `\r`; everything else as it is. Borrowed when nothing needs escaping
/// (every ordinary path and name).
pub fn escape(field: &str) -> Cow<'_, str> {
    if !field.contains(['\\', '\n', '\r']) {
        return Cow::Borrowed(field);
    }
    let mut out = String::with_capacity(field.len() + 8);
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FileCoverage, FunctionCoverage, LineCoverage};

    fn one_file(path: &str, function: &str) -> Coverage {
        let mut f = FileCoverage::default();
        f.lines.push(LineCoverage {
            line: 3,
            count: 1,
            branches: (0, 0),
            unexecuted_block: false,
        });
        f.functions.push(FunctionCoverage {
            name: function.into(),
            start_line: 3,
            start_column: 0,
            end_line: 3,
            end_column: 0,
            count: 1,
        });
        f.compute_totals();
        let mut c = Coverage::default();
        c.files.insert(path.into(), f);
        c.compute_totals();
        c
    }

    fn tracefile(cov: &Coverage, test_name: &str) -> String {
        let mut out = Vec::new();
        write(cov, test_name, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fields_are_escaped_by_a_table_of_cases() {
        for (field, want) in [
            ("src/a.c", "src/a.c"),
            ("ns::f(int, char*)", "ns::f(int, char*)"),
            ("a\nb", "a\\nb"),
            ("a\rb", "a\\rb"),
            ("a\\b", "a\\\\b"),
            ("a\\nb", "a\\\\nb"),
            ("\r\n", "\\r\\n"),
            ("tab\there", "tab\there"),
            ("шрифт.c", "шрифт.c"),
        ] {
            assert_eq!(escape(field), want, "{field:?}");
        }
        assert!(matches!(escape("plain/path.c"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_newline_in_a_path_or_function_name_forges_no_record() {
        let forged = "\nend_of_record\nSF:/etc/forged.c\nDA:1,999\nLF:1\nLH:1\n";
        for (path, function) in [
            (format!("src/a.c{forged}"), "main".to_string()),
            ("src/a.c".to_string(), format!("main{forged}")),
            (format!("src/a.c\r{forged}"), "f\r\n".to_string()),
        ] {
            let text = tracefile(&one_file(&path, &function), &format!("t{forged}"));
            let sf: Vec<&str> = text.lines().filter(|l| l.starts_with("SF:")).collect();
            assert_eq!(sf.len(), 1, "{text}");
            assert_eq!(
                text.lines().filter(|l| *l == "end_of_record").count(),
                1,
                "{text}"
            );
            assert!(!text.lines().any(|l| l.starts_with("DA:1,")), "{text}");
            assert!(!text.contains('\r'), "{text:?}");
            assert_eq!(
                text.lines().count(),
                10,
                "TN SF FN FNDA FNF FNH DA LF LH end: {text}"
            );
        }
    }
}
