//! Source pages: per file a function table and the annotated source (line numbers, counts,
//! hit/miss marks, branch markers), split into parts of `lines_per_page` lines.

use std::borrow::Cow;

use ccaas_gcov::{FileCoverage, LineCoverage};
use maud::{Markup, PreEscaped, html};

use crate::page::{crumbs, frame, summary};
use crate::tree::Tree;
use crate::{HTML, Options, OutFile};

/// Lines per content-visibility block (the browser skips layout of blocks out of view).
const BLOCK: usize = 250;
/// Pixel height of one source line (must match `.blk>div` in report.css).
const LINE_PX: usize = 16;
/// Branch markers drawn per line; more are summarised.
const MAX_MARKERS: usize = 10;

/// The source split into lines: `\n` separated, a trailing `\r` dropped, invalid UTF-8 and
/// control characters replaced so that they can neither break the page nor hide text.
fn split_lines(text: &[u8]) -> Vec<Cow<'_, str>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let s = String::from_utf8_lossy(line);
        let s = if s.chars().any(|c| c.is_control() && c != '\t') {
            Cow::Owned(
                s.chars()
                    .map(|c| {
                        if c.is_control() && c != '\t' {
                            '\u{FFFD}'
                        } else {
                            c
                        }
                    })
                    .collect(),
            )
        } else {
            s
        };
        out.push(s);
        rest = next;
    }
    out
}

/// How a line is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Ran, with every block and branch.
    Hit,
    /// Ran, but some block or branch never did.
    Partial,
    /// Never ran.
    Missed,
}

fn kind(fc: &FileCoverage, l: &LineCoverage) -> Kind {
    if l.count == 0 {
        Kind::Missed
    } else if l.unexecuted_block || fc.branches_of(l).contains(&0) {
        Kind::Partial
    } else {
        Kind::Hit
    }
}

fn branch_markers(fc: &FileCoverage, l: &LineCoverage) -> Markup {
    let b = fc.branches_of(l);
    let taken = b.iter().filter(|&&c| c > 0).count();
    // One title per line (the counts of every branch, in order) keeps long files small.
    let mut title = if l.count == 0 {
        format!("{} branches, line never executed", b.len())
    } else {
        format!("{taken} of {} branches taken; times taken:", b.len())
    };
    if l.count > 0 {
        for c in b {
            title.push(' ');
            title.push_str(&c.to_string());
        }
    }
    html! {
        span.b title=(title) {
            @for &c in b.iter().take(MAX_MARKERS) {
                @if l.count == 0 {
                    i.x { "#" }
                } @else if c > 0 {
                    i.t { "+" }
                } @else {
                    i.u { "\u{2212}" }
                }
            }
            @if b.len() > MAX_MARKERS { "\u{2026}" }
        }
    }
}

