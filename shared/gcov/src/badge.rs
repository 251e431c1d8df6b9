//! `badge.svg` writer: a shields-style "coverage | NN.N%" badge for the line coverage, coloured
//! by thresholds.

use std::io::Write;

use crate::error::{Error, Result};
use crate::model::Coverage;

/// The badge colour for a line percentage.
pub fn color(percent: f64) -> &'static str {
    match percent {
        p if p >= 90.0 => "#4c1",
        p if p >= 75.0 => "#a3c51c",
        p if p >= 60.0 => "#dfb317",
        p if p >= 40.0 => "#fe7d37",
        _ => "#e05d44",
    }
}

/// Renders the badge for a line percentage.
pub fn svg(percent: f64) -> String {
    let value = format!("{percent:.1}%");
    let label = "coverage";
    // ~7 px per character at 11 px Verdana, plus padding.
    let lw = 10 + 6 * label.len() as u32;
    let vw = 10 + 7 * value.len() as u32;
    let w = lw + vw;
    let c = color(percent);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{c}"/><rect width="{w}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>
"##,
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}

/// Writes `badge.svg` for the report's line coverage.
pub fn write<W: Write>(cov: &Coverage, mut out: W) -> Result<()> {
    out.write_all(svg(cov.totals.lines.percent()).as_bytes())
        .and_then(|_| out.flush())
        .map_err(|source| Error::Write {
            what: "badge SVG",
            source,
        })
}
