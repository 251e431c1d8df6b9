//! The command log: every device command with its time, exit status, duration and output tail.

use std::time::{SystemTime, UNIX_EPOCH};

/// One command run on a device. Holds no secret: commands come from fixed templates, and the
/// driver scrubs its credentials from the output tails.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandRecord {
    /// When the command started, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// The command line.
    pub command: String,
    /// The exit status; `None` when the command did not finish (timeout, reset, signal).
    pub exit: Option<u32>,
    /// Duration in milliseconds.
    pub ms: u64,
    /// The last bytes of stdout (lossy UTF-8; at most [`TAIL_BYTES`]).
    pub stdout_tail: String,
    /// The last bytes of stderr.
    pub stderr_tail: String,
}

/// How much of each output stream a record keeps.
pub const TAIL_BYTES: usize = 512;

/// The last `TAIL_BYTES` of `bytes` as text, with every secret replaced by `<redacted>`.
pub(crate) fn tail(bytes: &[u8], secrets: &[String]) -> String {
    // Scrub before cutting, so a secret that straddles the cut cannot leak half of itself;
    // then scrub the cut text again for a secret that the cut itself may have completed.
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    for sec in secrets {
        if !sec.is_empty() {
            s = s.replace(sec.as_str(), "<redacted>");
        }
    }
    if s.len() > TAIL_BYTES {
        let mut cut = s.len() - TAIL_BYTES;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        s = s[cut..].to_string();
    }
    s
}

/// Now as RFC 3339 UTC with milliseconds, e.g. `2026-11-29T11:00:47.123Z`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    ccaas_domain::rfc3339(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_rfc3339_utc_with_milliseconds() {
        let t = now_rfc3339();
        assert_eq!(t.len(), "2026-11-29T11:00:47.005Z".len(), "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
    }

    #[test]
    fn tails_are_short_and_scrubbed() {
        let secrets = vec!["s3cret-canary".to_string()];
        let mut out = b"x".repeat(2000);
        out.extend_from_slice(b"the password is s3cret-canary ok");
        let t = tail(&out, &secrets);
        assert!(t.len() <= TAIL_BYTES);
        assert!(!t.contains("s3cret"));
        assert!(t.ends_with("is <redacted> ok"));
    }
}
