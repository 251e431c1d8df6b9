//! Protocol corners that OpenSSH does not produce on demand, against an in-process russh
//! server: keyboard-interactive prompt handling, a silent auth, EOF before exit status, a
//! command killed by a signal.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccaas_app::memory::MemoryPins;
use ccaas_device::{
    Credentials, Device, DeviceError, DeviceProfile, DeviceTarget, HostKeyPolicy, SshDevice,
    Timeouts,
};
use russh::server::{Auth, Msg, Response, Server as _, Session};
use russh::{Channel, ChannelId};

const PASSWORD: &str = "canary-secret-9d1e";
/// The fake server's host key: generated for these tests only, protects nothing.
const HOST_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBW9V0HfdwDfTNAUPHNxUUZRlFMaT/GNdGKPb3Rbks6JgAAAKDnJKwR5ySs
EQAAAAtzc2gtZWQyNTUxOQAAACBW9V0HfdwDfTNAUPHNxUUZRlFMaT/GNdGKPb3Rbks6Jg
AAAEDhMcqV8viYRQ4LD7zUKZFZSZQcTvyK/6yzI23SZcsdbFb1XQd93AN9M0BQ8c3FRRlG
UUxpP8Y10Yo9vdFuSzomAAAAGWZha2Utc2VydmVyLXRlc3QtaG9zdC1rZXkBAgME
-----END OPENSSH PRIVATE KEY-----
";
const VERSION: &str = "Product: BIG-IP\nVersion: 17.1.0\nBuild: 0.0.16\n";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    /// An empty InfoRequest first, then a password prompt.
    EmptyThenPassword,
    /// A password prompt first, then an empty InfoRequest (as PAM stacks send after the
    /// password), then success.
    PasswordThenEmpty,
    /// A prompt that is not a password prompt.
    UnexpectedPrompt,
    /// A password prompt and a second, echoed question in the same request.
    MixedPrompts,
    /// Never answers the auth request.
    SilentAuth,
    /// Accepts; the command's EOF comes well before its exit status (3).
    EofBeforeExit,
    /// Accepts; the command ends by SIGTERM (as when the device shuts down), with no status.
    KilledBySignal,
}

#[derive(Clone)]
struct Fake {
    scenario: Scenario,
    /// Every keyboard-interactive response the server received.
    responses: Arc<Mutex<Vec<String>>>,
    round: Arc<Mutex<u32>>,
}

impl russh::server::Server for Fake {
    type Handler = Fake;
    fn new_client(&mut self, _: Option<std::net::SocketAddr>) -> Fake {
        self.clone()
    }
}

