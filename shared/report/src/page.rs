//! The page frame (head, header, breadcrumbs), the summary header, the directory and file
//! tables, the session facts, and the directory pages (`index.html`, `d/<n>.html`).

use ccaas_gcov::{Counter, Totals};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::Options;
use crate::fmt;
use crate::tree::Tree;

/// Warnings shown at most on the index page; the rest are counted.
const MAX_WARNINGS: usize = 500;

/// A whole page: head, header with title and breadcrumbs, then `body`.
pub fn frame(
    opts: &Options,
    heading: &str,
    nested: bool,
    crumbs: Markup,
    body_attrs: (&str, &str),
    body: Markup,
) -> Markup {
    let up = if nested { "../" } else { "" };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title {
                    (heading)
                    @if heading != opts.title { " - " (opts.title) }
                }
                link rel="stylesheet" href={ (up) "report.css" };
                script defer src={ (up) "report.js" } {}
            }
            body data-next=[non_empty(body_attrs.0)] data-prev=[non_empty(body_attrs.1)] {
                header.top {
                    h1 { (heading) }
                    @if nested { nav.crumbs aria-label="breadcrumbs" { (crumbs) } }
                }
                (body)
            }
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Breadcrumbs from the report root to directory `d`; the last one is a link too when
/// `link_last` (file pages).
pub fn crumbs(tree: &Tree<'_>, opts: &Options, d: usize, nested: bool, link_last: bool) -> Markup {
    let chain = tree.ancestry(d);
    html! {
        @for (k, &a) in chain.iter().enumerate() {
            @if k > 0 { " / " }
            @let label = if a == 0 { opts.title.clone() } else {
                tree.dirs[a].rel.rsplit('/').next().unwrap_or("").to_string()
            };
            @if k + 1 < chain.len() || link_last {
                a href=(tree.dir_href(a, nested)) { (label) }
            } @else {
                span aria-current="page" { (label) }
            }
        }
    }
}

/// A coverage bar and the percentage, as table cells (the cell carries the colour class and
/// the sort key).
pub fn pct_cell(c: Counter) -> Markup {
    html! {
        td class=(fmt::class(c)) data-v=(fmt::sort_key(c)) {
            span.bar role="img" aria-label={ (fmt::percent(c)) " covered" } {
                i style={ "width:" (fmt::bar_width(c)) "%" } {}
            }
            (fmt::percent(c))
        }
    }
}

fn hit_total(c: Counter) -> Markup {
    html! { td data-v=(c.total) { (c.hit) " / " (c.total) } }
}

/// The summary header table: lines, functions and branches with hit, total and percentage.
pub fn summary(t: &Totals) -> Markup {
    let rows = [
        ("Lines", t.lines),
        ("Functions", t.functions),
        ("Branches", t.branches),
    ];
    html! {
        table.t.sum {
            thead { tr { th scope="col" { "" } th scope="col" { "Hit" } th scope="col" { "Total" } th scope="col" { "Coverage" } } }
            tbody {
                @for (name, c) in rows {
                    tr {
                        th scope="row" { (name) }
                        td { (c.hit) }
                        td { (c.total) }
                        (pct_cell(c))
                    }
                }
            }
        }
        p.legend {
            "Colour scale: "
            span style="background:var(--hi)" { "\u{2265} 90% high" }
            span style="background:var(--med)" { "75\u{2013}90% medium" }
            span style="background:var(--lo)" { "< 75% low (hatched)" }
        }
    }
}

fn sort_th(label: &str, numeric: bool, class: Option<&str>) -> Markup {
    html! {
        th scope="col" class=[class] {
            button type="button" data-num=(if numeric { "1" } else { "0" }) { (label) }
        }
    }
}

fn table_head(first: &str) -> Markup {
    html! {
        thead {
            tr {
                (sort_th(first, false, Some("name")))
                (sort_th("Lines", true, None))
                (sort_th("Hit / total", true, None))
                (sort_th("Missed lines", true, None))
                (sort_th("Functions", true, None))
                (sort_th("Branches", true, None))
            }
        }
    }
}

fn count_cells(t: &Totals) -> Markup {
    let missed = t.lines.total.saturating_sub(t.lines.hit);
    html! {
        (pct_cell(t.lines))
        (hit_total(t.lines))
        td data-v=(missed) { (missed) }
        (pct_cell(t.functions))
        (pct_cell(t.branches))
    }
}

