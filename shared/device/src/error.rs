//! The driver's one error type: retryable or permanent, with a stable code.

use std::time::Duration;

/// What failed while talking to a device.
///
/// Messages never hold credentials. [`DeviceError::is_retryable`] splits transient faults
/// (network, timeouts, resets) from permanent ones (auth, host key, bad input, no data), and
/// [`DeviceError::code`] gives a stable machine-readable string for task records.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The TCP connection could not be made.
    #[error("device {addr} unreachable")]
    Unreachable {
        /// `host:port`.
        addr: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// A failure before the login succeeded, told to the caller as `unreachable` whatever it
    /// was (refused, timed out, not SSH, reset, credentials refused, no common algorithm), so
    /// the service tells nobody what listens where. `cause` keeps the real failure for the
    /// operator's log and for retrying; it is never shown in a task.
    #[error("device {addr} could not be reached or did not accept the login")]
    Unanswered {
        /// `host:port`.
        addr: String,
        /// What really failed.
        #[source]
        cause: Box<DeviceError>,
    },
    /// Policy `pinned`: the device has no pinned host key and the task gives none, so it is not
    /// contacted.
    #[error(
        "device {addr} has no pinned host key: give data.device.host_key_sha256 (policy pinned)"
    )]
    UnknownHostKey {
        /// `host:port`.
        addr: String,
    },
    /// A stage did not finish within its time limit.
    #[error("timed out during {stage} after {after:?}")]
    Timeout {
        /// `connect`, `handshake`, `auth`, `command`, `idle`, or `operation`.
        stage: &'static str,
        /// The limit that ran out.
        after: Duration,
    },
    /// The connection or a channel broke, or the command was killed by a signal, before the
    /// work finished.
    #[error("connection lost: {detail}")]
    Reset {
        /// What was going on.
        detail: String,
        /// The SSH error, when there is one.
        #[source]
        source: Option<russh::Error>,
    },
    /// The device refused every credential we could offer.
    #[error("authentication failed for user {user}: {detail}")]
    AuthFailed {
        /// The login name (not a secret).
        user: String,
        /// Why (no secret in it).
        detail: String,
    },
    /// The host key differs from the pinned or given fingerprint.
    #[error("host key mismatch: expected {expected}, device offered {actual}")]
    HostKeyMismatch {
        /// The pinned or given `SHA256:…` fingerprint.
        expected: String,
        /// What the device offered.
        actual: String,
    },
    /// The host-key pin store could not be read or written.
    #[error("host key pin store failed: {detail}")]
    PinStore {
        /// What failed.
        detail: String,
        /// The store's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A module name does not match `^[a-z][a-z0-9_-]{0,31}$`.
    #[error("invalid module name {name:?}")]
    InvalidModule {
        /// The offending name, escaped and cut to 64 chars.
        name: String,
    },
    /// A valid module name that the device does not run.
    #[error("unknown module {module}: no such daemon running on the device")]
    UnknownModule {
        /// The module.
        module: String,
    },
    /// A target process cannot take the flush asked for: it does not catch the signal (its
    /// `SigCgt` lacks it, so the default action, terminate, would kill it), or gdb finds no
    /// `__gcov_dump`/`__gcov_reset` in its executable. Checked for every process before any is
    /// touched, so nothing was signalled or attached.
    #[error(
        "{module} (pid {pid}) is not instrumented for this flush: {detail}; no process was touched"
    )]
    NotInstrumented {
        /// The module.
        module: String,
        /// The process that failed the check.
        pid: u32,
        /// What the check found (the signal and the `SigCgt` mask, or the missing symbol).
        detail: String,
    },
    /// `flush: "gdb"` on a device without gdb on the login's PATH; checked before any process
    /// is touched.
    #[error("flush \"gdb\" needs gdb on the device, and it has none; no process was touched")]
    GdbMissing,
    /// gdb could not call the gcov function in a process (attach refused, call failed). The
    /// processes before it in the same step were already flushed.
    #[error("gdb could not call {function} in {module} (pid {pid})")]
    GdbFailed {
        /// The module.
        module: String,
        /// The process.
        pid: u32,
        /// `__gcov_reset` or `__gcov_dump`.
        function: &'static str,
    },
    /// No `.gcda` file was found for any module.
    #[error("no instrumented data (.gcda) found on the device")]
    NoData,
    /// The archive grew past the byte cap: the stream was cut there.
    #[error(
        "the compressed archive is over the limit of {limit} bytes ({seen} bytes had arrived when it was cut); end a session with fewer modules"
    )]
    TooLarge {
        /// The cap in bytes.
        limit: u64,
        /// The bytes received when the stream was cut (the whole archive is at least this).
        seen: u64,
    },
    /// The archive is malformed, truncated or holds a hostile entry.
    #[error("bad archive: {reason}")]
    BadArchive {
        /// Which check failed.
        reason: String,
    },
    /// A device command exited non-zero where that means failure.
    #[error("command {command:?} failed with exit {exit:?}: {stderr_tail}")]
    CommandFailed {
        /// The command (from a fixed template; no secrets).
        command: String,
        /// The exit status, if any.
        exit: Option<u32>,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// The archive command failed on live data: a daemon that restarts (or dumps) while `tar`
    /// reads can change or remove a `.gcda` under it. Nothing partial is accepted, and the
    /// device keeps its data, so a later collect reads it again.
    #[error("command {command:?} exited {exit:?} while the coverage data was being read")]
    DataChanged {
        /// The command (from a fixed template; no secrets).
        command: String,
        /// Its exit status.
        exit: u32,
    },
    /// The device answered something the protocol does not expect.
    #[error("unexpected device output: {detail}")]
    Protocol {
        /// What was wrong.
        detail: String,
    },
    /// The target or profile is unusable (bad key, bad path template, ...).
    #[error("invalid configuration: {detail}")]
    Config {
        /// What is wrong (no secret in it).
        detail: String,
    },
    /// The device and the driver share no key-exchange, host-key, cipher or MAC algorithm
    /// (an old device may need `SshDevice::with_legacy_algorithms`).
    #[error("no common SSH algorithm: {detail}")]
    NoCommonAlgorithm {
        /// Which kind, and both lists.
        detail: String,
    },
    /// The caller's archive sink failed to take the bytes.
    #[error("archive sink failed")]
    Sink(#[source] std::io::Error),
    /// Another SSH-level failure.
    #[error("ssh error")]
    Ssh(#[source] russh::Error),
}

impl DeviceError {
    /// Whether the same operation may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        if let DeviceError::Unanswered { cause, .. } = self {
            return cause.is_retryable();
        }
        matches!(
            self,
            DeviceError::Unreachable { .. }
                | DeviceError::Timeout { .. }
                | DeviceError::Reset { .. }
                | DeviceError::DataChanged { .. }
                | DeviceError::PinStore { .. }
                | DeviceError::Sink(_)
                | DeviceError::Ssh(_)
        )
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DeviceError::Unreachable { .. } | DeviceError::Unanswered { .. } => "unreachable",
            DeviceError::UnknownHostKey { .. } => "host_key_unknown",
            DeviceError::Timeout { .. } => "timeout",
            DeviceError::Reset { .. } => "reset",
            DeviceError::AuthFailed { .. } => "auth_failed",
            DeviceError::HostKeyMismatch { .. } => "host_key_mismatch",
            DeviceError::PinStore { .. } => "pin_store",
            DeviceError::InvalidModule { .. } => "invalid_module",
            DeviceError::UnknownModule { .. } => "unknown_module",
            DeviceError::NotInstrumented { .. } => "not_instrumented",
            DeviceError::GdbMissing => "gdb_missing",
            DeviceError::GdbFailed { .. } => "gdb_failed",
            DeviceError::NoData => "no_data",
            DeviceError::TooLarge { .. } => "too_large",
            DeviceError::BadArchive { .. } => "bad_archive",
            DeviceError::CommandFailed { .. } => "command_failed",
            DeviceError::DataChanged { .. } => "data_changed",
            DeviceError::Protocol { .. } => "protocol",
            DeviceError::Config { .. } => "config",
            DeviceError::NoCommonAlgorithm { .. } => "no_common_algorithm",
            DeviceError::Sink(_) => "sink",
            DeviceError::Ssh(_) => "ssh",
        }
    }

    /// The real failure behind an `unreachable` before login ([`DeviceError::Unanswered`]),
    /// for logs and tests; `None` for any other error.
    pub fn concealed(&self) -> Option<&DeviceError> {
        match self {
            DeviceError::Unanswered { cause, .. } => Some(cause),
            _ => None,
        }
    }

    pub(crate) fn reset(detail: impl Into<String>) -> Self {
        DeviceError::Reset {
            detail: detail.into(),
            source: None,
        }
    }
}

