//! A whole coverage session through `ccaas-local` against the real BIG-IP simulator: start
//! over HTTP, traffic, end, the published report, and gcov's own numbers on the same data.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::sim::{Sim, gcov_lines, object};
use common::{Emulator, spawn_app};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_session_publishes_a_report_whose_line_totals_equal_gcov_and_leaks_no_password() {
    // A private emulator: every simulator is on 127.0.0.1 (one FIFO group), and another
    // ccaas-local on a shared emulator, with another device profile, could take the tasks.
    let emu = &Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(
        emu,
        &[
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let password = sim.s("password");

    // Traffic before the session must not count.
    sim.poke(&["tmm", "route", "10.1.2.3"]);
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let start = r.json()["id"].as_str().unwrap().to_string();
    let started = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(started["status"], "succeeded", "{started}");
    assert_eq!(started["result"]["session"], start.as_str());
    assert_eq!(started["result"]["build"], "17.1.0-0.0.16-1234567");

    // A second start on the same device is refused while the session is open.
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    let busy = r.json()["id"].as_str().unwrap().to_string();
    let busy = app.wait_terminal(&busy, Duration::from_secs(120)).await;
    assert_eq!(busy["error"]["code"], "session_open", "{busy}");

    assert_eq!(sim.poke(&["tmm", "add", "2", "3"]), "5");
    assert_eq!(sim.poke(&["mcpd", "set", "color", "blue"]), "stored");

    let r = app
        .post(
            sim.body("code-coverage-end", &format!(r#","session":"{start}""#)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let end = r.json()["id"].as_str().unwrap().to_string();
    let ended = app.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let result = &ended["result"];
    let link = result["link"].as_str().expect("link");
    assert_eq!(link, format!("{}/site/reports/{end}/index.html", app.base));
    for f in ["lcov", "cobertura", "json", "badge"] {
        assert!(result["files"][f].as_str().is_some(), "{f}");
    }

    // The report is served by ccaas-local under /site/.
    let page = app.get(&format!("/site/reports/{end}/index.html")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<html"));
    let summary = app.get(&format!("/site/reports/{end}/summary.json")).await;
    assert_eq!(summary.status, StatusCode::OK);

    // gcov on the very archive the service collected gives the same line totals.
    let s3 = emu.s3();
    let bucket = emu.var("CCAAS_BUCKET");
    let archive = object(&s3, &bucket, &format!("raw/{end}/gcda.tar.gz")).await;
    let dir = tempfile::tempdir().unwrap();
    let (covered, total) = gcov_lines(&archive, dir.path());
    assert!(
        total > 0 && covered > 0 && covered < total,
        "{covered}/{total}"
    );
    assert_eq!(result["summary"]["lines"]["covered"], covered, "{result}");
    assert_eq!(result["summary"]["lines"]["total"], total, "{result}");

    // The session is closed: a new start succeeds, and an end without one fails.
    let r = app.post(sim.body("code-coverage-end", ""), None).await;
    let orphan = r.json()["id"].as_str().unwrap().to_string();
    let orphan = app.wait_terminal(&orphan, Duration::from_secs(120)).await;
    assert_eq!(orphan["error"]["code"], "no_session", "{orphan}");

    // The command log is served, and the password is nowhere: items, objects, logs.
    let log = app.get(&format!("/v1/tasks/{end}/log")).await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.text.contains("tar"), "{}", log.text);
    let mut haystack = vec![log.text, ended.to_string(), started.to_string(), app.logs()];
    for table in [
        "CCAAS_TASKS_TABLE",
        "CCAAS_DEVICES_TABLE",
        "CCAAS_USAGE_TABLE",
    ] {
        haystack.extend(emu.dump_table(&emu.var(table)).await);
    }
    for key in [
        format!("raw/{end}/facts.json"),
        format!("logs/{end}.jsonl"),
        format!("logs/{start}.jsonl"),
        format!("reports/{end}/index.html"),
        format!("reports/{end}/coverage.info"),
    ] {
        haystack.push(String::from_utf8_lossy(&object(&s3, &bucket, &key).await).into_owned());
    }
    for h in &haystack {
        assert!(
            !h.contains(&password),
            "the device password leaked: {}",
            &h[..h.len().min(300)]
        );
    }
    assert!(!app.logs().contains("panicked"));
}

/// The task's `version` as stored (each status write adds one).
async fn version(emu: &Emulator, id: &str) -> u64 {
    let out = emu
        .dynamodb()
        .get_item()
        .table_name(emu.var("CCAAS_TASKS_TABLE"))
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S(id.to_string()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("get_item");
    out.item().expect("task item")["version"]
        .as_n()
        .expect("number")
        .parse()
        .expect("u64")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_deliveries_of_one_end_task_collect_once_write_each_status_once_and_leave_no_dlq()
{
    let emu = Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let env = [
        ("CCAAS_DEVICE_PROFILE", profile.as_str()),
        ("CCAAS_RETRY_WINDOW_SECS", "600"),
    ];
    let start = {
        let app = spawn_app(&emu, &env).await;
        let r = app.post(sim.body("code-coverage-start", ""), None).await;
        let id = r.json()["id"].as_str().unwrap().to_string();
        let t = app.wait_terminal(&id, Duration::from_secs(120)).await;
        assert_eq!(t["status"], "succeeded", "{t}");
        id
    };
    sim.poke(&["tmm", "add", "40", "2"]);

    // The end task is accepted by an API-only process, then 99 more copies of its message
    // (same body, other deduplication ids, as redeliveries would look) join the queue before
    // any worker runs.
    let api_only = [("CCAAS_LOCAL_WORKER", "off")];
    let api = spawn_app(&emu, &api_only).await;
    let r = api
        .post(
            sim.body("code-coverage-end", &format!(r#","session":"{start}""#)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let end = r.json()["id"].as_str().unwrap().to_string();
    let pending_version = version(&emu, &end).await;
    let sqs = emu.sqs();
    let queue = emu.var("CCAAS_QUEUE_URL");
    // The accepted message itself (sealed), read without hiding it from the workers.
    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .visibility_timeout(0)
        .wait_time_seconds(5)
        .send()
        .await
        .expect("receive");
    let message = got.messages()[0].body().expect("a body").to_string();
    assert!(
        message.contains(&end) && message.contains("sealed_device"),
        "{message}"
    );
    for i in 1..100 {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(&message)
            .message_group_id(format!("{}:{}", sim.s("host"), sim.port))
            .message_deduplication_id(format!("{end}-dup-{i}"))
            .send()
            .await
            .expect("send a duplicate");
    }
    drop(api);

    // Two workers drain the queue.
    let a = spawn_app(&emu, &env).await;
    let _b = spawn_app(&emu, &env).await;
    let done = a.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .expect("attributes");
        let n = |k| {
            attrs
                .attributes()
                .and_then(|m| m.get(&k).cloned())
                .unwrap_or_default()
        };
        if n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages) == "0"
            && n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                == "0"
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // One collect (one archive stream in the command log), each status written once, and
    // nothing in the dead-letter queue.
    let log = a.get(&format!("/v1/tasks/{end}/log")).await.text;
    assert_eq!(log.matches("tar -czf").count(), 1, "{log}");
    assert_eq!(version(&emu, &end).await, pending_version + 2);
    let dlq = sqs
        .get_queue_url()
        .queue_name("ccaas-tasks-dlq.fifo")
        .send()
        .await
        .expect("the DLQ exists");
    let got = sqs
        .receive_message()
        .queue_url(dlq.queue_url().unwrap_or_default())
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    assert!(got.messages().is_empty(), "messages in the DLQ");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_high_priority_end_submitted_after_a_normal_start_runs_after_it() {
    // The issue's report: the end overtook the start through the high queue and failed
    // `no_session`, and the start then left a session open. A private emulator: nothing but
    // this ccaas-local takes the tasks.
    let emu = &Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(emu, &[("CCAAS_DEVICE_PROFILE", profile.as_str())]).await;
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let start = r.json()["id"].as_str().unwrap().to_string();
    let high = sim.body_with(
        "session-test",
        "code-coverage-end",
        "",
        r#","priority":"high""#,
    );
    let r = app.post(high, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let end = r.json()["id"].as_str().unwrap().to_string();

    let ended = app.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(ended["priority"], "high", "{ended}");
    assert_eq!(ended["result"]["session"], start.as_str(), "{ended}");
    let started = app.wait_terminal(&start, Duration::from_secs(10)).await;
    assert_eq!(started["status"], "succeeded", "{started}");
    assert!(
        started["updated"].as_str() <= ended["updated"].as_str(),
        "the start finished before the end: {started} {ended}"
    );
}

// Issue #15: ccaas-local knows where it listens, so with no CCAAS_API_URL its links are
// absolute: the task's selflink, the Location header and the end task's report link.
#[tokio::test(flavor = "multi_thread")]
async fn with_no_api_url_the_selflink_and_the_report_link_are_absolute_and_open() {
    let emu = &Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(
        emu,
        &[
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("CCAAS_API_URL", ""),
        ],
    )
    .await;
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let start = r.json()["id"].as_str().unwrap().to_string();
    let own = format!("{}/v1/tasks/{start}", app.base);
    assert_eq!(r.json()["selflink"], own.as_str(), "{}", r.text);
    assert_eq!(
        r.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(own.as_str())
    );
    let t = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    sim.poke(&["tmm", "add", "2", "3"]);
    let r = app
        .post(
            sim.body("code-coverage-end", &format!(r#","session":"{start}""#)),
            None,
        )
        .await;
    let end = r.json()["id"].as_str().unwrap().to_string();
    let t = app.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    let link = t["result"]["link"].as_str().unwrap();
    assert_eq!(
        link,
        format!("{}/site/reports/{end}/index.html", app.base),
        "{t}"
    );
    let page = reqwest::get(link).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

// #11 item 3 through the whole stack: a start that names a daemon built without the coverage
// signal handlers fails `not_instrumented`, naming it and its pid, signals nothing, and the
// daemon still serves; the device is left free for a start that names instrumented daemons.
#[tokio::test(flavor = "multi_thread")]
async fn a_start_naming_a_daemon_without_handlers_fails_not_instrumented_and_the_daemon_lives_on() {
    let emu = &Emulator::private();
    let sim = Sim::up_with(&["--plain-module", "bigd"]);
    let pid = sim.json["pids"]["bigd"]
        .as_u64()
        .expect("the plain daemon's pid");
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(emu, &[("CCAAS_DEVICE_PROFILE", profile.as_str())]).await;
    let body = sim
        .body("code-coverage-start", "")
        .replace(r#""modules":["tmm","mcpd"]"#, r#""modules":["tmm","bigd"]"#);
    assert!(body.contains("bigd"), "{body}");
    let r = app.post(body, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let t = app.wait_terminal(&id, Duration::from_secs(120)).await;
    assert_eq!(t["status"], "failed", "{t}");
    assert_eq!(t["error"]["code"], "not_instrumented", "{t}");
    let message = t["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("bigd") && message.contains(&pid.to_string()),
        "{t}"
    );
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the daemon died"
    );
    assert_eq!(sim.poke(&["bigd", "ping"]), "pong");

    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    let t = app.wait_terminal(&id, Duration::from_secs(120)).await;
    assert_eq!(
        t["status"], "succeeded",
        "the refused start left no session: {t}"
    );
}
