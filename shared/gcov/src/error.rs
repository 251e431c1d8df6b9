//! The crate's one error type: every way reading, solving or writing coverage can fail.

/// Which gcov file kind an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A `.gcno` notes file (the compile-time graph).
    Notes,
    /// A `.gcda` data file (the run-time counters).
    Data,
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Notes => "notes (.gcno)",
            FileKind::Data => "data (.gcda)",
        })
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not start with the gcov magic word of its kind.
    #[error("{file}: not a gcov {kind} file (magic word {magic:#010x})")]
    BadMagic {
        /// The input's name.
        file: String,
        /// What the file should have been.
        kind: FileKind,
        /// The first word found.
        magic: u32,
    },
    /// The file ends in the middle of a header or record.
    #[error("{file}: truncated at byte {offset} ({what})")]
    Truncated {
        /// The input's name.
        file: String,
        /// Byte offset where more bytes were needed.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },
    /// The file is structurally wrong (bad index, impossible length, ...).
    #[error("{file}: corrupt at byte {offset}: {what}")]
    Corrupt {
        /// The input's name.
        file: String,
        /// Byte offset of the bad record.
        offset: usize,
        /// What is wrong.
        what: String,
    },
    /// The version word is not one this crate knows how to read.
    #[error("{file}: unsupported gcov version {version:?}")]
    UnsupportedVersion {
        /// The input's name.
        file: String,
        /// The version as its four characters.
        version: String,
    },
    /// A .gcda was written by a different compilation than the .gcno.
    #[error(
        "{data}: stamp {data_stamp:#010x} does not match notes file {notes} (stamp {notes_stamp:#010x}); the data comes from another build"
    )]
    StampMismatch {
        /// The notes file's name.
        notes: String,
        /// The data file's name.
        data: String,
        /// Stamp in the notes.
        notes_stamp: u32,
        /// Stamp in the data.
        data_stamp: u32,
    },
    /// Header checksums (GCC 12+) differ between notes and data.
    #[error(
        "{data}: checksum {data_checksum:#010x} does not match notes file {notes} (checksum {notes_checksum:#010x})"
    )]
    ChecksumMismatch {
        /// The notes file's name.
        notes: String,
        /// The data file's name.
        data: String,
        /// Checksum in the notes.
        notes_checksum: u32,
        /// Checksum in the data.
        data_checksum: u32,
    },
    /// Notes and data come from different compiler versions.
    #[error(
        "{data}: version {data_version:?} does not match notes file {notes} (version {notes_version:?})"
    )]
    VersionMismatch {
        /// The notes file's name.
        notes: String,
        /// The data file's name.
        data: String,
        /// Version of the notes.
        notes_version: String,
        /// Version of the data.
        data_version: String,
    },
    /// A function's checksums or counter count differ between notes and data.
    #[error("{data}: profile of function '{function}' does not match notes file {notes}: {what}")]
    FunctionMismatch {
        /// The notes file's name.
        notes: String,
        /// The data file's name.
        data: String,
        /// The function's (mangled) name.
        function: String,
        /// What differs.
        what: String,
    },
    /// The graph of a function is too big or too tangled to analyse within the work budget.
    #[error("{file}: function '{function}' exceeds the analysis budget ({what})")]
    Budget {
        /// The notes file's name.
        file: String,
        /// The function's name.
        function: String,
        /// Which budget.
        what: &'static str,
    },
    /// A glob pattern given in the options is invalid.
    #[error("invalid glob pattern {pattern:?}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// Why globset refused it.
        #[source]
        source: globset::Error,
    },
    /// Writing an output failed.
    #[error("writing {what}")]
    Write {
        /// Which output.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
