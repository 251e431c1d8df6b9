//! Test impact over per-session coverage indexes (issue #13, items 2 and 3). Pure: no I/O, no
//! clock; the caller reads the bytes and hands them in.
//!
//! - [`index`]: the compact, versioned per-session line index an end task writes next to its
//!   report (`index/coverage/<build>/<session>.idx`): per source file, the lines the build
//!   instruments and the lines the session executed, as roaring bitmaps, in buckets by file
//!   name, so a reader fetches the header and the buckets of the files a diff touches only.
//! - [`diff`]: a unified diff (git's or `diff -u`'s) → the added and changed lines of the new
//!   side, per file.
//! - [`paths`]: matching a diff's path to a report's path by the longest common suffix of path
//!   components.
//! - [`compare`]: two sessions' indexes compared part by part: per file the lines newly covered
//!   and lost, and both sides' totals.
//! - [`query`]: the impact of a diff over many sessions' indexes: sessions ranked by the changed
//!   lines they ran, and the changed lines no session ran.
//!
//! See docs/design.md ("Coverage index and impact").

pub mod compare;
pub mod diff;
pub mod error;
pub mod index;
pub mod paths;
pub mod query;

pub use compare::{Compare, Comparison, FileDelta, LineTotals};
pub use diff::{ChangedFile, Diff, MAX_DIFF_BYTES, parse_diff};
pub use error::ImpactError;
pub use index::{FileEntry, Header, IndexBuilder, IndexMeta, MAGIC, VERSION};
pub use query::{Impact, ImpactQuery, SessionHit, Uncovered};
