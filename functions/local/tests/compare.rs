//! `GET /v1/compare` on the live stack (issue #13's acceptance): two sessions on the real BIG-IP
//! simulator whose tmm traffic differs (`route 10.0.0.1` runs tmm's "internal" branch,
//! `route 8.8.8.8` its "external" one). The compare lists exactly the lines the two sessions'
//! lcov files (`coverage.info` of their reports) disagree on, per file, and totals that are
//! the reports' own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::sim::Sim;
use common::{App, Emulator, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;

/// Per source file of a report's lcov file, the lines with a count above zero; and the
/// instrumented lines in all.
async fn lcov_lines(app: &App, end: &str) -> (BTreeMap<String, BTreeSet<u32>>, u64) {
    let r = app.get(&format!("/site/reports/{end}/coverage.info")).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut out: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    let mut file = String::new();
    let mut instrumented = 0;
    for l in r.text.lines() {
        if let Some(f) = l.strip_prefix("SF:") {
            file = f.to_owned();
            out.entry(file.clone()).or_default();
        } else if let Some(da) = l.strip_prefix("DA:") {
            let mut parts = da.split(',');
            let line: u32 = parts.next().unwrap().parse().unwrap();
            let count: u64 = parts.next().unwrap().parse().unwrap();
            instrumented += 1;
            if count > 0 {
                out.get_mut(&file).unwrap().insert(line);
            }
        }
    }
    (out, instrumented)
}

async fn compare(app: &App, query: &str) -> (StatusCode, Value) {
    let r = app.get(&format!("/v1/compare?{query}")).await;
    (r.status, serde_json::from_str(&r.text).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compare_of_two_sessions_lists_exactly_the_lines_their_lcov_files_differ_on() {
    let emu = &Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(emu, &[("CCAAS_DEVICE_PROFILE", profile.as_str())]).await;

    let internal = app
        .traffic_session(
            &sim,
            "compare-test",
            "internal routes",
            &["tmm", "route", "10.0.0.1"],
        )
        .await;
    let external = app
        .traffic_session(
            &sim,
            "compare-test",
            "external routes",
            &["tmm", "route", "8.8.8.8"],
        )
        .await;
    let (base, head) = (
        internal["id"].as_str().unwrap(),
        external["id"].as_str().unwrap(),
    );

    let (status, v) = compare(&app, &format!("base={base}&head={head}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // What the two reports' lcov files say.
    let (b, b_total) = lcov_lines(&app, base).await;
    let (h, h_total) = lcov_lines(&app, head).await;
    let mut expected: BTreeMap<String, (Vec<u32>, Vec<u32>)> = BTreeMap::new();
    for file in b.keys().chain(h.keys()) {
        let none = BTreeSet::new();
        let (bl, hl) = (b.get(file).unwrap_or(&none), h.get(file).unwrap_or(&none));
        let newly: Vec<u32> = hl.difference(bl).copied().collect();
        let lost: Vec<u32> = bl.difference(hl).copied().collect();
        if !newly.is_empty() || !lost.is_empty() {
            expected.insert(file.clone(), (newly, lost));
        }
    }
    assert!(
        !expected.is_empty(),
        "the two sessions' traffic differs, so their lcov files do"
    );
    let got: BTreeMap<String, (Vec<u32>, Vec<u32>)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let lines = |k: &str| -> Vec<u32> {
                f[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_u64().unwrap() as u32)
                    .collect()
            };
            (
                f["file"].as_str().unwrap().to_owned(),
                (lines("newly_covered"), lines("lost")),
            )
        })
        .collect();
    assert_eq!(got, expected, "{v}");
    assert_eq!(v["delta"]["files_changed"], expected.len() as u64);
    assert_eq!(v["next"], Value::Null);

    // The totals are the reports' own.
    let lines = |t: &Value| t["result"]["summary"]["lines"].clone();
    assert_eq!(v["base"]["lines"]["covered"], lines(&internal)["covered"]);
    assert_eq!(v["base"]["lines"]["total"], lines(&internal)["total"]);
    assert_eq!(v["head"]["lines"]["covered"], lines(&external)["covered"]);
    assert_eq!(v["base"]["lines"]["total"], b_total);
    assert_eq!(v["head"]["lines"]["total"], h_total);
    let covered = |t: &Value| lines(t)["covered"].as_i64().unwrap();
    assert_eq!(
        v["delta"]["covered"],
        covered(&external) - covered(&internal)
    );
    assert_eq!(v["base"]["session"], internal["result"]["session"]);
    assert_eq!(v["head"]["name"], "external routes");

    // Swapped: the same lines, on the other side.
    let (_, r) = compare(&app, &format!("base={head}&head={base}")).await;
    assert_eq!(r["delta"]["newly_covered"], v["delta"]["lost"]);
    assert_eq!(r["delta"]["lost"], v["delta"]["newly_covered"]);

    // A start task is refused naming the parameter; an unknown task is a 404.
    let start = internal["session"].as_str().unwrap();
    let (status, e) = compare(&app, &format!("base={start}&head={head}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "not_comparable");
    assert_eq!(e["error"]["field"], "base");
    let (status, e) = compare(&app, &format!("base={base}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["field"], "head");
    assert!(!app.logs().contains("panicked"));
}