fn prompts(p: &[(&'static str, bool)]) -> Auth {
    Auth::Partial {
        name: "".into(),
        instructions: "".into(),
        prompts: p
            .iter()
            .map(|(s, e)| (std::borrow::Cow::Borrowed(*s), *e))
            .collect::<Vec<_>>()
            .into(),
    }
}

impl russh::server::Handler for Fake {
    type Error = russh::Error;

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let answers: Vec<String> = response
            .map(|r| {
                r.map(|b| String::from_utf8_lossy(&b).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        self.responses
            .lock()
            .unwrap()
            .extend(answers.iter().cloned());
        let round = {
            let mut r = self.round.lock().unwrap();
            *r += 1;
            *r
        };
        Ok(match (self.scenario, round) {
            (Scenario::SilentAuth, _) => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Auth::reject()
            }
            (Scenario::EmptyThenPassword, 1) => prompts(&[]),
            (Scenario::EmptyThenPassword, 2) => {
                assert!(
                    answers.is_empty(),
                    "an empty request must get an empty response"
                );
                prompts(&[("Password: ", false)])
            }
            (Scenario::EmptyThenPassword, _) if answers == [PASSWORD] => Auth::Accept,
            (Scenario::PasswordThenEmpty, 1) => prompts(&[("Password: ", false)]),
            (Scenario::PasswordThenEmpty, 2) if answers == [PASSWORD] => prompts(&[]),
            (Scenario::PasswordThenEmpty, 3) if answers.is_empty() => Auth::Accept,
            (Scenario::UnexpectedPrompt, 1) => prompts(&[("Verification code: ", false)]),
            (Scenario::MixedPrompts, 1) => {
                prompts(&[("Password: ", false), ("Favourite colour? ", true)])
            }
            (Scenario::EofBeforeExit | Scenario::KilledBySignal, 1) => {
                prompts(&[("Password: ", false)])
            }
            (Scenario::EofBeforeExit | Scenario::KilledBySignal, _) if answers == [PASSWORD] => {
                Auth::Accept
            }
            _ => Auth::reject(),
        })
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        session.data(channel, VERSION.as_bytes().to_vec())?;
        session.eof(channel)?;
        let h = session.handle();
        if self.scenario == Scenario::KilledBySignal {
            tokio::spawn(async move {
                let _ = h
                    .exit_signal_request(channel, russh::Sig::TERM, false, "".into(), "".into())
                    .await;
                let _ = h.close(channel).await;
            });
            return Ok(());
        }
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = h.data(channel, b"late".to_vec()).await;
            let _ = h.exit_status_request(channel, 3).await;
            let _ = h.close(channel).await;
        });
        Ok(())
    }
}

struct Running {
    port: u16,
    responses: Arc<Mutex<Vec<String>>>,
}

async fn serve(scenario: Scenario) -> Running {
    let key = russh::keys::decode_secret_key(HOST_KEY, None).unwrap();
    let config = Arc::new(russh::server::Config {
        keys: vec![key],
        auth_rejection_time: Duration::from_millis(10),
        auth_rejection_time_initial: Some(Duration::from_millis(0)),
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let responses = Arc::new(Mutex::new(Vec::new()));
    let mut fake = Fake {
        scenario,
        responses: responses.clone(),
        round: Arc::new(Mutex::new(0)),
    };
    tokio::spawn(async move {
        let _ = fake.run_on_socket(config, &listener).await;
    });
    Running { port, responses }
}

fn device(port: u16, timeouts: Timeouts) -> SshDevice<Arc<MemoryPins>> {
    let target = DeviceTarget {
        host: "127.0.0.1".into(),
        port,
        username: "root".into(),
        auth: Credentials::Password(PASSWORD.into()),
        host_key_sha256: None,
        // The fake server's key is made up per run: trust it on first use.
        host_key_policy: HostKeyPolicy::Tofu,
    };
    SshDevice::new(target, DeviceProfile::bigip(), Arc::new(MemoryPins::new()))
        .with_timeouts(timeouts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_info_request_gets_an_empty_answer_and_then_the_password_prompt_gets_the_secret() {
    let s = serve(Scenario::EmptyThenPassword).await;
    device(s.port, Timeouts::default()).check().await.unwrap();
    assert_eq!(*s.responses.lock().unwrap(), [PASSWORD]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_prompt_then_an_empty_info_request_gets_the_secret_once_and_then_an_empty_answer()
 {
    let s = serve(Scenario::PasswordThenEmpty).await;
    device(s.port, Timeouts::default()).check().await.unwrap();
    // Round 1 sent nothing, round 2 the password, round 3 the empty answer.
    assert_eq!(*s.responses.lock().unwrap(), [PASSWORD]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexpected_prompt_fails_auth_and_never_receives_the_secret() {
    let s = serve(Scenario::UnexpectedPrompt).await;
    let e = device(s.port, Timeouts::default())
        .check()
        .await
        .unwrap_err();
    // Before a login the caller is told only `unreachable`; the cause stays for the log.
    assert_eq!(e.code(), "unreachable");
    let cause = e.concealed().expect("the cause is kept");
    assert_eq!(cause.code(), "auth_failed");
    assert!(!e.to_string().contains("Verification code"), "{e}");
    assert!(cause.to_string().contains("Verification code"), "{cause}");
    assert!(!format!("{e} {cause} {e:?}").contains(PASSWORD));
    assert!(
        !s.responses
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.contains(PASSWORD))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_prompt_mixed_with_another_question_is_not_answered() {
    let s = serve(Scenario::MixedPrompts).await;
    let e = device(s.port, Timeouts::default())
        .check()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unreachable");
    assert_eq!(e.concealed().map(DeviceError::code), Some("auth_failed"));
    assert!(!e.is_retryable());
    assert!(s.responses.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_auth_fails_retryably_within_the_auth_timeout_plus_a_second() {
    let s = serve(Scenario::SilentAuth).await;
    let t = Timeouts {
        auth: Duration::from_secs(2),
        ..Timeouts::default()
    };
    let t0 = Instant::now();
    let e = device(s.port, t.clone()).check().await.unwrap_err();
    let took = t0.elapsed();
    assert_eq!(e.code(), "unreachable", "{e}");
    assert_eq!(e.concealed().map(DeviceError::code), Some("timeout"));
    assert!(e.is_retryable());
    assert!(took < t.auth + Duration::from_secs(1), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_status_after_eof_is_still_recorded() {
    let s = serve(Scenario::EofBeforeExit).await;
    let d = device(s.port, Timeouts::default());
    let e = d.identify().await.unwrap_err();
    assert_eq!(e.code(), "command_failed", "{e}");
    let log = d.take_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].exit, Some(3));
    assert!(
        log[0].stdout_tail.ends_with("late"),
        "{:?}",
        log[0].stdout_tail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_killed_by_a_signal_is_a_retryable_reset() {
    let s = serve(Scenario::KilledBySignal).await;
    let d = device(s.port, Timeouts::default());
    let e = d.identify().await.unwrap_err();
    assert_eq!(e.code(), "reset", "{e}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains("TERM"), "{e}");
}
