//! One SSH connection to a device: TCP with a timeout, key exchange with the host-key check,
//! authentication, and commands with exit status, output caps and a command log.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{self, KeyboardInteractiveAuthResponse};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use russh::{ChannelMsg, Disconnect, MethodKind};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::DeviceError;
use crate::log::{CommandRecord, Seen, now_rfc3339};
use crate::target::{Credentials, DeviceTarget, HostKeyPolicy, Limits, Timeouts};
use ccaas_app::ports::{HostKeyPins, PinOutcome};

/// Normalises a fingerprint to `SHA256:<base64 without padding>`.
pub fn normalize_fingerprint(f: &str) -> String {
    let f = f.trim();
    let body = f.strip_prefix("SHA256:").unwrap_or(f);
    format!("SHA256:{}", body.trim_end_matches('='))
}

struct KeyCheck {
    expected: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for KeyCheck {
    type Error = DeviceError;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let actual = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => {
                normalize_fingerprint(&key.fingerprint(HashAlg::Sha256).to_string())
            }
            _ => "<certificate>".to_string(),
        };
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(actual.clone());
        }
        match &self.expected {
            Some(exp) if *exp == actual => Ok(true),
            Some(exp) => Err(DeviceError::HostKeyMismatch {
                expected: exp.clone(),
                actual,
            }),
            // No key expected (policy tofu, nothing pinned): `seen` is pinned after the login.
            None if actual != "<certificate>" => Ok(true),
            None => Err(DeviceError::HostKeyMismatch {
                expected: "<a plain host key>".into(),
                actual,
            }),
        }
    }
}

/// Kills the socket pump when dropped, so a timed-out handshake leaves no session task behind.
struct Pump(JoinHandle<()>);

impl Drop for Pump {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Output of one command.
#[derive(Debug)]
pub(crate) struct Output {
    pub exit: u32,
    pub stdout: Vec<u8>,
}

/// What a streaming command hands its data to.
pub(crate) trait DataSink: Send {
    /// Takes the next stdout chunk.
    fn data(&mut self, chunk: &[u8]) -> impl Future<Output = Result<(), DeviceError>> + Send;
}

pub(crate) struct Conn {
    handle: client::Handle<KeyCheck>,
    _pump: Pump,
    timeouts: Timeouts,
    limits: Limits,
    secrets: Vec<String>,
    log: Arc<Mutex<Vec<CommandRecord>>>,
}

impl Conn {
    /// Connects, checks the host key, authenticates, and only then pins the key.
    ///
    /// The key expected is the task's `host_key_sha256`, else the pinned one; with neither,
    /// policy `pinned` refuses before connecting (`host_key_unknown`) and `tofu` accepts the
    /// key offered. Every failure before the login succeeds is [`DeviceError::Unanswered`]
    /// (`unreachable`), except a key that differs from the one expected (the caller gave it,
    /// or a login to this device pinned it), which is `host_key_mismatch`. The pin is written
    /// after a successful login only, so a caller without valid credentials writes none.
    pub async fn open<P: HostKeyPins>(
        target: &DeviceTarget,
        pins: &P,
        timeouts: &Timeouts,
        limits: &Limits,
        legacy: bool,
        log: Arc<Mutex<Vec<CommandRecord>>>,
    ) -> Result<Conn, DeviceError> {
        let addr = match target.host.contains(':') {
            true => format!("[{}]:{}", target.host, target.port),
            false => format!("{}:{}", target.host, target.port),
        };
        let given = target.host_key_sha256.as_deref().map(normalize_fingerprint);
        let pinned = match &given {
            Some(_) => None,
            None => pins
                .pinned(&target.host, target.port)
                .await
                .map_err(pin_error)?
                .map(|k| normalize_fingerprint(&k)),
        };
        if given.is_none() && pinned.is_none() && target.host_key_policy == HostKeyPolicy::Pinned {
            return Err(DeviceError::UnknownHostKey { addr });
        }
        // A key the caller cannot decode is the caller's own input: said before any packet.
        if let Credentials::PrivateKey { pem, passphrase } = &target.auth {
            russh::keys::decode_secret_key(pem, passphrase.as_deref()).map_err(|_| {
                DeviceError::Config {
                    detail: "the private key could not be decoded".into(),
                }
            })?;
        }
        let expected = given.clone().or(pinned.clone());
        let (conn, seen) =
            match Self::login(target, expected.clone(), timeouts, limits, legacy, log).await {
                Ok(c) => c,
                Err(e @ DeviceError::HostKeyMismatch { .. }) if expected.is_some() => {
                    return Err(e);
                }
                Err(cause) => {
                    tracing::warn!(device = %addr, code = cause.code(), error = %cause,
                    "no login; the task is told `unreachable`");
                    return Err(DeviceError::Unanswered {
                        addr,
                        cause: Box::new(cause),
                    });
                }
            };
        if pinned.is_none() {
            // Logged in with the key given or first seen: pin it now, never before.
            match pins.pin(&target.host, target.port, &seen).await {
                Ok(PinOutcome::Pinned) => {
                    tracing::info!(device = %addr, fingerprint = %seen, "pinned the host key after a successful login")
                }
                // The caller named this key and the device proved it: the task goes on,
                // the older pin stays until an admin drops it.
                Ok(PinOutcome::Differs { pinned }) if given.is_some() => {
                    tracing::warn!(device = %addr, %pinned, fingerprint = %seen, "the task's host key differs from the pin; the pin is kept")
                }
                Ok(PinOutcome::Differs { pinned }) => {
                    conn.close().await;
                    return Err(DeviceError::HostKeyMismatch {
                        expected: pinned,
                        actual: seen,
                    });
                }
                Err(e) => {
                    conn.close().await;
                    return Err(pin_error(e));
                }
            }
        }
        Ok(conn)
    }