/// The pages of file `i`.
pub fn file_pages(tree: &Tree<'_>, i: usize, text: Option<&[u8]>, opts: &Options) -> Vec<OutFile> {
    let node = &tree.files[i];
    let fc = node.cov;
    let src = text.map(split_lines);
    // Every row of the file: each source line, merged with the instrumented lines (also those
    // past the end of the source, or all of them when the source is missing), in line order.
    let src_len = src.as_ref().map_or(0, |s| s.len());
    let mut rows: Vec<(usize, Option<&LineCoverage>)> =
        Vec::with_capacity(src_len.max(fc.lines.len()));
    {
        let mut it = fc.lines.iter().peekable();
        for line in 1..=src_len {
            while let Some(l) = it.next_if(|l| (l.line as usize) < line) {
                rows.push((l.line as usize, Some(l)));
            }
            rows.push((line, it.next_if(|l| l.line as usize == line)));
        }
        rows.extend(it.map(|l| (l.line as usize, Some(l))));
        // A corrupt model may repeat a line number: keep the first row of each.
        rows.dedup_by_key(|r| r.0);
    }
    let n = rows.last().map_or(0, |r| r.0);
    let lpp = if opts.lines_per_page == 0 {
        usize::MAX
    } else {
        opts.lines_per_page
    };
    let parts = rows.len().div_ceil(lpp).max(1);
    let row_of = |line: usize| rows.binary_search_by_key(&line, |r| r.0).ok();
    let part_of = |line: usize| row_of(line).map_or(0, |r| r / lpp);

    // Starts of uncovered runs: a missed line whose previous instrumented line ran (or none).
    let mut starts = Vec::new();
    let mut prev_missed = false;
    for &(line, cov) in &rows {
        let Some(l) = cov else { continue };
        let missed = l.count == 0;
        if missed && !prev_missed {
            starts.push(line);
        }
        prev_missed = missed;
    }
    let at = |line: usize| -> String {
        format!(
            "{}#L{line}",
            tree.file_href(i, part_of(line), true)
                .trim_start_matches("../f/")
        )
    };
    let part_range = |q: usize| {
        let chunk = rows.chunks(lpp).nth(q).unwrap_or(&[]);
        (
            chunk.first().map_or(0, |r| r.0),
            chunk.last().map_or(0, |r| r.0),
        )
    };

    let mut out = Vec::with_capacity(parts);
    for p in 0..parts {
        let (lo, hi) = part_range(p);
        let next = starts
            .iter()
            .find(|&&s| part_of(s) > p)
            .map(|&s| at(s))
            .unwrap_or_default();
        let prev = starts
            .iter()
            .rev()
            .find(|&&s| part_of(s) < p)
            .map(|&s| at(s))
            .unwrap_or_default();
        let part_rows = rows.chunks(lpp).nth(p).unwrap_or(&[]);
        let text_of = |line: usize| -> &str {
            src.as_ref()
                .and_then(|s| s.get(line.checked_sub(1)?))
                .map_or("", |c| c.as_ref())
        };
        let next_start_after = |line: usize| starts.iter().find(|&&s| s > line).copied();

        let tools = html! {
            @if parts > 1 {
                p.parts {
                    "Parts of this file: "
                    @for q in 0..parts {
                        @let (qlo, qhi) = part_range(q);
                        @if q == p { b aria-current="page" { (qlo) "\u{2013}" (qhi) } }
                        @else { a href=(tree.file_href(i, q, true).trim_start_matches("../f/")) { (qlo) "\u{2013}" (qhi) } }
                        " "
                    }
                }
            }
            p.legend {
                "\u{2717} missed line (hatched) \u{00B7} ~ partly run (a block or branch never ran) \u{00B7} branches: + taken, \u{2212} never taken, # not executed (hover for counts)"
            }
            div.tools role="toolbar" aria-label="navigation" {
                button type="button" data-jump="-1" title="previous uncovered block (key p)" { "\u{25B2} previous uncovered" }
                button type="button" data-jump="1" title="next uncovered block (key n)" { "\u{25BC} next uncovered" }
                @if parts > 1 {
                    @if p > 0 {
                        @let (qlo, qhi) = part_range(p - 1);
                        a href=(tree.file_href(i, p - 1, true).trim_start_matches("../f/")) { "\u{25C0} lines " (qlo) "\u{2013}" (qhi) }
                    }
                    span { "part " (p + 1) " of " (parts) }
                    @if p + 1 < parts {
                        @let (qlo, qhi) = part_range(p + 1);
                        a href=(tree.file_href(i, p + 1, true).trim_start_matches("../f/")) { "lines " (qlo) "\u{2013}" (qhi) " \u{25B6}" }
                    }
                }
            }
        };
        let functions = if p == 0 && !fc.functions.is_empty() {
            html! {
                h2 id="functions" { "Functions" }
                table.t.sortable aria-labelledby="functions" {
                    thead { tr {
                        th.name scope="col" { button type="button" data-num="0" { "Function" } }
                        th scope="col" aria-sort="ascending" { button type="button" data-num="1" { "Line" } }
                        th scope="col" { button type="button" data-num="1" { "Calls" } }
                    } }
                    tbody {
                        @for f in &fc.functions {
                            // C++ names demangled; the mangled name (as in coverage.info) on hover.
                            @let shown = crate::names::demangle(&f.name);
                            @let mangled = (shown != f.name.as_str()).then_some(f.name.as_str());
                            tr {
                                td.name data-v=(shown) title=[mangled] {
                                    @if row_of(f.start_line as usize).is_some() { a href=(at(f.start_line as usize)) { (shown) } }
                                    @else { (shown) }
                                }
                                td data-v=(f.start_line) { (f.start_line) }
                                td class=(if f.count == 0 { "lo" } else { "hi" }) data-v=(f.count) {
                                    @if f.count == 0 { "\u{2717} " } (f.count)
                                }
                            }
                        }
                    }
                }
            }
        } else {
            html! {}
        };
        let blocks = part_rows.chunks(BLOCK);
        let source = html! {
            h2 id="source" {
                "Source"
                @if parts > 1 { ", lines " (lo) "\u{2013}" (hi) " of " (n) }
            }
            @if src.is_none() {
                p.note { "The source file was not available: only the instrumented lines are listed, without their text." }
            }
            div.src aria-labelledby="source" {
                @for block in blocks {
                    @let style = if block.len() == BLOCK { None } else { Some(format!("contain-intrinsic-size:auto {}px", block.len() * LINE_PX)) };
                    div.blk style=[style] {
                        @for &(line, cov) in block {
                            @match cov {
                                None => {
                                    div id={ "L" (line) } { a href={ "#L" (line) } { (line) } code { (text_of(line)) } }
                                }
                                Some(l) => {
                                    @let k = kind(fc, l);
                                    @let start = k == Kind::Missed && starts.binary_search(&line).is_ok();
                                    @let class = match (k, start) {
                                        (Kind::Missed, true) => "m s",
                                        (Kind::Missed, false) => "m",
                                        (Kind::Partial, _) => "p",
                                        _ => "h",
                                    };
                                    div class=(class) id={ "L" (line) } {
                                        a href={ "#L" (line) } { (line) }
                                        span.c { (l.count) }
                                        @match k {
                                            Kind::Missed => {
                                                @if let Some(nx) = next_start_after(line).filter(|_| start) {
                                                    a.k href=(at(nx)) title={ "not run; next uncovered block: line " (nx) } { "\u{2717}" }
                                                } @else {
                                                    span.k title="not run" { "\u{2717}" }
                                                }
                                            }
                                            Kind::Partial => { span.k title="partly run" { "~" } }
                                            _ => {}
                                        }
                                        @if l.branches.1 > 0 { (branch_markers(fc, l)) }
                                        code { (text_of(line)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        };
        let body = html! {
            main {
                (summary(&fc.totals))
                (functions)
                (tools)
                (source)
            }
        };
        let heading = node.rel.clone();
        let crumbs = crumbs(tree, opts, node.dir, true, true);
        let PreEscaped(s) = frame(opts, &heading, true, crumbs, (&next, &prev), body);
        out.push(OutFile {
            path: tree.file_href(i, p, false),
            bytes: s.into_bytes(),
            content_type: HTML,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_newlines_and_drop_carriage_returns() {
        let l = split_lines(b"a\r\nb\n\nc");
        assert_eq!(l, vec!["a", "b", "", "c"]);
    }

    #[test]
    fn a_trailing_newline_does_not_make_an_extra_line() {
        assert_eq!(split_lines(b"x\n").len(), 1);
        assert!(split_lines(b"").is_empty());
    }

    #[test]
    fn control_characters_and_bad_utf8_become_replacement_characters() {
        let l = split_lines(b"a\x00b\x1bc\xff\td");
        assert_eq!(l[0], "a\u{FFFD}b\u{FFFD}c\u{FFFD}\td");
    }
}
