//! Cobertura XML writer (`cobertura.xml`, valid against coverage-04.dtd): one package per
//! directory, one class per source file, one method per function, lines with branch conditions.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

use crate::error::{Error, Result};
use crate::model::{Counter, Coverage, FileCoverage};

/// Writes `cov` as Cobertura XML. `timestamp` (seconds since the epoch) fills the required
/// attribute; pass 0 for byte-reproducible output.
pub fn write<W: Write>(cov: &Coverage, timestamp: u64, out: W) -> Result<()> {
    write_with_names(cov, timestamp, &|n| Cow::Borrowed(n), out)
}

/// Like [`write`], with each method named `name(function name)`: the report passes its C++
/// demangler, so the model keeps the names as the notes give them.
pub fn write_with_names<W: Write>(
    cov: &Coverage,
    timestamp: u64,
    name: &dyn Fn(&str) -> Cow<'_, str>,
    out: W,
) -> Result<()> {
    write_inner(cov, timestamp, name, out).map_err(|source| Error::Write {
        what: "Cobertura XML",
        source,
    })
}

fn rate(c: Counter) -> String {
    if c.total == 0 {
        "1".to_string()
    } else {
        format!("{:.4}", c.hit as f64 / c.total as f64)
    }
}

/// Escapes text for XML attributes and content.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| matches!(b, b'<' | b'>' | b'&' | b'"' | b'\'') || b < 0x20)
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(ch),
            c if (c as u32) < 0x20 => o.push('?'),
            c => o.push(c),
        }
    }
    std::borrow::Cow::Owned(o)
}

/// The longest directory prefix shared by every path ("" when none).
fn common_dir<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    let mut prefix: Option<&str> = None;
    for p in paths {
        let dir = match p.rfind('/') {
            Some(i) => &p[..=i],
            None => "",
        };
        prefix = Some(match prefix {
            None => dir,
            Some(cur) => {
                let n = cur
                    .bytes()
                    .zip(dir.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                // Cut after a '/' (ASCII, so always on a character boundary).
                let cut = cur.as_bytes()[..n]
                    .iter()
                    .rposition(|&b| b == b'/')
                    .map_or(0, |i| i + 1);
                &cur[..cut]
            }
        });
    }
    prefix.unwrap_or("").to_string()
}

fn write_inner<W: Write>(
    cov: &Coverage,
    timestamp: u64,
    name: &dyn Fn(&str) -> Cow<'_, str>,
    mut w: W,
) -> std::io::Result<()> {
    let t = &cov.totals;
    let root = common_dir(cov.files.keys().map(|s| s.as_str()));
    writeln!(w, r#"<?xml version="1.0" ?>"#)?;
    writeln!(
        w,
        r#"<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">"#
    )?;
    writeln!(
        w,
        r#"<coverage line-rate="{}" branch-rate="{}" lines-covered="{}" lines-valid="{}" branches-covered="{}" branches-valid="{}" complexity="0" version="ccaas {}" timestamp="{}">"#,
        rate(t.lines),
        rate(t.branches),
        t.lines.hit,
        t.lines.total,
        t.branches.hit,
        t.branches.total,
        env!("CARGO_PKG_VERSION"),
        timestamp
    )?;
    writeln!(w, "  <sources>")?;
    writeln!(
        w,
        "    <source>{}</source>",
        escape(if root.is_empty() {
            "."
        } else {
            root.trim_end_matches('/')
        })
    )?;
    writeln!(w, "  </sources>")?;
    writeln!(w, "  <packages>")?;
    // Package = directory relative to the root.
    let mut packages: BTreeMap<&str, Vec<(&str, &FileCoverage)>> = BTreeMap::new();
    for (path, f) in &cov.files {
        let rel = path.strip_prefix(root.as_str()).unwrap_or(path);
        let dir = rel.rfind('/').map_or("", |i| &rel[..i]);
        packages.entry(dir).or_default().push((rel, f));
    }
    for (dir, files) in &packages {
        let mut pt = crate::model::Totals::default();
        for (_, f) in files {
            pt.add(&f.totals);
        }
        let pname = if dir.is_empty() {
            ".".to_string()
        } else {
            dir.replace('/', ".")
        };
        writeln!(
            w,
            r#"    <package name="{}" line-rate="{}" branch-rate="{}" complexity="0">"#,
            escape(&pname),
            rate(pt.lines),
            rate(pt.branches)
        )?;
        writeln!(w, "      <classes>")?;
        for (rel, f) in files {
            write_class(&mut w, rel, f, name)?;
        }
        writeln!(w, "      </classes>")?;
        writeln!(w, "    </package>")?;
    }
    writeln!(w, "  </packages>")?;
    writeln!(w, "</coverage>")?;
    w.flush()
}

fn write_class<W: Write>(
    w: &mut W,
    rel: &str,
    f: &FileCoverage,
    method_name: &dyn Fn(&str) -> Cow<'_, str>,
) -> std::io::Result<()> {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    writeln!(
        w,
        r#"        <class name="{}" filename="{}" line-rate="{}" branch-rate="{}" complexity="0">"#,
        escape(name),
        escape(rel),
        rate(f.totals.lines),
        rate(f.totals.branches)
    )?;
    writeln!(w, "          <methods>")?;
    for func in &f.functions {
        let hit = u64::from(func.count > 0);
        writeln!(
            w,
            r#"            <method name="{}" signature="" line-rate="{}" branch-rate="1" complexity="0">"#,
            escape(&method_name(&func.name)),
            hit
        )?;
        writeln!(
            w,
            r#"              <lines><line number="{}" hits="{}"/></lines>"#,
            func.start_line, func.count
        )?;
        writeln!(w, "            </method>")?;
    }
    writeln!(w, "          </methods>")?;
    writeln!(w, "          <lines>")?;
    for l in &f.lines {
        let br = f.branches_of(l);
        if br.is_empty() {
            writeln!(
                w,
                r#"            <line number="{}" hits="{}"/>"#,
                l.line, l.count
            )?;
        } else {
            let taken = br.iter().filter(|&&c| c > 0).count();
            let pct = taken * 100 / br.len();
            writeln!(
                w,
                r#"            <line number="{}" hits="{}" branch="true" condition-coverage="{}% ({}/{})">"#,
                l.line,
                l.count,
                pct,
                taken,
                br.len()
            )?;
            writeln!(
                w,
                r#"              <conditions><condition number="0" type="jump" coverage="{pct}%"/></conditions>"#
            )?;
            writeln!(w, "            </line>")?;
        }
    }
    writeln!(w, "          </lines>")?;
    writeln!(w, "        </class>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_directory_is_cut_on_separators_even_with_multibyte_names() {
        let paths = ["/src/шa/x.c", "/src/шb/y.c"];
        assert_eq!(common_dir(paths.iter().copied()), "/src/");
        let paths = ["/a/ш/x.c", "/a/щ/y.c"];
        assert_eq!(common_dir(paths.iter().copied()), "/a/");
        assert_eq!(common_dir(["x.c", "/y.c"].iter().copied()), "");
    }

    #[test]
    fn xml_special_characters_are_escaped() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(escape("plain"), "plain");
    }
}
