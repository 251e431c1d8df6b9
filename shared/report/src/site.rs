//! The site-wide `index.html`: every published report, newest first, with its totals and
//! coverage badges. Self-contained (inline style, no script).

use ccaas_gcov::{Counter, Totals};
use maud::{DOCTYPE, PreEscaped, html};

use crate::fmt;

/// One published report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteEntry {
    /// The report's id (the task id); its pages are at `reports/<id>/index.html`.
    pub id: String,
    /// When it was made, already formatted (for example RFC 3339 UTC), if known.
    pub when: Option<String>,
    /// Its totals.
    pub totals: Totals,
}

const STYLE: &str = "body{margin:0;font:14px/1.45 system-ui,\"DejaVu Sans\",sans-serif;color:#1b1f24}\
header{padding:10px 16px;border-bottom:1px solid #d5d9de;background:#f3f5f7}h1{font-size:18px;margin:0}\
main{padding:12px 16px}table{border-collapse:collapse;font-variant-numeric:tabular-nums}\
th,td{border:1px solid #d5d9de;padding:3px 8px;text-align:right;white-space:nowrap}th{background:#f3f5f7}\
td.id,th.id{text-align:left;font-family:ui-monospace,\"DejaVu Sans Mono\",monospace}\
.badge{display:inline-flex;border-radius:3px;overflow:hidden;font-size:12px;margin-right:4px;border:1px solid #555}\
.badge>span{padding:0 5px}.badge>span:first-child{background:#555;color:#fff}\
.hi{background:#c8efc8}.med{background:#fbe6a8}.none{background:#eee}\
.lo{background:#f8c9c4;background-image:repeating-linear-gradient(135deg,transparent 0 6px,rgba(160,30,20,.18) 6px 9px)}\
.legend span{padding:0 6px;margin-right:6px;border:1px solid #d5d9de}\
a{color:#0645ad}";

/// Only characters that are safe in a URL path segment survive; anything else is dropped.
fn segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn badge(label: &str, c: Counter) -> maud::Markup {
    html! {
        span.badge role="img" aria-label={ (label) " " (fmt::percent(c)) } {
            span { (label) }
            span class=(fmt::class(c)) { (fmt::percent(c)) }
        }
    }
}

/// Renders the site index for `entries`, listed newest first (by id, descending: task ids sort
/// by creation time). The same entries in any order give the same bytes.
pub fn site_index(entries: &[SiteEntry]) -> Vec<u8> {
    let mut sorted: Vec<&SiteEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| b.id.cmp(&a.id).then_with(|| b.when.cmp(&a.when)));
    sorted.dedup_by(|a, b| a.id == b.id);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Coverage reports" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { h1 { "Coverage reports" } }
                main {
                    @if sorted.is_empty() {
                        p { "No reports yet." }
                    } @else {
                        table {
                            thead { tr {
                                th.id scope="col" { "Report" }
                                th scope="col" { "Made" }
                                th scope="col" { "Coverage" }
                                th scope="col" { "Lines" }
                                th scope="col" { "Functions" }
                                th scope="col" { "Branches" }
                            } }
                            tbody {
                                @for e in &sorted {
                                    @let t = &e.totals;
                                    tr {
                                        td.id { a href={ "reports/" (segment(&e.id)) "/index.html" } { (e.id) } }
                                        td { (e.when.as_deref().unwrap_or("-")) }
                                        td { (badge("lines", t.lines)) (badge("branches", t.branches)) }
                                        td class=(fmt::class(t.lines)) { (t.lines.hit) " / " (t.lines.total) }
                                        td class=(fmt::class(t.functions)) { (t.functions.hit) " / " (t.functions.total) }
                                        td class=(fmt::class(t.branches)) { (t.branches.hit) " / " (t.branches.total) }
                                    }
                                }
                            }
                        }
                        // Colour is never the only signal: low cells are also hatched, and
                        // every badge spells its percentage.
                        p.legend {
                            "Cells: "
                            span.hi { "\u{2265} 90% high" }
                            span.med { "75\u{2013}90% medium" }
                            span.lo { "< 75% low (hatched)" }
                            span.none { "no data" }
                        }
                    }
                }
            }
        }
    };
    page.into_string().into_bytes()
}

/// The page of a device's stable link (`reports/latest/<device>/index.html`): sends the
/// browser on to the newest report of the device, `reports/<id>/index.html`, by a relative
/// link (so it works on any host), with a plain link for browsers that do not follow it.
pub fn latest_page(id: &str) -> Vec<u8> {
    let target = format!("../../{}/index.html", segment(id));
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={ "0; url=" (target) };
                meta name="robots" content="noindex";
                title { "Latest coverage report" }
            }
            body {
                p { "The latest report of this device is " a href=(target) { (segment(id)) } "." }
            }
        }
    };
    page.into_string().into_bytes()
}

#[cfg(test)]
mod latest_tests {
    use super::*;

    #[test]
    fn the_latest_page_sends_the_browser_to_the_report_by_a_relative_link() {
        let page = String::from_utf8(latest_page("01ARZ3NDEKTSV4RRFFQ69G5FAV")).unwrap();
        assert!(page.contains(r#"content="0; url=../../01ARZ3NDEKTSV4RRFFQ69G5FAV/index.html""#));
        assert!(page.contains(r#"href="../../01ARZ3NDEKTSV4RRFFQ69G5FAV/index.html""#));
        let odd = String::from_utf8(latest_page("../x\"><script>")).unwrap();
        assert!(!odd.contains("<script>"), "{odd}");
        assert!(odd.contains(r#"url=../../xscript/index.html""#), "{odd}");
    }
}
