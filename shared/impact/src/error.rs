//! The crate's one error type.

/// What can go wrong reading a diff or an index.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImpactError {
    /// The diff is larger than the cap.
    #[error("the diff is {seen} bytes, more than the {limit} allowed")]
    DiffTooLarge {
        /// The cap in bytes.
        limit: usize,
        /// The diff's size.
        seen: usize,
    },
    /// The diff cannot be read; `line` is 1-based.
    #[error("the diff is not a unified diff at line {line}: {why}")]
    BadDiff {
        /// Where, 1-based.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// The text holds no file of a unified diff (no `+++` line).
    #[error("the text is not a unified diff: it names no file (no `--- ` and `+++ ` lines)")]
    NoFiles,
    /// Index bytes that are not an index of a version this code reads (foreign, truncated,
    /// hostile or of a newer version).
    #[error("coverage index: {0}")]
    BadIndex(String),
    /// An index could not be built (a field too long for the format).
    #[error("coverage index cannot hold {0}")]
    Unindexable(String),
}
