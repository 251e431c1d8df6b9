//! Writes a sample site-wide index (three reports) to stdout, to look at:
//! `cargo run -p ccaas-report --example site > site.html`.

use ccaas_gcov::{Counter, Totals};
use ccaas_report::{SiteEntry, site_index};

fn main() {
    let e = |id: &str, when: &str, l: (u64, u64), f: (u64, u64), b: (u64, u64)| SiteEntry {
        id: id.into(),
        when: Some(when.into()),
        totals: Totals {
            lines: Counter {
                hit: l.0,
                total: l.1,
            },
            functions: Counter {
                hit: f.0,
                total: f.1,
            },
            branches: Counter {
                hit: b.0,
                total: b.1,
            },
        },
    };
    let entries = [
        e(
            "01KB2X7Q9V3J8M4N6P0R2S4T6W",
            "2026-11-29 12:40 UTC",
            (6954, 10726),
            (756, 1056),
            (2713, 6029),
        ),
        e(
            "01KB2Y1A5C7E9G1J3K5M7N9P1Q",
            "2026-11-29 12:55 UTC",
            (9190, 24416),
            (688, 1873),
            (5612, 36097),
        ),
        e(
            "01KB2Z3B6D8F0H2K4M6P8R0T2V",
            "2026-11-29 13:05 UTC",
            (2290, 2400),
            (199, 200),
            (1500, 1800),
        ),
    ];
    use std::io::Write;
    let _ = std::io::stdout().write_all(&site_index(&entries));
}