    /// TCP, key exchange (accepting only `expected`, or any plain key when `None`) and
    /// authentication; answers the connection and the fingerprint seen.
    async fn login(
        target: &DeviceTarget,
        expected: Option<String>,
        timeouts: &Timeouts,
        limits: &Limits,
        legacy: bool,
        log: Arc<Mutex<Vec<CommandRecord>>>,
    ) -> Result<(Conn, String), DeviceError> {
        let addr = format!("{}:{}", target.host, target.port);
        let tcp = match timeout(
            timeouts.connect,
            TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        {
            Err(_) => {
                return Err(DeviceError::Timeout {
                    stage: "connect",
                    after: timeouts.connect,
                });
            }
            Ok(Err(source)) => return Err(DeviceError::Unreachable { addr, source }),
            Ok(Ok(s)) => s,
        };
        let _ = tcp.set_nodelay(true);
        // russh reads and writes through an in-memory pipe; the pump owns the socket, and
        // aborting it (on drop) ends the SSH session task however far it got.
        let (ours, theirs) = tokio::io::duplex(256 << 10);
        let pump = Pump(tokio::spawn(async move {
            let mut tcp = tcp;
            let mut theirs = theirs;
            let _ = tokio::io::copy_bidirectional(&mut tcp, &mut theirs).await;
            let _ = tcp.shutdown().await;
        }));

        let config = Arc::new(client::Config {
            keepalive_interval: Some(timeouts.keepalive),
            keepalive_max: 3,
            nodelay: true,
            preferred: if legacy {
                legacy_preferred()
            } else {
                russh::Preferred::DEFAULT
            },
            ..Default::default()
        });
        let seen = Arc::new(Mutex::new(None));
        let handler = KeyCheck {
            expected,
            seen: seen.clone(),
        };
        let handle = match timeout(
            timeouts.handshake,
            client::connect_stream(config, ours, handler),
        )
        .await
        {
            Err(_) => {
                return Err(DeviceError::Timeout {
                    stage: "handshake",
                    after: timeouts.handshake,
                });
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(h)) => h,
        };
        let fp = seen
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| DeviceError::Protocol {
                detail: "no host key seen during the handshake".into(),
            })?;

        let mut conn = Conn {
            handle,
            _pump: pump,
            timeouts: timeouts.clone(),
            limits: limits.clone(),
            secrets: target
                .auth
                .secrets()
                .into_iter()
                .map(str::to_string)
                .collect(),
            log,
        };
        match timeout(timeouts.auth, conn.authenticate(target)).await {
            Err(_) => Err(DeviceError::Timeout {
                stage: "auth",
                after: timeouts.auth,
            }),
            // russh reports a connection lost during auth as a plain failure.
            Ok(Err(DeviceError::AuthFailed { .. })) if conn.handle.is_closed() => {
                Err(DeviceError::reset("connection lost during authentication"))
            }
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Ok((conn, fp)),
        }
    }

