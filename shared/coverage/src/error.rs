//! The crate's one error type, and how it becomes the worker's [`RunError`].

use ccaas_app::RunError;
use ccaas_device::DeviceError;

/// What can go wrong while running a coverage task.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    /// The device driver failed (its code and retryability are kept).
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// A store (sessions, artifacts, report site) failed.
    #[error("{0}")]
    Store(#[from] ccaas_app::Error),
    /// A start task found another session open on the device.
    #[error(
        "device {device} already has an open coverage session (started by task {session}); end it first"
    )]
    SessionOpen {
        /// The device key (`host:port`).
        device: String,
        /// The open session's id.
        session: String,
    },
    /// An end task found no session to end.
    #[error("{0}")]
    NoSession(String),
    /// An end or discard task's session belongs to another user and the task's submitter is
    /// no admin (or, without `data.session`, the device's open session is not the caller's).
    #[error("{0}")]
    SessionNotOwned(String),
    /// An end task's session is older than the configured maximum age: it can only be
    /// discarded (or taken over by a new start).
    #[error("{0}")]
    SessionExpired(String),
    /// The raw archive is hostile, truncated or over a limit.
    #[error("the raw archive is not usable: {0}")]
    BadArchive(String),
    /// The session's data is over one of the processor's budgets (the unpacked coverage files
    /// on scratch disk, the report's files): refused before the work that would exceed it.
    #[error(
        "{what} take {seen} bytes, over this service's limit of {limit} bytes; end a session with fewer modules (or a shorter build), or raise the limit (docs/deploy.md)"
    )]
    TooLarge {
        /// What was measured, as a noun phrase.
        what: String,
        /// The limit in bytes.
        limit: u64,
        /// The size seen in bytes.
        seen: u64,
    },
    /// The collect stage's record says the archive exists but it does not.
    #[error("the raw archive of this task is missing")]
    RawMissing,
    /// Stored facts could not be read back.
    #[error("stored session data is unreadable: {0}")]
    Corrupt(String),
    /// A local scratch file could not be written or read (disk full, no /tmp).
    #[error("local scratch file: {0}")]
    Scratch(#[source] std::io::Error),
    /// No `.gcda` has notes: none beside it on the device, and the build's
    /// `builds/<build-id>/notes.tar.gz` is not published or holds none for it.
    #[error("{0}")]
    NotesMissing(String),
    /// No `.gcda` matches its notes (stamp, checksum or version): the notes are of another
    /// build.
    #[error("{0}")]
    NotesMismatch(String),
    /// A build's `notes.tar.gz` is corrupt, hostile or over a limit.
    #[error("{0}")]
    BadNotes(String),
    /// The engine or a writer failed.
    #[error("the report could not be produced: {0}")]
    Report(String),
    /// A merge names a task whose collected data is not there (no end task, or one that
    /// never collected).
    #[error("{0}")]
    NotMergeable(String),
    /// A merge's end tasks ran on several builds, as their collected facts say.
    #[error("{0}")]
    MixedBuilds(String),
}

impl CoverageError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> String {
        match self {
            CoverageError::Device(e) => e.code().to_string(),
            CoverageError::Store(ccaas_app::Error::Corrupt(_)) => "corrupt".into(),
            CoverageError::Store(_) => "unavailable".into(),
            CoverageError::SessionOpen { .. } => "session_open".into(),
            CoverageError::NoSession(_) => "no_session".into(),
            CoverageError::SessionNotOwned(_) => "session_not_owned".into(),
            CoverageError::SessionExpired(_) => "session_expired".into(),
            CoverageError::BadArchive(_) => "bad_archive".into(),
            CoverageError::TooLarge { .. } => "too_large".into(),
            CoverageError::RawMissing => "raw_missing".into(),
            CoverageError::Corrupt(_) => "corrupt".into(),
            CoverageError::Scratch(_) => "scratch".into(),
            CoverageError::NotesMissing(_) => "notes_missing".into(),
            CoverageError::NotesMismatch(_) => "notes_mismatch".into(),
            CoverageError::BadNotes(_) => "bad_notes".into(),
            CoverageError::Report(_) => "report_failed".into(),
            CoverageError::NotMergeable(_) => "not_mergeable".into(),
            CoverageError::MixedBuilds(_) => "mixed_builds".into(),
        }
    }

    /// Whether a later delivery may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            CoverageError::Device(e) => e.is_retryable(),
            CoverageError::Store(e) => e.is_retryable(),
            // A missing raw archive next to a facts record means the store lost a write or is
            // inconsistent for a moment; a retry re-reads it.
            CoverageError::RawMissing | CoverageError::Scratch(_) => true,
            _ => false,
        }
    }
}

impl From<CoverageError> for RunError {
    fn from(e: CoverageError) -> RunError {
        RunError {
            retryable: e.is_retryable(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_keep_their_code_and_retryability() {
        let r: RunError = CoverageError::from(DeviceError::Timeout {
            stage: "command",
            after: std::time::Duration::from_secs(1),
        })
        .into();
        assert!(r.retryable);
        assert_eq!(r.code, "timeout");
        let r: RunError = CoverageError::from(DeviceError::NoData).into();
        assert!(!r.retryable);
        assert_eq!(r.code, "no_data");
        let r: RunError = CoverageError::NoSession("none".into()).into();
        assert_eq!((r.retryable, r.code.as_str()), (false, "no_session"));
    }
}
