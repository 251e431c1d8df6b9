//! The usage history on the live stack (moto, the simulator, `ccaas-local`): tasks of two
//! users, a whole coverage session that succeeds and tasks on a device that refuses
//! connections, with an idempotent replay and ten duplicate deliveries of finished tasks'
//! messages straight to the queue. `GET /v1/usage` then counts exactly what the test
//! submitted, per user, per type and per outcome, failures by code, and
//! `GET /v1/usage/coverage` holds the session's line coverage once.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::sim::Sim;
use common::{App, Emulator, spawn_app, unique};
use reqwest::StatusCode;
use serde_json::Value;

/// Posts `body` and returns the accepted task's id.
async fn submit(app: &App, body: String, key: Option<&str>) -> String {
    let r = app.post(body, key).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    r.json()["id"].as_str().unwrap().to_string()
}

/// `GET /v1/usage?<query>` summed over periods: group → [requested, succeeded, failed,
/// cancelled], and the failures by code.
async fn usage(app: &App, query: &str) -> (BTreeMap<String, [u64; 4]>, BTreeMap<String, u64>) {
    let r = app.get(&format!("/v1/usage?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    let mut groups: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for b in v["buckets"].as_array().unwrap() {
        let g = groups
            .entry(b["group"].as_str().unwrap().to_owned())
            .or_default();
        for (i, k) in ["requested", "succeeded", "failed", "cancelled"]
            .iter()
            .enumerate()
        {
            g[i] += b[k].as_u64().unwrap();
        }
    }
    let mut failures = BTreeMap::new();
    for f in v["failures"].as_array().unwrap() {
        *failures
            .entry(f["code"].as_str().unwrap().to_owned())
            .or_default() += f["count"].as_u64().unwrap();
    }
    (groups, failures)
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_counts_equal_what_was_submitted_after_replays_and_duplicate_deliveries() {
    let emu = Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(&emu, &[("CCAAS_DEVICE_PROFILE", profile.as_str())]).await;
    let (alice, bob) = (unique("alice"), unique("bob"));

    // alice: a whole session on the simulator; the start is submitted twice under one
    // Idempotency-Key (one task).
    let body = sim.body_with(&alice, "code-coverage-start", "", "");
    let start = submit(&app, body.clone(), Some("usage-k1")).await;
    assert_eq!(submit(&app, body, Some("usage-k1")).await, start);
    let t = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    sim.poke(&["tmm", "add", "2", "3"]);
    let end_body = sim.body_with(
        &alice,
        "code-coverage-end",
        &format!(r#","session":"{start}""#),
        "",
    );
    let end = submit(&app, end_body, None).await;
    let ended = app.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");

    // bob: two tasks on a port that refuses connections: both fail as unreachable.
    let (_refusing, port) = ccaas_testkit::refused_port();
    let refused = format!(
        r#"{{"type":"code-coverage-start","user":"{bob}","data":{{"device":{{"host":"127.0.0.1","port":{port},"username":"root","password":"pw"}},"modules":["tmm"]}}}}"#
    );
    let mut failed = Vec::new();
    for _ in 0..2 {
        let id = submit(&app, refused.clone(), None).await;
        let t = app.wait_terminal(&id, Duration::from_secs(60)).await;
        assert_eq!(t["error"]["code"], "unreachable", "{t}");
        failed.push(id);
    }

    // Ten more deliveries of each finished task's message, straight to the queue.
    let sqs = emu.sqs();
    let queue = emu.var("CCAAS_QUEUE_URL");
    for (id, device_port) in [(&end, sim.port), (&failed[0], port)] {
        let message = serde_json::json!({
            "task_id": id,
            "device": {"host": "127.0.0.1", "port": device_port, "username": "root",
                       "credential": {"password": "pw"}, "host_key_sha256": null},
        })
        .to_string();
        for i in 0..10 {
            sqs.send_message()
                .queue_url(&queue)
                .message_body(&message)
                .message_group_id(format!("127.0.0.1:{device_port}"))
                .message_deduplication_id(format!("{id}-dup-{i}"))
                .send()
                .await
                .expect("send a duplicate");
        }
    }
    emu.wait_drained(&queue, Duration::from_secs(120)).await;
    emu.wait_drained(&emu.var("CCAAS_HIGH_QUEUE_URL"), Duration::from_secs(30))
        .await;

    let (users, failures) = usage(&app, "by=user").await;
    assert_eq!(users.get(&alice), Some(&[2, 2, 0, 0]), "{users:?}");
    assert_eq!(users.get(&bob), Some(&[2, 0, 2, 0]), "{users:?}");
    assert_eq!(users.len(), 2, "{users:?}");
    assert_eq!(failures, BTreeMap::from([("unreachable".to_string(), 2)]));
    let (weeks, _) = usage(&app, "by=user&interval=week").await;
    assert_eq!(weeks, users, "weeks count what days count");
    let (types, _) = usage(&app, "by=type").await;
    assert_eq!(types.get("code-coverage-start"), Some(&[3, 1, 2, 0]));
    assert_eq!(types.get("code-coverage-end"), Some(&[1, 1, 0, 0]));
    let (statuses, _) = usage(&app, "by=status").await;
    let requested: BTreeMap<&str, u64> = statuses.iter().map(|(k, v)| (k.as_str(), v[0])).collect();
    assert_eq!(
        requested,
        BTreeMap::from([("failed", 2), ("succeeded", 2)]),
        "nothing open"
    );
    let (devices, _) = usage(&app, "by=device").await;
    assert_eq!(
        devices.get(&format!("127.0.0.1:{port}")),
        Some(&[2, 0, 2, 0])
    );

    // The session's run times and its coverage point, written once.
    let v = app.get("/v1/usage?by=user").await.json();
    let b = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["group"] == alice.as_str())
        .unwrap();
    let (p50, p95) = (
        b["duration_ms"]["p50"].as_u64().unwrap(),
        b["duration_ms"]["p95"].as_u64().unwrap(),
    );
    assert!(p50 > 0 && p50 <= p95, "{b}");
    let device = format!("{}:{}", sim.s("host"), sim.port);
    let r = app
        .get(&format!("/v1/usage/coverage?device={device}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let points = r.json()["points"].as_array().unwrap().clone();
    assert_eq!(points.len(), 1, "{points:?}");
    let p: &Value = &points[0];
    assert_eq!(p["task"], end.as_str());
    assert_eq!(p["session"], start.as_str());
    assert_eq!(p["user"], alice.as_str());
    let lines = &ended["result"]["summary"]["lines"];
    assert_eq!(p["lines"]["hit"], lines["covered"]);
    assert_eq!(p["lines"]["total"], lines["total"]);
    let build = ended["result"]["build"].as_str().unwrap();
    let r = app.get(&format!("/v1/usage/coverage?build={build}")).await;
    assert_eq!(r.json()["points"].as_array().unwrap().len(), 1);
    assert!(!app.logs().contains("panicked"));
}