    async fn authenticate(&mut self, target: &DeviceTarget) -> Result<(), DeviceError> {
        let user = target.username.as_str();
        let failed = |detail: &str| DeviceError::AuthFailed {
            user: user.to_string(),
            detail: detail.to_string(),
        };
        match &target.auth {
            Credentials::PrivateKey { pem, passphrase } => {
                let key =
                    russh::keys::decode_secret_key(pem, passphrase.as_deref()).map_err(|_| {
                        DeviceError::Config {
                            detail: "the private key could not be decoded".into(),
                        }
                    })?;
                let hash = self.handle.best_supported_rsa_hash().await?.flatten();
                let r = self
                    .handle
                    .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                    .await?;
                if r.success() {
                    Ok(())
                } else {
                    Err(failed("public key refused"))
                }
            }
            Credentials::Password(pw) => {
                let mut resp = self
                    .handle
                    .authenticate_keyboard_interactive_start(user, None)
                    .await?;
                let mut rounds = 0;
                let mut answered = 0;
                loop {
                    match resp {
                        KeyboardInteractiveAuthResponse::Success => return Ok(()),
                        KeyboardInteractiveAuthResponse::Failure {
                            remaining_methods, ..
                        } => {
                            if answered == 0 && remaining_methods.contains(&MethodKind::Password) {
                                let r =
                                    self.handle.authenticate_password(user, pw.as_str()).await?;
                                return if r.success() {
                                    Ok(())
                                } else {
                                    Err(failed("password refused"))
                                };
                            }
                            return Err(failed(if answered == 0 {
                                "neither keyboard-interactive nor password is offered"
                            } else {
                                "password refused"
                            }));
                        }
                        KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                            rounds += 1;
                            if rounds > 8 {
                                return Err(failed("too many keyboard-interactive rounds"));
                            }
                            let answers = if prompts.is_empty() {
                                Vec::new()
                            } else if let Some(odd) = prompts
                                .iter()
                                .find(|p| !is_password_prompt(&p.prompt, p.echo))
                            {
                                // Never hand the secret to a prompt we do not understand.
                                let shown: String = odd.prompt.escape_debug().take(80).collect();
                                return Err(failed(&format!(
                                    "unexpected keyboard-interactive prompt {shown:?}; secret withheld"
                                )));
                            } else if answered >= 2 {
                                return Err(failed("password refused"));
                            } else {
                                answered += 1;
                                prompts.iter().map(|_| pw.clone()).collect()
                            };
                            resp = self
                                .handle
                                .authenticate_keyboard_interactive_respond(answers)
                                .await?;
                        }
                    }
                }
            }
        }
    }

    fn record(
        &self,
        command: &str,
        started: Instant,
        at: String,
        exit: Option<u32>,
        out: &Seen,
        err: &Seen,
    ) {
        let rec = CommandRecord {
            at,
            command: command.to_string(),
            exit,
            ms: started.elapsed().as_millis() as u64,
            stdout_tail: out.tail(&self.secrets),
            stderr_tail: err.tail(&self.secrets),
        };
        tracing::debug!(command = %rec.command, exit = ?rec.exit, ms = rec.ms, "device command");
        if let Ok(mut l) = self.log.lock() {
            l.push(rec);
        }
    }

    /// Runs one command within the command timeout. A non-zero exit is returned, not an error.
    pub async fn run(&self, command: &str) -> Result<Output, DeviceError> {
        let limit = self.timeouts.command;
        let mut sink = CollectSink {
            buf: Vec::new(),
            cap: self.limits.stdout,
            over: false,
        };
        let r = match timeout(limit, self.exec(command, &mut sink)).await {
            Err(_) => Err(DeviceError::Timeout {
                stage: "command",
                after: limit,
            }),
            Ok(r) => r,
        };
        let exit = r?;
        if sink.over {
            return Err(DeviceError::Protocol {
                detail: format!(
                    "output of {command:?} exceeded {} bytes",
                    self.limits.stdout
                ),
            });
        }
        Ok(Output {
            exit,
            stdout: sink.buf,
        })
    }

    /// Runs a command and fails unless it exits 0.
    pub async fn run_ok(&self, command: &str) -> Result<Vec<u8>, DeviceError> {
        let o = self.run(command).await?;
        if o.exit != 0 {
            let stderr_tail = self
                .log
                .lock()
                .ok()
                .and_then(|l| l.last().map(|r| r.stderr_tail.clone()))
                .unwrap_or_default();
            return Err(DeviceError::CommandFailed {
                command: command.to_string(),
                exit: Some(o.exit),
                stderr_tail,
            });
        }
        Ok(o.stdout)
    }

    /// Runs a command, handing stdout to `sink` as it arrives, with only the idle limit per
    /// read (the caller bounds the whole). Returns the exit status.
    pub async fn exec<S: DataSink>(&self, command: &str, sink: &mut S) -> Result<u32, DeviceError> {
        let at = now_rfc3339();
        let started = Instant::now();
        let mut err = Seen::default();
        let mut out = Seen::default();
        let r = self.exec_inner(command, sink, &mut err, &mut out).await;
        let exit = r.as_ref().ok().copied();
        self.record(command, started, at, exit, &out, &err);
        r
    }

