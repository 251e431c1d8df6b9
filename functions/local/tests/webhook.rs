//! Webhooks on the live stack: a real HTTP receiver on loopback gets exactly one POST per
//! finished task (a whole session on the real simulator, failed tasks, duplicate deliveries),
//! Slack's `text` in each, and never a password.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use common::sim::Sim;
use common::{Emulator, spawn_app, unique};
use reqwest::StatusCode;
use serde_json::Value;

/// One POST as received.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    delivery: String,
    body: String,
}

type Hits = Arc<Mutex<Vec<Hit>>>;

/// `/ok/...` answers 204; `/fail/...` answers 500 every time.
async fn hook(
    State(hits): State<Hits>,
    Path((mode, _rest)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> AxumStatus {
    hits.lock().unwrap().push(Hit {
        path: mode.clone(),
        delivery: headers
            .get("x-ccaas-delivery")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body,
    });
    if mode == "ok" {
        AxumStatus::NO_CONTENT
    } else {
        AxumStatus::INTERNAL_SERVER_ERROR
    }
}

/// Starts the receiver and returns its base URL.
async fn receiver(hits: Hits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/{mode}/{*rest}", post(hook))
        .with_state(hits);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn notify(url: &str) -> String {
    format!(r#","notify":{{"webhook":"{url}"}}"#)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_receiver_gets_exactly_one_post_per_finished_task_and_never_a_password() {
    let emu = Emulator::private();
    let sim = Sim::up();
    let hits: Hits = Arc::default();
    let base = receiver(hits.clone()).await;
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(
        &emu,
        &[
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("CCAAS_WEBHOOK_ALLOW_LOOPBACK", "on"),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let user = unique("hook");
    let canary = unique("canary-hook-pw");
    let ok = format!("{base}/ok/T000/B000/secret-token");

    // A whole session on the simulator, each task with the webhook.
    let r = app
        .post(
            sim.body_with(&user, "code-coverage-start", "", &notify(&ok)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let start = r.json()["id"].as_str().unwrap().to_string();
    let started = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(started["status"], "succeeded", "{started}");
    sim.poke(&["tmm", "add", "2", "3"]);
    let r = app
        .post(
            sim.body_with(
                &user,
                "code-coverage-end",
                &format!(r#","session":"{start}""#),
                &notify(&ok),
            ),
            None,
        )
        .await;
    let end = r.json()["id"].as_str().unwrap().to_string();
    let ended = app.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");

    // Failed tasks (made-up devices, the canary as their password): one whose webhook
    // works, one whose webhook always answers 500.
    let unreachable = |host: &str, url: &str| {
        format!(
            r#"{{"type":"code-coverage-start","user":"{user}"{},"data":{{"device":{{"host":"{host}","username":"root","password":"{canary}"}},"modules":["tmm"]}}}}"#,
            notify(url)
        )
    };
    let host = unique("hook-nowhere");
    let r = app.post(unreachable(&host, &ok), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let failed = r.json()["id"].as_str().unwrap().to_string();
    let fail_url = format!("{base}/fail/x");
    let r = app
        .post(unreachable(&unique("hook-nowhere"), &fail_url), None)
        .await;
    let dead_hook = r.json()["id"].as_str().unwrap().to_string();
    for id in [&failed, &dead_hook] {
        let t = app.wait_terminal(id, Duration::from_secs(60)).await;
        assert_eq!(t["error"]["code"], "unreachable", "{t}");
    }

    // Ten more deliveries of the failed task's message, straight to the queue.
    let sqs = emu.sqs();
    let queue = emu.var("CCAAS_QUEUE_URL");
    let message = serde_json::json!({
        "task_id": failed,
        "device": {"host": host, "port": 22, "username": "root",
                   "credential": {"password": canary}, "host_key_sha256": null},
    })
    .to_string();
    for i in 0..10 {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(&message)
            .message_group_id(format!("{host}:22"))
            .message_deduplication_id(format!("{failed}-dup-{i}"))
            .send()
            .await
            .expect("send a duplicate");
    }
    // Every delivery is settled (a message is deleted only after its notification).
    emu.wait_drained(&queue, Duration::from_secs(120)).await;
    emu.wait_drained(&emu.var("CCAAS_HIGH_QUEUE_URL"), Duration::from_secs(30))
        .await;

    let hits = hits.lock().unwrap().clone();
    let mut per_task: HashMap<String, Vec<&Hit>> = HashMap::new();
    for h in &hits {
        let v: Value = serde_json::from_str(&h.body).expect("a JSON body");
        assert_eq!(
            v["task_id"],
            h.delivery.as_str(),
            "the delivery id is the task id"
        );
        per_task.entry(h.delivery.clone()).or_default().push(h);
    }
    for id in [&start, &end, &failed] {
        let got = per_task.get(id.as_str()).map(Vec::len).unwrap_or(0);
        assert_eq!(got, 1, "task {id} got {got} POSTs");
        assert_eq!(per_task[id.as_str()][0].path, "ok");
    }
    // The dead webhook was tried 4 times (retries with backoff), then given up; its task
    // keeps its own status.
    assert_eq!(per_task[dead_hook.as_str()].len(), 4);
    assert!(
        per_task[dead_hook.as_str()]
            .iter()
            .all(|h| h.path == "fail")
    );
    assert_eq!(per_task.len(), 4, "no POST for anything else");
    let t = app.get(&format!("/v1/tasks/{dead_hook}")).await.json();
    assert_eq!(t["status"], "failed");
    assert_eq!(t["error"]["code"], "unreachable");
    assert_eq!(
        t["notify"],
        serde_json::json!({"webhook": "gave_up"}),
        "{t}"
    );
    assert!(
        !t.to_string().contains("/fail/x"),
        "the URL is not shown: {t}"
    );
    let t = app.get(&format!("/v1/tasks/{end}")).await.json();
    assert_eq!(t["notify"], serde_json::json!({"webhook": "sent"}), "{t}");
    assert!(!t.to_string().contains("secret-token"), "{t}");

    // Slack's one line, and the details.
    let body = |id: &str| -> Value { serde_json::from_str(&per_task[id][0].body).unwrap() };
    let e = body(&end);
    let text = e["text"].as_str().expect("text");
    let lines = &ended["result"]["summary"]["lines"];
    assert!(
        text.starts_with(&format!(
            "task {end} code-coverage-end on {}:{} succeeded: lines ",
            sim.s("host"),
            sim.port
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("({}/{})", lines["covered"], lines["total"])),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("({})", ended["result"]["link"].as_str().unwrap())),
        "{text}"
    );
    assert_eq!(e["status"], "succeeded");
    assert_eq!(e["user"], user.as_str());
    assert_eq!(e["summary"], ended["result"]["summary"]);
    let f = body(&failed);
    assert!(
        f["text"]
            .as_str()
            .unwrap()
            .contains("failed: unreachable: "),
        "{f}"
    );
    assert_eq!(f["error"]["code"], "unreachable");

    // No password in any body, and the webhook's secret token in no log.
    for h in &hits {
        assert!(!h.body.contains(&canary), "{}", h.body);
        assert!(!h.body.contains(&sim.s("password")), "{}", h.body);
        assert!(!h.body.contains("secret-token"), "{}", h.body);
    }
    let logs = app.logs();
    assert!(
        !logs.contains("secret-token"),
        "a log names the webhook URL"
    );
    assert!(!logs.contains(&canary));
    assert!(!logs.contains("panicked"));

    // The outcome is recorded on the task items.
    let items = emu.dump_table(&emu.var("CCAAS_TASKS_TABLE")).await;
    let item = |id: &str| items.iter().find(|i| i.contains(id)).cloned().unwrap();
    assert!(
        item(&end).contains(r#""notified": S("sent")"#),
        "{}",
        item(&end)
    );
    assert!(
        item(&dead_hook).contains(r#""notified": S("gave_up")"#),
        "{}",
        item(&dead_hook)
    );
}
