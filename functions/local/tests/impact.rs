//! Test impact on the live stack (issue #13's acceptance): two sessions on the real BIG-IP
//! simulator whose tmm traffic differs (`route 10.0.0.1` runs tmm's "internal" branch,
//! `route 8.8.8.8` its "external" one). A diff changing the line only the first ran lists the
//! first session and not the second; a diff changing a line neither ran lists it uncovered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::sim::{Sim, object};
use common::{App, Emulator, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A git diff that replaces line `n` of the simulator's tmm.c.
fn diff_of_line(n: usize) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../localstack/bigip-sim/daemons/tmm.c"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let old = text.lines().nth(n - 1).unwrap();
    format!(
        "diff --git a/localstack/bigip-sim/daemons/tmm.c b/localstack/bigip-sim/daemons/tmm.c\n\
         --- a/localstack/bigip-sim/daemons/tmm.c\n+++ b/localstack/bigip-sim/daemons/tmm.c\n\
         @@ -{n} +{n} @@\n-{old}\n+{old} /* changed */\n"
    )
}

/// The line of tmm.c holding `needle`, 1-based.
fn line_of(needle: &str) -> usize {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../localstack/bigip-sim/daemons/tmm.c"
    );
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

async fn impact(app: &App, body: Value) -> (StatusCode, Value) {
    let r = app
        .send(
            app.request(reqwest::Method::POST, "/v1/impact")
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await;
    (r.status, serde_json::from_str(&r.text).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn impact_lists_the_session_that_ran_a_changed_line_and_the_lines_none_ran() {
    let emu = &Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(emu, &[("CCAAS_DEVICE_PROFILE", profile.as_str())]).await;

    let session_and_end = |ended: Value| {
        let text = |k: &str| ended["result"][k].as_str().unwrap_or_default().to_string();
        (text("session"), ended["id"].as_str().unwrap().to_string())
    };
    let (internal, internal_end) = session_and_end(
        app.traffic_session(
            &sim,
            "impact-test",
            "internal routes",
            &["tmm", "route", "10.0.0.1"],
        )
        .await,
    );
    let (external, _) = session_and_end(
        app.traffic_session(
            &sim,
            "impact-test",
            "external routes",
            &["tmm", "route", "8.8.8.8"],
        )
        .await,
    );

    // The index of each session is in the bucket, private, next to its report.
    let build = "17.1.0-0.0.16-1234567";
    let s3 = emu.s3();
    let bucket = emu.var("CCAAS_BUCKET");
    let idx = object(
        &s3,
        &bucket,
        &format!("index/coverage/{build}/{internal}.idx"),
    )
    .await;
    assert_eq!(&idx[..8], b"CCAASIDX");
    let site = app
        .get(&format!("/site/index/coverage/{build}/{internal}.idx"))
        .await;
    assert_ne!(
        site.status,
        StatusCode::OK,
        "the index is not served publicly"
    );

    // The line only the first session ran.
    let only_internal = line_of("\"internal\"");
    let (status, v) = impact(
        &app,
        json!({"diff": diff_of_line(only_internal), "build": build}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["changed_lines"], 1, "{v}");
    assert_eq!(v["sessions_read"], 2, "{v}");
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{v}");
    assert_eq!(sessions[0]["session"], internal.as_str());
    assert_eq!(sessions[0]["task"], internal_end.as_str());
    assert_eq!(sessions[0]["name"], "internal routes");
    assert_eq!(sessions[0]["user"], "impact-test");
    assert_eq!(sessions[0]["lines_hit"], 1);
    assert!(v["uncovered"].as_array().unwrap().is_empty(), "{v}");

    // Without a build: the newest indexed one is read, with the same answer; the other
    // session's line lists the other session.
    let only_external = line_of("\"external via gateway\"");
    let (_, v) = impact(&app, json!({"diff": diff_of_line(only_external)})).await;
    assert_eq!(v["build"], build, "{v}");
    let ids: Vec<&str> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![external.as_str()], "{v}");

    // A line no session ran (loopback) is uncovered; a comment line is not counted.
    let loopback = line_of("\"loopback\"");
    let (_, v) = impact(
        &app,
        json!({"diff": diff_of_line(loopback), "build": build}),
    )
    .await;
    assert!(v["sessions"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(
        v["uncovered"],
        json!([{"file": "localstack/bigip-sim/daemons/tmm.c", "lines": [loopback]}]),
        "{v}"
    );
    let (_, v) = impact(&app, json!({"diff": diff_of_line(1), "build": build})).await;
    assert!(
        v["sessions"].as_array().unwrap().is_empty()
            && v["uncovered"].as_array().unwrap().is_empty(),
        "{v}"
    );

    // Bad input is a 400 naming the field.
    let (status, v) = impact(&app, json!({"diff": "not a diff"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["field"], "diff");
    assert!(!app.logs().contains("panicked"));
}