    async fn exec_inner<S: DataSink>(
        &self,
        command: &str,
        sink: &mut S,
        err: &mut Seen,
        out: &mut Seen,
    ) -> Result<u32, DeviceError> {
        let idle = self.timeouts.idle;
        let mut ch = match timeout(idle, self.handle.channel_open_session()).await {
            Err(_) => {
                return Err(DeviceError::Timeout {
                    stage: "idle",
                    after: idle,
                });
            }
            Ok(r) => r?,
        };
        ch.exec(true, command).await?;
        let mut exit: Option<u32> = None;
        let mut signal: Option<String> = None;
        loop {
            let msg = match timeout(idle, ch.wait()).await {
                Err(_) => {
                    let _ = ch.close().await;
                    return Err(DeviceError::Timeout {
                        stage: "idle",
                        after: idle,
                    });
                }
                Ok(m) => m,
            };
            match msg {
                // The channel is gone: either after Close, or because the session died.
                None | Some(ChannelMsg::Close) => break,
                Some(ChannelMsg::Data { data }) => {
                    out.keep_last(&data);
                    if let Err(e) = sink.data(&data).await {
                        let _ = ch.close().await;
                        return Err(e);
                    }
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    err.keep_first(&data, self.limits.stderr);
                }
                // Exit status may come before or after EOF; keep reading until the close.
                Some(ChannelMsg::ExitStatus { exit_status }) => exit = Some(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    signal = Some(format!("{signal_name:?}"))
                }
                Some(ChannelMsg::Failure) => {
                    return Err(DeviceError::CommandFailed {
                        command: command.to_string(),
                        exit: None,
                        stderr_tail: "the device refused the exec request".into(),
                    });
                }
                Some(_) => {}
            }
        }
        match (exit, signal) {
            (Some(code), _) => Ok(code),
            // A signal comes from outside the command: the device shutting down (sshd sends
            // TERM or HUP to its sessions), an operator or the OOM killer. The data on the
            // device is untouched, so a later try may succeed (docs/device.md, `reset`).
            (None, Some(sig)) => Err(DeviceError::reset(format!(
                "{command:?} was killed by signal {sig}"
            ))),
            (None, None) => Err(DeviceError::reset(format!(
                "channel of {command:?} closed without an exit status"
            ))),
        }
    }

    /// Ends the session politely.
    pub async fn close(self) {
        let _ = timeout(
            Duration::from_secs(2),
            self.handle.disconnect(Disconnect::ByApplication, "", "en"),
        )
        .await;
    }
}

/// russh's defaults plus the SHA-1 key exchanges and MACs that old devices still need. Only
/// used for devices flagged as legacy.
fn legacy_preferred() -> russh::Preferred {
    use russh::{kex, mac};
    let mut kexes: Vec<kex::Name> = russh::Preferred::DEFAULT.kex.to_vec();
    let at = kexes
        .iter()
        .position(|k| *k == kex::EXTENSION_SUPPORT_AS_CLIENT)
        .unwrap_or(kexes.len());
    for (i, k) in [kex::DH_G14_SHA1, kex::DH_GEX_SHA1, kex::DH_G1_SHA1]
        .into_iter()
        .enumerate()
    {
        kexes.insert(at + i, k);
    }
    let mut macs: Vec<mac::Name> = russh::Preferred::DEFAULT.mac.to_vec();
    macs.extend([mac::HMAC_SHA1_ETM, mac::HMAC_SHA1]);
    russh::Preferred {
        kex: kexes.into(),
        mac: macs.into(),
        ..russh::Preferred::DEFAULT
    }
}

struct CollectSink {
    buf: Vec<u8>,
    cap: usize,
    over: bool,
}

impl DataSink for CollectSink {
    async fn data(&mut self, chunk: &[u8]) -> Result<(), DeviceError> {
        // Keep draining past the cap (russh needs the channel read), but drop the excess.
        let room = self.cap.saturating_sub(self.buf.len());
        if chunk.len() > room {
            self.over = true;
        }
        self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        Ok(())
    }
}

fn pin_error(e: ccaas_app::Error) -> DeviceError {
    DeviceError::PinStore {
        detail: "pin store unavailable".into(),
        source: Some(Box::new(e)),
    }
}

/// Whether a keyboard-interactive prompt asks for the login password.
pub fn is_password_prompt(prompt: &str, echo: bool) -> bool {
    let p = prompt.to_ascii_lowercase();
    !echo
        && p.contains("password")
        && ![
            "new",
            "again",
            "retype",
            "confirm",
            "verification",
            "otp",
            "token",
        ]
        .iter()
        .any(|w| p.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_hidden_password_prompts_get_the_secret() {
        assert!(is_password_prompt("Password: ", false));
        assert!(is_password_prompt("root@bigip's password:", false));
        assert!(!is_password_prompt("Password: ", true));
        assert!(!is_password_prompt("New password: ", false));
        assert!(!is_password_prompt("Verification code: ", false));
        assert!(!is_password_prompt("Enter PIN:", false));
    }

    #[test]
    fn fingerprints_are_compared_in_one_form() {
        assert_eq!(normalize_fingerprint("abc="), "SHA256:abc");
        assert_eq!(normalize_fingerprint(" SHA256:abc "), "SHA256:abc");
    }
}
