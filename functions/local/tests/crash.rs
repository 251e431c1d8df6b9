//! Crashes of the processor process on the live stack: `ccaas-local` is killed with SIGKILL at
//! real points (a start task right after it reset the device; an end task right after the
//! collected archive lands in `raw/`, and right after the report's `index.html` lands in
//! `reports/`, before the status write), and a new
//! process finishes the task from the redelivered message. The retry completes, its line
//! totals equal gcov's own on the collected data (the device's counters were not lost), and
//! report files published before the crash are byte-identical after the retry.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::sim::{Sim, gcov_lines, object};
use common::{App, Emulator, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;

/// A short lease, so the redelivery after a crash takes the task over soon; still longer
/// than one end task takes, so a live process never loses its own lease.
const ENV: &[(&str, &str)] = &[
    ("CCAAS_LEASE_SECS", "20"),
    ("CCAAS_RETRY_WINDOW_SECS", "600"),
    ("CCAAS_RETRY_DELAY_SECS", "1"),
];

async fn exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

/// Every object under `prefix`, with its bytes.
async fn objects(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let list = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list");
    let mut out = BTreeMap::new();
    for o in list.contents() {
        let key = o.key().expect("key").to_string();
        out.insert(key.clone(), object(s3, bucket, &key).await);
    }
    out
}

/// The task's stored status, read straight from the table (the API process is dead).
async fn status_of(emu: &Emulator, id: &str) -> String {
    let item = emu
        .dynamodb()
        .get_item()
        .table_name(emu.var("CCAAS_TASKS_TABLE"))
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S(id.to_string()),
        )
        .send()
        .await
        .expect("get_item");
    item.item()
        .and_then(|i| i.get("status"))
        .and_then(|s| s.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// How many `.gcda` files the simulator's daemons have written.
fn gcda_files(root: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![root.join("shared/gcov")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "gcda") {
                n += 1;
            }
        }
    }
    n
}

async fn start_session(app: &App, sim: &Sim) {
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let started = app.wait_terminal(&id, Duration::from_secs(120)).await;
    assert_eq!(started["status"], "succeeded", "{started}");
    assert_eq!(sim.poke(&["tmm", "add", "2", "3"]), "5");
    assert_eq!(
        sim.poke(&["tmm", "route", "8.8.8.8"]),
        "external via gateway"
    );
}

/// Submits an end task, kills the process as soon as `marker(end id)` exists in the bucket,
/// and returns the end id with the report objects that existed at the crash.
async fn end_and_crash_at(
    app: &mut App,
    emu: &Emulator,
    sim: &Sim,
    marker: fn(&str) -> String,
) -> (String, BTreeMap<String, Vec<u8>>) {
    let s3 = emu.s3();
    let bucket = emu.var("CCAAS_BUCKET");
    let r = app.post(sim.body("code-coverage-end", ""), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let end = r.json()["id"].as_str().unwrap().to_string();
    let key = marker(&end);
    let deadline = Instant::now() + Duration::from_secs(180);
    while !exists(&s3, &bucket, &key).await {
        assert!(Instant::now() < deadline, "{key} never appeared");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    app.crash();
    let before = objects(&s3, &bucket, &format!("reports/{end}/")).await;
    let status = status_of(emu, &end).await;
    eprintln!(
        "crashed at {key}: the task was {status}, {} report objects",
        before.len()
    );
    (end, before)
}

/// What must hold after the retry, wherever exactly the crash landed.
async fn check_retry(app: &App, emu: &Emulator, end: &str, before: &BTreeMap<String, Vec<u8>>) {
    let ended = app.wait_terminal(end, Duration::from_secs(240)).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let s3 = emu.s3();
    let bucket = emu.var("CCAAS_BUCKET");
    let archive = object(&s3, &bucket, &format!("raw/{end}/gcda.tar.gz")).await;
    let dir = tempfile::tempdir().unwrap();
    let (covered, total) = gcov_lines(&archive, dir.path());
    assert!(covered > 0 && covered < total, "{covered}/{total}");
    assert_eq!(
        ended["result"]["summary"]["lines"]["covered"], covered,
        "{ended}"
    );
    assert_eq!(
        ended["result"]["summary"]["lines"]["total"], total,
        "{ended}"
    );
    let after = objects(&s3, &bucket, &format!("reports/{end}/")).await;
    assert!(after.contains_key(&format!("reports/{end}/index.html")));
    for (key, bytes) in before {
        assert_eq!(
            after.get(key),
            Some(bytes),
            "{key} changed across the retry"
        );
    }
    // The session was closed by the retry: the device takes a new one.
    let log = app.logs();
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_processor_killed_after_a_reset_an_upload_or_publishing_is_finished_by_a_retry_with_identical_bytes()
 {
    let emu = Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let mut env: Vec<(&str, &str)> = ENV.to_vec();
    env.push(("CCAAS_DEVICE_PROFILE", &profile));

    // Crash 1: the archive is in raw/, nothing after it is known to have happened.
    let mut app = spawn_app(&emu, &env).await;
    start_session(&app, &sim).await;
    let (end, before) =
        end_and_crash_at(&mut app, &emu, &sim, |id| format!("raw/{id}/gcda.tar.gz")).await;
    let app = spawn_app(&emu, &env).await;
    check_retry(&app, &emu, &end, &before).await;

    // Crash 0: a start task is killed once the device's old .gcda are deleted (the reset),
    // before the session is known to be recorded: the retry resets again and opens it.
    let mut app = app;
    let root = Path::new(&sim.root).to_path_buf();
    assert!(
        gcda_files(&root) > 0,
        "the last end left data on the device"
    );
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let start = r.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while gcda_files(&root) > 0 {
        assert!(
            Instant::now() < deadline,
            "the start never reset the device"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    app.crash();
    eprintln!(
        "crashed after the reset: the task was {}",
        status_of(&emu, &start).await
    );
    let mut app = spawn_app(&emu, &env).await;
    let started = app.wait_terminal(&start, Duration::from_secs(240)).await;
    assert_eq!(started["status"], "succeeded", "{started}");
    assert_eq!(started["result"]["session"], start.as_str(), "{started}");
    assert_eq!(sim.poke(&["tmm", "add", "2", "3"]), "5");

    // Crash 2: the report is published (index.html is written last), the status is not
    // known to be: the retry must publish the very same bytes, and the counters of the
    // retried start's session are all there (the line totals equal gcov's).
    let (end, before) = end_and_crash_at(&mut app, &emu, &sim, |id| {
        format!("reports/{id}/index.html")
    })
    .await;
    assert!(!before.is_empty(), "the crash came after publishing");
    let app = spawn_app(&emu, &env).await;
    check_retry(&app, &emu, &end, &before).await;

    // Nothing is left open or running: a third session starts on the device.
    let r = app.post(sim.body("code-coverage-start", ""), None).await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    let third: Value = app.wait_terminal(&id, Duration::from_secs(120)).await;
    assert_eq!(third["status"], "succeeded", "{third}");
}
