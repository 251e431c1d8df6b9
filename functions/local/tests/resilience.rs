//! The emulator stopped mid-run, throttled AWS calls, and a canary password that must appear
//! nowhere.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use ccaas_testkit::Throttle;
use common::sim::Sim;
use common::{App, Emulator, spawn_app, start_body, unique};
use reqwest::StatusCode;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// A TCP forwarder on its own port in front of `127.0.0.1:<upstream>` that, until `release`,
/// holds each connection it accepts (neither answers nor forwards) and reports it on `held`:
/// the test then knows that a delivery is at the device, past its lease write. On `release`
/// the held connections are closed, and later ones are forwarded.
struct HoldingProxy {
    port: u16,
    held: mpsc::UnboundedReceiver<()>,
    release: watch::Sender<bool>,
}

impl HoldingProxy {
    async fn start(upstream: u16) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("its address").port();
        let (held_tx, held) = mpsc::unbounded_channel();
        let (release, released) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut released = released.clone();
                if !*released.borrow() {
                    let _ = held_tx.send(());
                    tokio::spawn(async move {
                        let _ = released.wait_for(|r| *r).await;
                        drop(inbound);
                    });
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        HoldingProxy {
            port,
            held,
            release,
        }
    }
}

// RELIABILITY F6: the emulator frozen (SIGSTOP) while a delivery is at the device. The outage
// lasts until the test has seen what it is for, not for a fixed time: the task is running
// under its lease when the emulator stops, its delivery fails at the device, and the worker
// fails to release the lease against the frozen store. Nothing counts deliveries while the
// emulator is frozen (receive counts live in it), so that delivery is the first of five and
// the task has four more, against a live emulator, to finish on.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_emulator_stopped_the_api_says_503_and_the_work_resumes_after() {
    let emu = Emulator::private();
    let sim = Sim::up();
    let mut proxy = HoldingProxy::start(sim.port).await;
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(
        &emu,
        &[
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("CCAAS_LEASE_SECS", "2"),
            ("CCAAS_AWS_TIMEOUT_SECS", "3"),
            ("CCAAS_RETRY_WINDOW_SECS", "600"),
        ],
    )
    .await;
    // The device as the tasks name it: the simulator behind the proxy.
    let body = |ty: &str| {
        sim.body(ty, "").replace(
            &format!(r#""port":{}"#, sim.port),
            &format!(r#""port":{}"#, proxy.port),
        )
    };
    let user = "session-test";

    let r = app.post(body("code-coverage-start"), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let start = r.json()["id"].as_str().unwrap().to_string();
    tokio::time::timeout(Duration::from_secs(60), proxy.held.recv())
        .await
        .expect("no delivery reached the device")
        .expect("the proxy runs");
    let t = app.get(&format!("/v1/tasks/{start}")).await.json();
    assert_eq!(t["status"], "running", "taken under a lease: {t}");

    // Freeze the emulator while the delivery is at the device, then fail it there.
    let logged_before = app.logs().len();
    emu.signal("STOP");
    proxy.release.send_replace(true);
    let r = app.post(body("code-coverage-start"), None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "unavailable");
    assert!(r.headers.contains_key("retry-after"));
    let g = app.get(&format!("/v1/tasks/{start}")).await;
    assert_eq!(g.status, StatusCode::SERVICE_UNAVAILABLE, "{}", g.text);
    // The failed delivery could not release its lease: the store is frozen.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !app
        .logs()
        .get(logged_before..)
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("could not release the lease") && l.contains(&start))
    {
        assert!(
            Instant::now() < deadline,
            "the failed delivery never met the frozen store: {}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    emu.signal("CONT");

    // The task left running under its lease is taken over and finishes, and a whole session
    // on the device runs after the outage.
    let t = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    assert!(
        app.logs()
            .lines()
            // Expired, or left by an earlier delivery of the same message (docs/design.md).
            .any(|l| l.contains("taking over") && l.contains("lease") && l.contains(&start)),
        "the task finished without a takeover of the lease it was left running under"
    );
    sim.poke(&["tmm", "add", "1", "2"]);
    let r = app.post(body("code-coverage-end"), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let end = r.json()["id"].as_str().unwrap().to_string();
    let t = app.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_eq!(t["result"]["session"], start.as_str(), "{t}");
    let running = app
        .get(&format!("/v1/tasks?user={user}&status=running"))
        .await
        .json();
    assert_eq!(running["count"], 0, "{running}");
    assert!(!app.logs().contains("panicked"), "ccaas-local panicked");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_password_appears_in_no_item_no_response_and_no_trace_log() {
    let emu = Emulator::private();
    let app = spawn_app(&emu, &[("RUST_LOG", "trace")]).await;
    let canary = unique("canary-secret");
    let user = unique("canary");
    let mut responses = Vec::new();

    let r = app
        .post(start_body(&user, "c1", &canary), Some("canary-key"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let id = r.json()["id"].as_str().unwrap().to_string();
    responses.push(r.text);
    responses.push(
        app.post(start_body(&user, "c1", &canary), Some("canary-key"))
            .await
            .text,
    );
    // Bad input carrying the canary: the error must not echo it.
    let bad = start_body(&user, "c1", &canary).replace("\"port\":22", "\"port\":\"x\"");
    responses.push(app.post(bad, None).await.text);
    let bad = start_body(&user, "c1", &canary).replace("\"tmm\"", &format!("\"{canary}\""));
    responses.push(app.post(bad, None).await.text);
    let key_body = start_body(&user, "c2", "x").replace(
        r#""password":"x""#,
        &format!(r#""private_key":"-----BEGIN OPENSSH PRIVATE KEY-----\n{canary}\n-----END OPENSSH PRIVATE KEY-----\n""#),
    );
    let r = app.post(key_body, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    responses.push(r.text);

    for id in [&id, &id2] {
        let done = app.wait_terminal(id, Duration::from_secs(30)).await;
        responses.push(done.to_string());
        responses.push(app.get(&format!("/v1/tasks/{id}/log")).await.text);
    }
    responses.push(app.get(&format!("/v1/tasks?user={user}")).await.text);

    for r in &responses {
        assert!(!r.contains(&canary), "a response echoes the secret: {r}");
    }
    for table in ["CCAAS_TASKS_TABLE", "CCAAS_DEVICES_TABLE"] {
        let items = emu.dump_table(&emu.var(table)).await;
        assert!(!items.is_empty() || table == "CCAAS_DEVICES_TABLE");
        for item in items {
            assert!(!item.contains(&canary), "{table} holds the secret: {item}");
        }
    }
    let logs = app.logs();
    assert!(logs.contains("TRACE"), "the log runs at TRACE");
    let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(&canary)).collect();
    assert!(
        leaks.is_empty(),
        "the TRACE log holds the secret: {:.600}",
        leaks.join("\n")
    );
}

#[tokio::test]
async fn the_queue_holds_only_a_kms_sealed_device_access_that_opens_for_its_own_task_alone() {
    use ccaas_app::Sealer;
    let emu = Emulator::private();
    let app = spawn_app(&emu, &[("CCAAS_LOCAL_WORKER", "off")]).await;
    let canary = unique("canary-sqs");
    let r = app.post(start_body("kms", "k1", &canary), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();

    let got = emu
        .sqs()
        .receive_message()
        .queue_url(emu.var("CCAAS_QUEUE_URL"))
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let body = got.messages()[0].body().unwrap().to_string();
    assert!(
        !body.contains(&canary),
        "the queue holds the secret: {body}"
    );
    assert!(!body.contains("\"password\""), "{body}");
    let m: ccaas_domain::SealedMessage = serde_json::from_str(&body).unwrap();
    assert_eq!(m.task_id.as_str(), id);

    let sealer = ccaas_queue::KmsSealer::new(emu.kms(), emu.var("CCAAS_KMS_KEY"));
    let plain = sealer.open(&m.task_id, &m.sealed_device).await.unwrap();
    assert!(String::from_utf8(plain).unwrap().contains(&canary));
    let other = ccaas_domain::TaskId::parse("01JD0000000000000000000009").unwrap();
    let e = sealer.open(&other, &m.sealed_device).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
}

/// Submits `body` with an Idempotency-Key, again on each 503, until it is accepted.
async fn submit_until_accepted(app: &App, body: String, key: &str) -> String {
    for _ in 0..20 {
        let r = app.post(body.clone(), Some(key)).await;
        match r.status {
            StatusCode::ACCEPTED => return r.json()["id"].as_str().unwrap().to_string(),
            StatusCode::SERVICE_UNAVAILABLE => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            s => panic!("submit answered {s}: {}", r.text),
        }
    }
    panic!("submit never accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_first_and_every_fifth_call_of_each_aws_service_throttled_a_whole_session_succeeds()
 {
    let emu = Emulator::private();
    let proxy = Throttle::start(&emu.var("AWS_ENDPOINT_URL"), 5).await;
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(
        &emu,
        &[
            ("AWS_ENDPOINT_URL", proxy.endpoint.as_str()),
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("CCAAS_RETRY_WINDOW_SECS", "600"),
        ],
    )
    .await;

    let start = submit_until_accepted(&app, sim.body("code-coverage-start", ""), "thr-start").await;
    let t = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    sim.poke(&["tmm", "add", "1", "2"]);
    let end = submit_until_accepted(&app, sim.body("code-coverage-end", ""), "thr-end").await;
    let t = app.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    assert!(t["result"]["link"].is_string(), "{t}");

    // Throttles really came from every service the stack calls, and none became a 500 or
    // a panic (wait_terminal retries a 503 and would report any other status at its end).
    let throttled = proxy.throttled();
    eprintln!("throttled {throttled:?} of {} calls", proxy.seen());
    for svc in ["dynamodb", "sqs", "s3", "kms"] {
        assert!(
            throttled.get(svc).copied().unwrap_or(0) > 0,
            "no {svc} call was throttled: {throttled:?} of {}",
            proxy.seen()
        );
    }
    let logs = app.logs();
    assert!(!logs.contains("panicked"), "ccaas-local panicked");
    let list = app.get("/v1/tasks?status=running").await;
    assert_ne!(
        list.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        list.text
    );
}