/// The directory tree below `d`, or nothing when there is none. Chains of directories that
/// hold no file and one subdirectory (`usr/lib/gcc/...`) are folded into their first
/// directory that holds files or branches, so the table shows only directories worth a row.
fn dir_table(tree: &Tree<'_>, d: usize, nested: bool) -> Markup {
    let base = tree.dirs[d].depth;
    let end = (d + 1..tree.dirs.len())
        .find(|&k| tree.dirs[k].depth <= base)
        .unwrap_or(tree.dirs.len());
    let shown = |k: usize| {
        let n = &tree.dirs[k];
        !n.files.is_empty() || n.subdirs.len() != 1
    };
    let rows: Vec<usize> = (d + 1..end).filter(|&k| shown(k)).collect();
    if rows.is_empty() {
        return html! {};
    }
    // A row's parent row: its nearest shown ancestor below `d` (or `d`).
    let parent_row = |k: usize| {
        let mut up = tree.dirs[k].parent;
        while let Some(u) = up {
            if u == d || shown(u) {
                return u;
            }
            up = tree.dirs[u].parent;
        }
        d
    };
    let level = |k: usize| {
        let mut n = 0;
        let mut p = parent_row(k);
        while p != d {
            n += 1;
            p = parent_row(p);
        }
        n
    };
    html! {
        h2 id="dirs" { "Directories" }
        table.t.sortable aria-labelledby="dirs" {
            (table_head("Directory"))
            tbody {
                @for k in rows {
                    @let node = &tree.dirs[k];
                    @let p = parent_row(k);
                    @let cut = if p == 0 { 0 } else { tree.dirs[p].rel.len() + 1 };
                    @let name = node.rel.get(cut..).unwrap_or(&node.rel);
                    tr {
                        td.name data-v=(node.rel) style={ "padding-left:" (level(k) + 1) "em" } {
                            a href=(tree.dir_href(k, nested)) { (name) "/" }
                        }
                        (count_cells(&node.totals))
                    }
                }
            }
        }
    }
}

/// Every file below `d` (paths relative to it).
fn file_table(tree: &Tree<'_>, d: usize, nested: bool) -> Markup {
    let prefix = if d == 0 {
        String::new()
    } else {
        format!("{}/", tree.dirs[d].rel)
    };
    let below = |dir: usize| tree.ancestry(dir).contains(&d);
    let files: Vec<usize> = (0..tree.files.len())
        .filter(|&i| d == 0 || below(tree.files[i].dir))
        .collect();
    html! {
        h2 id="files" { "Files" }
        table.t.sortable aria-labelledby="files" {
            (table_head("File"))
            tbody {
                @for i in files {
                    @let f = &tree.files[i];
                    @let name = f.rel.strip_prefix(prefix.as_str()).unwrap_or(&f.rel);
                    tr {
                        td.name data-v=(name) { a href=(tree.file_href(i, 0, nested)) { (name) } }
                        (count_cells(&f.cov.totals))
                    }
                }
            }
        }
    }
}

fn facts(opts: &Options) -> Markup {
    let Some(f) = opts.facts.as_ref().filter(|f| !f.is_empty()) else {
        return html! {};
    };
    let shown = f.warnings.len().min(MAX_WARNINGS);
    html! {
        h2 id="session" { "Session" }
        dl.facts aria-labelledby="session" {
            @if let Some(v) = &f.device { dt { "Device" } dd { (v) } }
            @if let Some(v) = &f.build { dt { "Build" } dd { (v) } }
            @if !f.modules.is_empty() { dt { "Modules" } dd { (f.modules.join(", ")) } }
            @if let Some(v) = &f.started { dt { "Started" } dd { (v) } }
            @if let Some(v) = &f.ended { dt { "Ended" } dd { (v) } }
            dt { "Warnings" } dd { (f.warnings.len()) }
        }
        @if !f.warnings.is_empty() {
            ul.warn {
                @for w in &f.warnings[..shown] { li { (w) } }
                @if f.warnings.len() > shown { li { (f.warnings.len() - shown) " more not shown" } }
            }
        }
    }
}

/// `index.html` (d = 0) or `d/<d>.html`.
pub fn dir_page(tree: &Tree<'_>, d: usize, opts: &Options) -> String {
    let nested = d != 0;
    let node = &tree.dirs[d];
    let heading = if d == 0 {
        opts.title.clone()
    } else {
        format!("{}/", node.rel)
    };
    let body = html! {
        main {
            @if d == 0 && !tree.root.is_empty() {
                p.note { "Paths are relative to " code { (tree.root) } }
            }
            (summary(if d == 0 { &tree.totals } else { &node.totals }))
            @if d == 0 { (facts(opts)) }
            (dir_table(tree, d, nested))
            (file_table(tree, d, nested))
            @if tree.files.is_empty() { p.note { "No source files were covered." } }
        }
    };
    let crumbs = crumbs(tree, opts, d, nested, false);
    let PreEscaped(s) = frame(opts, &heading, nested, crumbs, ("", ""), body);
    s
}