impl From<russh::Error> for DeviceError {
    fn from(e: russh::Error) -> Self {
        use russh::Error as E;
        match e {
            E::Disconnect
            | E::HUP
            | E::IO(_)
            | E::SendError
            | E::RecvError
            | E::ConnectionTimeout
            | E::KeepaliveTimeout
            | E::InactivityTimeout
            | E::Elapsed(_) => DeviceError::Reset {
                detail: e.to_string(),
                source: Some(e),
            },
            E::NoCommonAlgo { .. } => DeviceError::NoCommonAlgorithm {
                detail: e.to_string(),
            },
            other => DeviceError::Ssh(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_are_retryable_and_input_failures_are_not() {
        let retry = [
            DeviceError::Timeout {
                stage: "connect",
                after: Duration::from_secs(1),
            },
            DeviceError::reset("x"),
            DeviceError::Unreachable {
                addr: "h:1".into(),
                source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            },
            DeviceError::DataChanged {
                command: "tar -czf - -C /shared/gcov tmm".into(),
                exit: 2,
            },
        ];
        for e in &retry {
            assert!(e.is_retryable(), "{e}");
        }
        assert_eq!(retry[3].code(), "data_changed");
        let permanent = [
            DeviceError::AuthFailed {
                user: "u".into(),
                detail: "d".into(),
            },
            DeviceError::HostKeyMismatch {
                expected: "a".into(),
                actual: "b".into(),
            },
            DeviceError::UnknownModule { module: "m".into() },
            DeviceError::NoData,
            DeviceError::TooLarge { limit: 1, seen: 2 },
            DeviceError::NotInstrumented {
                module: "bigd".into(),
                pid: 42,
                detail: "it does not catch SIGUSR2".into(),
            },
            DeviceError::GdbMissing,
            DeviceError::GdbFailed {
                module: "bigd".into(),
                pid: 42,
                function: "__gcov_dump",
            },
        ];
        let codes: Vec<_> = permanent.iter().map(|e| e.code()).collect();
        assert_eq!(
            codes,
            [
                "auth_failed",
                "host_key_mismatch",
                "unknown_module",
                "no_data",
                "too_large",
                "not_instrumented",
                "gdb_missing",
                "gdb_failed"
            ]
        );
        for e in &permanent {
            assert!(!e.is_retryable(), "{e}");
        }
        let m = permanent[5].to_string();
        assert!(m.contains("bigd") && m.contains("pid 42"), "{m}");
    }
}
