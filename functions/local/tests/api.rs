//! The v1 API contract through `ccaas-local` on the real emulator.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Emulator, spawn_app, start_body, unique};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_task_is_accepted_stored_listed_by_every_filter_and_fails_on_an_unreachable_device()
{
    let emu = Emulator::shared();
    let app = spawn_app(emu, &[]).await;
    let user = unique("alice");
    let host = format!("{}.lab", unique("bigip"));
    let r = app.post(start_body(&user, &host, "pw"), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let body = r.json();
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(body["status"], "pending");
    assert_eq!(body["type"], "code-coverage-start");
    let location = r.headers["location"].to_str().unwrap();
    assert_eq!(location, format!("{}/v1/tasks/{id}", app.base));
    assert_eq!(body["selflink"], location);

    let got = app.get(&format!("/v1/tasks/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    let task = got.json();
    assert_eq!(task["user"], user.as_str());
    assert_eq!(task["device"], host.as_str());
    assert_eq!(task["modules"], serde_json::json!(["tmm", "mcpd"]));
    assert_eq!(task["name"], "nightly");
    assert!(task.get("password").is_none());

    for query in [
        format!("user={user}"),
        format!("device={host}"),
        format!("device={host}&type=code-coverage-start"),
        format!("user={user}&device={host}"),
        format!("device={}:22", host.to_uppercase()),
        format!("device={host}:22&from=2020-01-01T00:00:00Z"),
        format!("user={user}&from=2020-01-01&type=code-coverage-start"),
    ] {
        let list = app.get(&format!("/v1/tasks?{query}")).await.json();
        assert_eq!(list["count"], 1, "{query}: {list}");
        assert_eq!(list["collection"][0]["id"], id.as_str());
        // The whole match fits this first page: its total comes free.
        assert_eq!(list["total"], 1, "{query}: {list}");
    }
    for query in [
        format!("device={host}&type=code-coverage-end"),
        format!("device={host}:2222"),
        format!("user={user}&to=2020-01-01"),
    ] {
        let none = app.get(&format!("/v1/tasks?{query}")).await.json();
        assert_eq!(none["count"], 0, "{query}: {none}");
    }
    let bad = app.get("/v1/tasks?from=2026-13-01").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"]["field"], "from");

    let done = app.wait_terminal(&id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "failed");
    // The host does not resolve: the device is unreachable.
    assert_eq!(done["error"]["code"], "unreachable", "{done}");
    let failed = app
        .get(&format!("/v1/tasks?status=failed&user={user}"))
        .await
        .json();
    assert_eq!(failed["collection"][0]["id"], id.as_str());
    let by_status = app.get("/v1/tasks?status=failed&limit=100").await.json();
    assert!(
        by_status["collection"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "failed")
    );

    let log = app.get(&format!("/v1/tasks/{id}/log")).await;
    assert_eq!(log.status, StatusCode::OK);
    assert_eq!(log.headers["content-type"], "application/x-ndjson");
    assert_eq!(log.text, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_over_250_tasks_loses_and_repeats_nothing() {
    // Its own emulator and no worker: 250 queued tasks on unresolvable hosts would otherwise
    // be left to the other tests' workers and starve their tasks.
    let emu = Emulator::private();
    let app = spawn_app(&emu, &[("CCAAS_LOCAL_WORKER", "off")]).await;
    let user = unique("pager");
    let mut made = HashSet::new();
    for i in 0..250 {
        let r = app
            .post(start_body(&user, &format!("dev{i}"), "pw"), None)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        made.insert(r.json()["id"].as_str().unwrap().to_string());
    }
    assert_eq!(made.len(), 250);

    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/v1/tasks?user={user}&limit=7");
        if let Some(n) = &next {
            path.push_str(&format!("&next={n}"));
        }
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let page = page.json();
        let rows = page["collection"].as_array().unwrap();
        assert!(rows.len() <= 7);
        assert_eq!(page["count"].as_u64().unwrap() as usize, rows.len());
        seen.extend(rows.iter().map(|r| r["id"].as_str().unwrap().to_string()));
        pages += 1;
        match page["next"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => break,
        }
        assert!(pages < 100, "paging does not end");
    }
    let unique_seen: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 250, "no duplicates");
    assert_eq!(unique_seen, made, "no loss");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cursor_from_another_query_or_a_forged_one_is_a_400() {
    // As the paging test: its queued tasks stay out of the shared emulator's queues.
    let emu = Emulator::private();
    let app = spawn_app(&emu, &[("CCAAS_LOCAL_WORKER", "off")]).await;
    let user = unique("cursor");
    for i in 0..3 {
        app.post(start_body(&user, &format!("c{i}"), "pw"), None)
            .await;
    }
    let page = app
        .get(&format!("/v1/tasks?user={user}&limit=1"))
        .await
        .json();
    let next = page["next"].as_str().expect("a next cursor").to_string();
    for path in [
        format!("/v1/tasks?user=someone-else&next={next}"),
        format!("/v1/tasks?status=pending&next={next}"),
        "/v1/tasks?next=7b7d".to_string(),
        "/v1/tasks?next=not-hex".to_string(),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        assert_eq!(r.json()["error"]["field"], "next");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_idempotency_key_returns_the_same_task_and_another_body_is_a_409() {
    // A private emulator: moto's TransactWriteItems copies the table while other threads
    // write to it and then fails with a 500 ("dictionary changed size during iteration"),
    // which the shared emulator's 250-task paging test provokes now that tasks do real work.
    let emu = Emulator::private();
    let app = spawn_app(&emu, &[]).await;
    let user = unique("idem");
    let body = start_body(&user, "idem-host", "pw");
    let key = unique("key");
    let first = app.post(body.clone(), Some(&key)).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let id = first.json()["id"].as_str().unwrap().to_string();
    for _ in 0..4 {
        let again = app.post(body.clone(), Some(&key)).await;
        assert_eq!(again.status, StatusCode::ACCEPTED);
        assert_eq!(again.json()["id"], id.as_str());
    }
    let other = app
        .post(start_body(&user, "other-host", "pw"), Some(&key))
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT, "{}", other.text);
    assert_eq!(other.json()["error"]["code"], "idempotency_conflict");
    let list = app.get(&format!("/v1/tasks?user={user}")).await.json();
    assert_eq!(list["count"], 1, "one task for five calls");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_ids_and_methods_get_json_errors() {
    let emu = Emulator::shared();
    let app = spawn_app(emu, &[]).await;
    for (path, status) in [
        (
            "/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            StatusCode::NOT_FOUND,
        ),
        ("/v1/tasks/..%2F..%2Fetc%2Fpasswd", StatusCode::NOT_FOUND),
        (
            "/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV/log",
            StatusCode::NOT_FOUND,
        ),
        ("/v2/tasks", StatusCode::NOT_FOUND),
        ("/v1/tasks?limit=1000", StatusCode::BAD_REQUEST),
        ("/v1/tasks?status=done", StatusCode::BAD_REQUEST),
        ("/v1/tasks?stauts=failed", StatusCode::BAD_REQUEST),
        ("/v1/tasks?user=%ff", StatusCode::BAD_REQUEST),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, status, "{path}: {}", r.text);
        assert!(r.json()["error"]["code"].is_string(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_site_serves_public_report_objects_and_nothing_private() {
    let emu = Emulator::shared();
    let app = spawn_app(emu, &[]).await;
    let s3 = emu.s3();
    let bucket = emu.var("CCAAS_BUCKET");
    let id = unique("R");
    for (key, body, ct) in [
        (
            format!("reports/{id}/index.html"),
            "<h1>report</h1>",
            "text/html; charset=utf-8",
        ),
        (
            format!("reports/{id}/summary.json"),
            "{}",
            "application/json",
        ),
        (
            format!("logs/{id}.jsonl"),
            "private",
            "application/x-ndjson",
        ),
        (
            format!("raw/{id}/gcda.tar.gz"),
            "private",
            "application/gzip",
        ),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .content_type(ct)
            .send()
            .await
            .expect("put");
    }
    let page = app.get(&format!("/site/reports/{id}/index.html")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text, "<h1>report</h1>");
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let dir = app.get(&format!("/site/reports/{id}/")).await;
    assert_eq!(
        dir.status,
        StatusCode::OK,
        "a directory serves its index.html"
    );
    for private in [
        format!("/site/logs/{id}.jsonl"),
        format!("/site/raw/{id}/gcda.tar.gz"),
        format!("/site/reports/{id}/../../logs/{id}.jsonl"),
        format!("/site/reports/{id}/%2e%2e/%2e%2e/raw/{id}/gcda.tar.gz"),
        format!("/site/reports/{id}/missing.html"),
    ] {
        let r = app.get(&private).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{private}: {}", r.text);
        assert_ne!(r.text, "private");
    }
}
