//! How to reach a device: address, login, secret, optional host-key fingerprint, timeouts.

use std::fmt;
use std::time::Duration;

/// The secret used to log in. `Debug` never prints it.
#[derive(Clone)]
pub enum Credentials {
    /// A password, answered to keyboard-interactive password prompts (and to the plain
    /// `password` method when the device offers it).
    Password(String),
    /// An OpenSSH or PKCS#8 private key in PEM text, optionally with its passphrase.
    PrivateKey {
        /// The PEM text.
        pem: String,
        /// The passphrase, when the key is encrypted.
        passphrase: Option<String>,
    },
}

impl Credentials {
    /// The secret strings, so the driver can scrub them from any device output it keeps.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match self {
            Credentials::Password(p) => vec![p.as_str()],
            Credentials::PrivateKey { passphrase, .. } => {
                passphrase.iter().map(String::as_str).collect()
            }
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password(_) => f.write_str("Password(<redacted>)"),
            Credentials::PrivateKey { .. } => f.write_str("PrivateKey(<redacted>)"),
        }
    }
}

/// One device to talk to.
#[derive(Clone)]
pub struct DeviceTarget {
    /// Host name or IP address.
    pub host: String,
    /// SSH port (22 on a BIG-IP).
    pub port: u16,
    /// Login name.
    pub username: String,
    /// The secret.
    pub auth: Credentials,
    /// The expected host key as `SHA256:<base64>` (what `ssh-keygen -lf` prints). When `None`,
    /// the key pinned in [`crate::HostKeyPins`] is expected; with none pinned,
    /// `host_key_policy` decides.
    pub host_key_sha256: Option<String>,
    /// What to do with a device that has neither a given fingerprint nor a pin.
    pub host_key_policy: HostKeyPolicy,
}

/// The operator's choice (`CCAAS_HOST_KEY_POLICY`) for a device with neither a pinned host key
/// nor a `host_key_sha256` in the task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Refuse it before connecting (`host_key_unknown`): a key is pinned only by a task that
    /// gives its fingerprint and logs in. The default.
    #[default]
    Pinned,
    /// Trust on first use: accept the key offered, and pin it once the login succeeds (the
    /// credentials then go to whatever answered first).
    Tofu,
}

impl HostKeyPolicy {
    /// Parses the setting's value, `pinned` or `tofu`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pinned" => Some(HostKeyPolicy::Pinned),
            "tofu" => Some(HostKeyPolicy::Tofu),
            _ => None,
        }
    }
}

impl fmt::Debug for DeviceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("auth", &self.auth)
            .field("host_key_sha256", &self.host_key_sha256)
            .field("host_key_policy", &self.host_key_policy)
            .finish()
    }
}

/// Time limits of one device operation. Every stage has its own limit, and the whole operation
/// (`identify`, `start` or `end`) has one more on top, which should stay below the caller's own
/// deadline (the Lambda timeout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// SSH version exchange and key exchange (includes the host-key check).
    pub handshake: Duration,
    /// All authentication round trips together.
    pub auth: Duration,
    /// One ordinary command, from exec to channel close.
    pub command: Duration,
    /// Longest silence tolerated while a command (notably the archive stream) is running.
    pub idle: Duration,
    /// How long to wait for the `.gcda` files to become stable after a flush.
    pub flush: Duration,
    /// The whole operation.
    pub operation: Duration,
    /// SSH keepalive interval; a peer that misses three in a row is dead.
    pub keepalive: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(15),
            auth: Duration::from_secs(20),
            command: Duration::from_secs(60),
            idle: Duration::from_secs(30),
            flush: Duration::from_secs(60),
            operation: Duration::from_secs(600),
            keepalive: Duration::from_secs(10),
        }
    }
}

/// Size limits of one device operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of stdout kept from an ordinary command; more is drained and makes the command
    /// fail as unparsable.
    pub stdout: usize,
    /// Most bytes of stderr kept from any command; more is drained and dropped.
    pub stderr: usize,
    /// Cap on the compressed archive (`too_large` past it).
    pub archive_bytes: u64,
    /// Cap on the uncompressed tar stream (guards against gzip bombs).
    pub unpacked_bytes: u64,
    /// Cap on one archive entry.
    pub entry_bytes: u64,
    /// Cap on the number of archive entries.
    pub entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stdout: 1 << 20,
            stderr: 64 << 10,
            archive_bytes: 1 << 30,
            unpacked_bytes: 8 << 30,
            entry_bytes: 1 << 30,
            entries: 200_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_password_or_the_key() {
        let t = DeviceTarget {
            host: "10.0.0.1".into(),
            port: 22,
            username: "root".into(),
            auth: Credentials::Password("hunter2-canary".into()),
            host_key_sha256: None,
            host_key_policy: HostKeyPolicy::default(),
        };
        let s = format!("{t:?} {t:#?}");
        assert!(!s.contains("hunter2-canary"), "{s}");
        assert!(s.contains("10.0.0.1") && s.contains("redacted"));
        let k = Credentials::PrivateKey {
            pem: "-----BEGIN OPENSSH PRIVATE KEY-----canary".into(),
            passphrase: Some("pass-canary".into()),
        };
        let s = format!("{k:?}");
        assert!(!s.contains("canary"), "{s}");
    }
}
