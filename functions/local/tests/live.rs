//! Resilience on the live stack with the real simulator: a poison message, the emulator
//! killed mid-session, interleaved sessions on three devices, and a canary password followed
//! through a whole session.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use common::sim::Sim;
use common::{Emulator, spawn_app, start_body, unique};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_message_reaches_the_dlq_after_max_receive_count_and_fails_its_task() {
    let emu = Emulator::private();
    let sqs = emu.sqs();
    let queue = emu.var("CCAAS_QUEUE_URL");
    // The worker's CCAAS_MAX_RECEIVES must be the queue's maxReceiveCount.
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .expect("attributes");
    let policy: Value = serde_json::from_str(
        &attrs.attributes().expect("attributes")[&QueueAttributeName::RedrivePolicy],
    )
    .expect("a JSON redrive policy");
    let max = policy["maxReceiveCount"].as_u64().expect("maxReceiveCount");
    assert_eq!(max, 16, "{policy}");
    let dlq_name = policy["deadLetterTargetArn"]
        .as_str()
        .and_then(|a| a.rsplit(':').next())
        .expect("a DLQ arn")
        .to_string();

    // The task is accepted by an API-only process; its real message is taken off the queue,
    // and a body that is not a task message but names the task takes its place.
    let user = unique("poison");
    let host = unique("poison-host");
    let api = spawn_app(&emu, &[("CCAAS_LOCAL_WORKER", "off")]).await;
    let r = api.post(start_body(&user, &host, "pw"), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    drop(api);
    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    assert_eq!(got.messages().len(), 1);
    sqs.delete_message()
        .queue_url(&queue)
        .receipt_handle(got.messages()[0].receipt_handle().unwrap())
        .send()
        .await
        .expect("delete");
    let poison = format!(r#"{{"task_id":"{id}","device":"not a device"}}"#);
    sqs.send_message()
        .queue_url(&queue)
        .message_body(&poison)
        .message_group_id(format!("{host}:22"))
        .message_deduplication_id(format!("poison-{id}"))
        .send()
        .await
        .expect("send the poison");

    let max_s = max.to_string();
    let app = spawn_app(&emu, &[("CCAAS_MAX_RECEIVES", max_s.as_str())]).await;
    let t = app.wait_terminal(&id, Duration::from_secs(90)).await;
    assert_eq!(t["status"], "failed", "{t}");
    assert_eq!(t["error"]["code"], "bad_message", "{t}");

    // The queue moves it to the DLQ at the first receive after its last delivery.
    let dlq = sqs
        .get_queue_url()
        .queue_name(&dlq_name)
        .send()
        .await
        .expect("the DLQ exists");
    let dlq = dlq.queue_url().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let dead = loop {
        let got = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive from the DLQ");
        if !got.messages().is_empty() {
            break got.messages().to_vec();
        }
        assert!(Instant::now() < deadline, "nothing reached the DLQ");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some(poison.as_str()));
    emu.wait_drained(&queue, Duration::from_secs(30)).await;
    // One worker delivery per receive: exactly maxReceiveCount of them.
    let logs = app.logs();
    let deliveries = logs
        .lines()
        .filter(|l| l.contains("message left for redelivery") && l.contains("unreadable message"))
        .count();
    assert_eq!(deliveries as u64, max, "deliveries before the DLQ");
    assert!(!logs.contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emulator_killed_mid_session_neither_stops_nor_panics_ccaas_local_and_work_resumes_once_it_is_back()
 {
    let emu = Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let mut app = spawn_app(
        &emu,
        &[
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("CCAAS_AWS_TIMEOUT_SECS", "3"),
            ("CCAAS_RETRY_WINDOW_SECS", "600"),
        ],
    )
    .await;
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    let start = r.json()["id"].as_str().unwrap().to_string();
    let t = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    sim.poke(&["tmm", "add", "1", "2"]);

    // The end task is in flight (pending or running) when the emulator dies.
    let r = app.post(sim.body("code-coverage-end", ""), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let end = r.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get(&format!("/v1/tasks/{end}")).await.json()["status"] == "pending"
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logged_before_kill = app.logs().len();
    emu.signal("KILL");

    // While it is down: 503s, and the process stays up through the poller's failures: the
    // emulator stays down until the log shows the poller failed, backed off and failed again.
    let r = app.get(&format!("/v1/tasks/{end}")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logs = app.logs();
        let failed_polls = logs
            .get(logged_before_kill..)
            .unwrap_or_default()
            .matches("polling failed; backing off")
            .count();
        if failed_polls >= 2 {
            break;
        }
        assert!(
            app.alive(),
            "ccaas-local exited while the emulator was down"
        );
        assert!(
            Instant::now() < deadline,
            "the poller did not fail twice while the emulator was down: {failed_polls} failures"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        app.alive(),
        "ccaas-local exited while the emulator was down"
    );

    // Back, with fresh resources: moto keeps state in memory only, so the tasks, the queue
    // and the open session it held are gone (DynamoDB and SQS on AWS keep theirs). What must
    // hold: ccaas-local serves again without a restart, and a whole new session on the same
    // device runs through.
    emu.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = app.get("/v1/tasks?limit=1").await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API did not recover: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let again = r.json()["id"].as_str().unwrap().to_string();
    let t = app.wait_terminal(&again, Duration::from_secs(120)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    sim.poke(&["mcpd", "set", "k", "v"]);
    let r = app.post(sim.body("code-coverage-end", ""), None).await;
    let end2 = r.json()["id"].as_str().unwrap().to_string();
    let t = app.wait_terminal(&end2, Duration::from_secs(180)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_eq!(t["result"]["session"], again.as_str());
    let page = app.get(&format!("/site/reports/{end2}/index.html")).await;
    assert_eq!(page.status, StatusCode::OK);

    // Nothing is left running, and the process never panicked.
    let running = app.get("/v1/tasks?status=running").await.json();
    assert_eq!(running["count"], 0, "{running}");
    assert!(app.alive());
    assert!(!app.logs().contains("panicked"), "ccaas-local panicked");
}

/// The devices table's open sessions: device key → session id.
async fn open_sessions(emu: &Emulator) -> HashMap<String, String> {
    let out = emu
        .dynamodb()
        .scan()
        .table_name(emu.var("CCAAS_DEVICES_TABLE"))
        .consistent_read(true)
        .send()
        .await
        .expect("scan devices");
    out.items()
        .iter()
        .filter_map(|i| {
            let host = i.get("host")?.as_s().ok()?.clone();
            let id = i
                .get("session")?
                .as_m()
                .ok()?
                .get("id")?
                .as_s()
                .ok()?
                .clone();
            Some((host, id))
        })
        .collect()
}

/// Twenty start/end pairs submitted at once, interleaved, on one simulator through one
/// stack. Returns the session ids seen open in the devices table, in the order seen.
async fn pairs_on_one_device(pairs: usize) -> (Vec<String>, Vec<String>, Vec<Value>) {
    let emu = Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(
        &emu,
        &[
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("CCAAS_RETRY_WINDOW_SECS", "600"),
        ],
    )
    .await;
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for _ in 0..pairs {
        for (ty, into) in [
            ("code-coverage-start", &mut starts),
            ("code-coverage-end", &mut ends),
        ] {
            let r = app.post(sim.body(ty, ""), None).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
            into.push(r.json()["id"].as_str().unwrap().to_string());
        }
    }
    // Watch the devices table until every task is finished.
    let mut seen: Vec<String> = Vec::new();
    let mut done = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    for id in starts.iter().zip(&ends).flat_map(|(s, e)| [s, e]) {
        loop {
            let open = open_sessions(&emu).await;
            assert!(open.len() <= 1, "one device, one item: {open:?}");
            if let Some(sid) = open.values().next()
                && seen.last() != Some(sid)
            {
                seen.push(sid.clone());
            }
            let r = app.get(&format!("/v1/tasks/{id}")).await;
            let t = r.json();
            if common::is_terminal(&t) {
                done.push(t);
                break;
            }
            assert!(Instant::now() < deadline, "task {id} did not finish: {t}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        open_sessions(&emu).await.is_empty(),
        "a session is left open"
    );
    let running = app.get("/v1/tasks?status=running").await.json();
    assert_eq!(running["count"], 0, "{running}");
    assert!(!app.logs().contains("panicked"));
    (starts, seen, done)
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_interleaved_sessions_on_each_of_three_devices_keep_order_and_one_open_session_per_device()
 {
    const PAIRS: usize = 20;
    // Three devices side by side. A ccaas-local's simulator profile names one simulator's
    // root, so each device gets its own stack (emulator, simulator, ccaas-local); the three
    // run at once on this machine.
    let runs: Vec<_> = (0..3)
        .map(|_| tokio::spawn(pairs_on_one_device(PAIRS)))
        .collect();
    for run in runs {
        let (starts, seen, done) = run.await.expect("no panic");
        assert_eq!(done.len(), 2 * PAIRS);
        // Every pair in one line, for the message of any failure below.
        let story: Vec<String> = done
            .chunks(2)
            .enumerate()
            .map(|(k, p)| {
                format!(
                    "{k}: start {} {} {} | end {} {} {}",
                    starts[k],
                    p[0]["status"],
                    p[0]["error"]["code"],
                    p[1]["status"],
                    p[1]["result"]["session"],
                    p[1]["error"]["code"]
                )
            })
            .collect();
        let story = story.join("\n");
        for (k, pair) in done.chunks(2).enumerate() {
            let (start, end) = (&pair[0], &pair[1]);
            assert_eq!(start["status"], "succeeded", "start {k}: {start}\n{story}");
            assert_eq!(end["status"], "succeeded", "end {k}: {end}\n{story}");
            // FIFO per device: each end closed the session its own preceding start opened.
            assert_eq!(
                end["result"]["session"],
                starts[k].as_str(),
                "pair {k}: {end}\n{story}"
            );
        }
        // The open sessions seen in the table follow the starts' order, one at a time.
        let order: Vec<usize> = seen
            .iter()
            .map(|sid| starts.iter().position(|s| s == sid).expect("a start's id"))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{story}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_password_is_in_no_trace_log_item_object_error_or_command_log_across_a_whole_session()
 {
    let emu = Emulator::private();
    let sim = Sim::up();
    let canary = sim.s("password");
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(
        &emu,
        &[
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("RUST_LOG", "trace"),
        ],
    )
    .await;
    let mut responses = Vec::new();

    let r = app
        .post(sim.body("code-coverage-start", ""), Some("canary-start"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let start = r.json()["id"].as_str().unwrap().to_string();
    responses.push(r.text);
    // A replay, and bad bodies that carry the password: none may echo it.
    responses.push(
        app.post(sim.body("code-coverage-start", ""), Some("canary-start"))
            .await
            .text,
    );
    for bad in [
        sim.body("code-coverage-start", "")
            .replace("\"tmm\"", &format!("\"{canary}\"")),
        sim.body("code-coverage-start", "")
            .replace(r#""modules""#, r#""modulez""#),
        sim.body("code-coverage-start", r#","flush":"sometimes""#),
    ] {
        let r = app.post(bad, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        responses.push(r.text);
    }
    let started = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(started["status"], "succeeded", "{started}");
    // A refused start (session_open) and its error.
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    let busy = r.json()["id"].as_str().unwrap().to_string();
    let busy = app.wait_terminal(&busy, Duration::from_secs(120)).await;
    assert_eq!(busy["error"]["code"], "session_open");
    responses.push(busy.to_string());
    sim.poke(&["tmm", "add", "20", "22"]);
    let r = app.post(sim.body("code-coverage-end", ""), None).await;
    let end = r.json()["id"].as_str().unwrap().to_string();
    let ended = app.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    responses.push(ended.to_string());
    // A failed end (no session left) and its error.
    let r = app.post(sim.body("code-coverage-end", ""), None).await;
    let orphan = r.json()["id"].as_str().unwrap().to_string();
    let orphan = app.wait_terminal(&orphan, Duration::from_secs(120)).await;
    assert_eq!(orphan["error"]["code"], "no_session");
    responses.push(orphan.to_string());
    for id in [&start, &end] {
        let log = app.get(&format!("/v1/tasks/{id}/log")).await;
        assert_eq!(log.status, StatusCode::OK);
        responses.push(log.text);
    }
    responses.push(app.get("/v1/tasks?limit=100").await.text);

    for r in &responses {
        assert!(
            !r.contains(&canary),
            "a response holds the password: {r:.400}"
        );
    }
    for table in ["CCAAS_TASKS_TABLE", "CCAAS_DEVICES_TABLE"] {
        let items = emu.dump_table(&emu.var(table)).await;
        assert!(!items.is_empty(), "{table} is empty");
        for item in items {
            assert!(
                !item.contains(&canary),
                "{table} holds the password: {item:.400}"
            );
        }
    }
    // Every object in the bucket, gzip ones unpacked.
    let s3 = emu.s3();
    let bucket = emu.var("CCAAS_BUCKET");
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(&bucket)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        token = out.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for want in [
        format!("raw/{end}/gcda.tar.gz"),
        format!("raw/{end}/facts.json"),
        format!("logs/{start}.jsonl"),
        format!("reports/{end}/index.html"),
    ] {
        assert!(keys.contains(&want), "{want} not in {keys:?}");
    }
    for key in &keys {
        let bytes = s3
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .expect("body")
            .to_vec();
        let mut plain = bytes.clone();
        if key.ends_with(".gz") {
            plain.clear();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut plain)
                .expect("gunzip");
        }
        let text = String::from_utf8_lossy(&plain);
        assert!(!text.contains(&canary), "{key} holds the password");
    }
    let logs = app.logs();
    assert!(logs.contains("TRACE"), "the log runs at TRACE");
    let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(&canary)).collect();
    assert!(
        leaks.is_empty(),
        "the TRACE log holds the password: {:.600}",
        leaks.join("\n")
    );
    assert!(!logs.contains("panicked"));
}
