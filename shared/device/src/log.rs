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

/// What a record shows of a stream that is not text (the `tar` of a collection writes gzip to
/// stdout): its size, never its bytes. `{total}` is the stream's size in bytes.
pub fn binary_output(total: u64) -> String {
    format!("<binary output, {total} bytes>")
}

/// One output stream of a command, as far as its record needs it: the bytes kept and how many
/// bytes the stream had in all.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    kept: Vec<u8>,
    total: u64,
}

impl Seen {
    /// Counts `data` and keeps the last `2 * TAIL_BYTES` bytes of the stream (stdout, whose
    /// bytes go on to a sink).
    pub(crate) fn keep_last(&mut self, data: &[u8]) {
        self.total = self.total.saturating_add(data.len() as u64);
        let keep = TAIL_BYTES * 2;
        self.kept
            .extend_from_slice(&data[data.len().saturating_sub(keep)..]);
        if self.kept.len() > keep {
            self.kept.drain(..self.kept.len() - keep);
        }
    }

    /// Counts `data` and keeps the first `cap` bytes of the stream (stderr).
    pub(crate) fn keep_first(&mut self, data: &[u8], cap: usize) {
        self.total = self.total.saturating_add(data.len() as u64);
        let room = cap.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// The record's text of the stream: see [`tail`].
    pub(crate) fn tail(&self, secrets: &[String]) -> String {
        tail(&self.kept, self.total, secrets)
    }
}

/// The last `TAIL_BYTES` of `bytes` as text, with every secret replaced by `<redacted>`; or,
/// when the bytes are not text ([`is_binary`]), only the stream's size `total`
/// ([`binary_output`]).
pub(crate) fn tail(bytes: &[u8], total: u64, secrets: &[String]) -> String {
    if is_binary(bytes) {
        return binary_output(total);
    }
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

/// Whether the kept bytes of a stream are binary rather than text: they are not UTF-8, or
/// they hold a NUL, DEL or a C0 control character other than the ones text output uses (tab,
/// line feed, vertical tab, form feed, carriage return, backspace and escape, as in colour
/// codes). A character cut in two at either end of the kept bytes (the start of a tail, the
/// cap of stderr) is not a sign of binary output. Compressed or random bytes fail these
/// tests almost at once: a kilobyte of them is valid UTF-8 with a negligible probability.
pub(crate) fn is_binary(bytes: &[u8]) -> bool {
    // Up to three continuation bytes at the start belong to a character cut by the tail.
    let start = bytes
        .iter()
        .take(3)
        .take_while(|&&b| b & 0xC0 == 0x80)
        .count();
    let rest = &bytes[start..];
    let text = match std::str::from_utf8(rest) {
        Ok(_) => rest,
        // A sequence cut by the end of the kept bytes is still text.
        Err(e) if e.error_len().is_none() => &rest[..e.valid_up_to()],
        Err(_) => return true,
    };
    text.iter().any(|&b| {
        (b < 0x20 && !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x08 | 0x1b)) || b == 0x7f
    })
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
        let t = tail(&out, out.len() as u64, &secrets);
        assert!(t.len() <= TAIL_BYTES);
        assert!(!t.contains("s3cret"));
        assert!(t.ends_with("is <redacted> ok"));
    }

    /// A gzip stream as `tar -cz` writes it: the magic, then bytes that look random.
    fn gzip_like(n: usize) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03];
        let mut x: u32 = 0x9e37_79b9;
        while out.len() < n {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            out.push(x as u8);
        }
        out
    }

    #[test]
    fn gzip_on_stdout_is_recorded_as_its_size_not_its_bytes() {
        let archive = gzip_like(123_456);
        let mut out = Seen::default();
        for chunk in archive.chunks(32 * 1024) {
            out.keep_last(chunk);
        }
        assert_eq!(out.tail(&[]), "<binary output, 123456 bytes>");
        assert_eq!(binary_output(123_456), "<binary output, 123456 bytes>");
    }

    #[test]
    fn the_size_counts_every_byte_of_the_stream_not_only_the_kept_tail() {
        let mut out = Seen::default();
        out.keep_last(&b"text ".repeat(100_000));
        out.keep_last(&[0u8; 10]);
        assert_eq!(out.tail(&[]), binary_output(500_010));
        let mut err = Seen::default();
        err.keep_first(&gzip_like(100), 64);
        err.keep_first(&gzip_like(100), 64);
        assert_eq!(err.tail(&[]), binary_output(200));
    }

    #[test]
    fn a_nul_byte_makes_output_binary() {
        assert!(is_binary(b"abc\0def"));
        assert!(is_binary(b"\0"));
    }

    #[test]
    fn invalid_utf8_makes_output_binary() {
        assert!(is_binary(b"caf\xe9 au lait"));
        assert!(is_binary(b"\xff\xfe"));
        assert!(is_binary(b"ok \xc3\x28 ok"));
    }

    #[test]
    fn control_characters_other_than_text_whitespace_and_escape_make_output_binary() {
        for b in (0u8..0x20).chain([0x7f]) {
            let text = [b"a".as_slice(), &[b], b"b"].concat();
            let allowed = matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x08 | 0x1b);
            assert_eq!(is_binary(&text), !allowed, "byte {b:#04x}");
        }
    }

    #[test]
    fn ordinary_command_output_stays_text() {
        for text in [
            "".as_bytes(),
            b"BIG-IP 17.1.0 Build 0.0.16\n",
            b"12345 (tmm) S 1 12345 12345 0 -1 4194560\r\n",
            b"\x1b[1;31merror\x1b[0m: no such file\tor directory\n",
            "compt\u{e9} : 3 fichiers \u{2714}\n".as_bytes(),
        ] {
            assert!(!is_binary(text), "{:?}", String::from_utf8_lossy(text));
            assert_eq!(
                tail(text, text.len() as u64, &[]),
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn a_character_cut_at_either_end_of_the_kept_bytes_is_still_text() {
        let text = "\u{2714} done \u{2714}".as_bytes();
        // The tail starts inside the first check mark, and the stderr cap ends inside the last.
        assert!(!is_binary(&text[1..]));
        assert!(!is_binary(&text[2..text.len() - 1]));
        let mut out = Seen::default();
        out.keep_last(&"\u{e9}".repeat(TAIL_BYTES * 3).into_bytes()[1..]);
        assert!(!out.tail(&[]).starts_with("<binary"));
        let mut err = Seen::default();
        err.keep_first("\u{2714}".repeat(100).as_bytes(), 50);
        assert_eq!(err.tail(&[]), "\u{2714}".repeat(16) + "\u{fffd}");
    }

    #[test]
    fn binary_output_shows_no_secret_and_no_byte_of_the_stream() {
        let secrets = vec!["s3cret-canary".to_string()];
        let mut bytes = gzip_like(4096);
        bytes.extend_from_slice(b"s3cret-canary");
        bytes.extend_from_slice(&gzip_like(64));
        let t = tail(&bytes, bytes.len() as u64, &secrets);
        assert_eq!(t, format!("<binary output, {} bytes>", bytes.len()));
    }
}
