//! The style sheet and script shipped inside every report (no CDN, no external fetch).

/// `report.css`.
pub const CSS: &str = include_str!("../assets/report.css");
/// `report.js`.
pub const JS: &str = include_str!("../assets/report.js");
