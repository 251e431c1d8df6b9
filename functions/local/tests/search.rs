//! `GET /v1/search` through `ccaas-local` on the real emulator: the in-process indexer makes a
//! new task searchable within 5 s, by a word of its name, of its error message and by its user.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{App, Emulator, spawn_app, unique};
use reqwest::StatusCode;
use serde_json::Value;

/// Polls `GET /v1/search?q=<q>` until it answers `want` hits or `within` passes; the last
/// answer.
async fn search_until(app: &App, q: &str, want: u64, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    let path = format!("/v1/search?q={}", urlencode(q));
    loop {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
        let body = r.json();
        if body["total"] == want || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_task_is_found_within_5_s_by_its_name_its_error_and_its_user_and_bad_queries_are_400()
{
    let emu = Emulator::shared();
    let app = spawn_app(emu, &[]).await;
    let user = unique("searcher");
    let word = unique("w").replace('-', "");
    let host = format!("{}.invalid", unique("nohost"));
    let body = format!(
        r#"{{"name":"suite {word}","type":"code-coverage-start","user":"{user}","data":{{"device":{{"host":"{host}","port":22,"username":"root","password":"pw"}},"modules":["tmm"]}}}}"#
    );
    let r = app.post(body, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let accepted = Instant::now();

    // By a word of its name, within 5 s of its creation.
    let found = search_until(&app, &word, 1, Duration::from_secs(5)).await;
    assert_eq!(
        found["total"], 1,
        "not found by its name within 5 s: {found}"
    );
    assert!(accepted.elapsed() < Duration::from_secs(6));
    let hit = &found["hits"][0];
    assert_eq!(hit["id"], id.as_str());
    assert_eq!(hit["user"], user.as_str());
    assert_eq!(hit["snippet"]["field"], "name");
    let text = hit["snippet"]["text"].as_str().unwrap();
    let [s, e] = [0, 1].map(|i| hit["snippet"]["highlight"][0][i].as_u64().unwrap() as usize);
    assert_eq!(&text[s..e], word);

    // By its user alone.
    let found = search_until(&app, &format!("user:{user}"), 1, Duration::from_secs(5)).await;
    assert_eq!(found["hits"][0]["id"], id.as_str(), "{found}");

    // The made-up host fails the task; then a word of its error message finds it.
    let task = app.wait_terminal(&id, Duration::from_secs(60)).await;
    assert_eq!(task["status"], "failed", "{task}");
    let message = task["error"]["message"].as_str().unwrap();
    let error_word = message
        .split(|c: char| !c.is_alphanumeric())
        .rfind(|w| w.len() > 3)
        .expect("a word in the error message")
        .to_lowercase();
    let q = format!("{error_word} user:{user} status:failed");
    let found = search_until(&app, &q, 1, Duration::from_secs(5)).await;
    assert_eq!(
        found["total"], 1,
        "not found by its error ({message}) within 5 s: {found}"
    );
    assert_eq!(found["hits"][0]["status"], "failed");
    let other = format!("user:{}", unique("nobody"));
    assert_eq!(
        search_until(&app, &other, 0, Duration::ZERO).await["total"],
        0
    );

    for (query, field) in [
        ("q=%22unclosed", "q"),
        ("q=colour%3Ablue", "q"),
        ("limit=500", "limit"),
        ("cursor=nope", "cursor"),
        ("order=new", "order"),
    ] {
        let r = app.get(&format!("/v1/search?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.json()["error"]["field"], field, "{query}");
    }
}
