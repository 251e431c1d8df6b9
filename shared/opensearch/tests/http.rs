//! The adapter's HTTP side against a loopback stand-in that records what it is sent and
//! answers as OpenSearch does: the index is made once, documents go in one `_bulk` with
//! `refresh=wait_for`, requests are SigV4-signed without the secret in them, a missing index
//! searches as empty, and bad or oversized answers are errors. The port's behaviour (ranking,
//! filters, snippets) is the contract suite's, which needs a real engine: see
//! `examples/contract.rs` and docs/design.md.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::expect_used)]

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use ccaas_app::ports::{SearchDoc, TaskSearch};
use ccaas_domain::{SearchQuery, Status, TaskId, TaskType};
use ccaas_opensearch::{Auth, OpenSearchTasks};

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// What the stand-in answers, by path: (status, body). The index exists once PUT.
#[derive(Default)]
struct Peer {
    seen: Vec<Seen>,
    index_exists: bool,
    search_answer: Option<(u16, String)>,
    bulk_answer: Option<String>,
}

type Shared = Arc<Mutex<Peer>>;

async fn handle(
    State(peer): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut p = peer.lock().expect("lock");
    p.seen.push(Seen {
        method: method.clone(),
        uri: uri.to_string(),
        headers,
        body: body.to_vec(),
    });
    let path = uri.path();
    let (status, body) = match (method.as_str(), path) {
        ("HEAD", "/tasks") if p.index_exists => (200, String::new()),
        ("HEAD", "/tasks") => (404, String::new()),
        ("PUT", "/tasks") => {
            p.index_exists = true;
            (200, r#"{"acknowledged":true}"#.into())
        }
        ("POST", "/tasks/_bulk") => (
            200,
            p.bulk_answer
                .clone()
                .unwrap_or_else(|| r#"{"errors":false,"items":[]}"#.into()),
        ),
        ("POST", "/tasks/_search") => p.search_answer.clone().unwrap_or((
            404,
            r#"{"error":{"type":"index_not_found_exception","reason":"no such index [tasks]"},"status":404}"#.into(),
        )),
        _ => (400, r#"{"error":{"type":"bad_request","reason":"unexpected"}}"#.into()),
    };
    (StatusCode::from_u16(status).expect("status"), body)
}

async fn peer() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new().fallback(handle).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), shared)
}

const SECRET: &str = "wJalrXUtnFEMI-canary-3141-EXAMPLEKEY";

fn signed() -> Auth {
    Auth::SigV4 {
        credentials: SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            SECRET,
            Some("session-token-canary".into()),
            None,
            "test",
        )),
        region: "us-east-1".into(),
        service: "aoss".into(),
    }
}

fn doc(n: u64) -> SearchDoc {
    SearchDoc {
        id: TaskId::from_parts(1_764_000_000_000 + n, u128::from(n)),
        name: Some(format!("nightly {n}")),
        user: "alice".into(),
        host: "127.0.0.1".into(),
        port: 2222,
        task_type: TaskType::CoverageEnd,
        status: Status::Succeeded,
        modules: vec!["tmm".into()],
        build: None,
        error_code: None,
        error_message: None,
        log: String::new(),
        created: "2026-12-05T10:00:00Z".into(),
    }
}

#[tokio::test]
async fn the_first_upsert_makes_the_index_once_and_sends_one_bulk_that_waits_for_refresh() {
    let (url, peer) = peer().await;
    let search = OpenSearchTasks::new(&url, "tasks", Auth::None).expect("adapter");
    search.upsert(&[doc(1), doc(2)]).await.expect("upsert");
    search.upsert(&[doc(3)]).await.expect("upsert");
    let seen = peer.lock().expect("lock").seen.clone();
    let calls: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();
    assert_eq!(
        calls,
        vec![
            "HEAD /tasks",
            "PUT /tasks",
            "POST /tasks/_bulk?refresh=wait_for",
            "POST /tasks/_bulk?refresh=wait_for",
        ]
    );
    let put: serde_json::Value = serde_json::from_slice(&seen[1].body).expect("json");
    assert_eq!(put["mappings"]["dynamic"], "strict");
    assert_eq!(seen[2].headers["content-type"], "application/x-ndjson");
    assert_eq!(String::from_utf8_lossy(&seen[2].body).lines().count(), 4);
}

#[tokio::test]
async fn signed_requests_carry_sigv4_headers_for_the_service_and_never_the_secret() {
    let (url, peer) = peer().await;
    let search = OpenSearchTasks::new(&url, "tasks", signed()).expect("adapter");
    search.upsert(&[doc(1)]).await.expect("upsert");
    let seen = peer.lock().expect("lock").seen.clone();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        let auth = s.headers["authorization"].to_str().expect("ascii");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && auth.contains("/us-east-1/aoss/aws4_request"),
            "{auth}"
        );
        assert!(s.headers.contains_key("x-amz-date"));
        assert_eq!(s.headers["x-amz-security-token"], "session-token-canary");
        let hash = s.headers["x-amz-content-sha256"].to_str().expect("ascii");
        assert_eq!(hash.len(), 64, "the payload's SHA-256 in hex");
        for (name, value) in &s.headers {
            assert!(
                !value.to_str().unwrap_or_default().contains(SECRET),
                "{name} holds the secret"
            );
        }
    }
    // An empty body and a document body hash differently.
    assert_ne!(
        seen[0].headers["x-amz-content-sha256"],
        seen[2].headers["x-amz-content-sha256"]
    );
}

#[tokio::test]
async fn a_search_before_anything_was_indexed_finds_nothing() {
    let (url, _peer) = peer().await;
    let search = OpenSearchTasks::new(&url, "tasks", Auth::None).expect("adapter");
    let q = SearchQuery::parse([("q", "nightly")]).expect("query");
    let page = search.search(&q).await.expect("an empty page");
    assert_eq!((page.total, page.hits.len()), (0, 0));
}

#[tokio::test]
async fn a_search_reads_the_page_and_bad_or_huge_answers_are_unavailable_not_panics() {
    let (url, peer) = peer().await;
    let search = OpenSearchTasks::new(&url, "tasks", Auth::None).expect("adapter");
    let q = SearchQuery::parse([("q", "nightly user:alice")]).expect("query");
    let id = doc(1).id;
    let answer = serde_json::json!({"hits": {"total": {"value": 1}, "hits": [{
        "_id": id.as_str(), "_score": 1001.0,
        "_source": {"hit": {"name": "nightly 1", "user": "alice", "device": "127.0.0.1:2222",
            "type": "code-coverage-end", "status": "succeeded", "created": "c"}},
        "highlight": {"name": ["\u{E000}nightly\u{E001} 1"]}}]}});
    peer.lock().expect("lock").search_answer = Some((200, answer.to_string()));
    let page = search.search(&q).await.expect("a page");
    assert_eq!(page.hits[0].id, id);
    assert_eq!(
        page.hits[0].snippet.as_ref().map(|s| s.highlight.clone()),
        Some(vec![(0, 7)])
    );
    let sent: serde_json::Value =
        serde_json::from_slice(&peer.lock().expect("lock").seen[0].body).expect("json");
    assert_eq!(
        sent["query"]["bool"]["filter"][0],
        serde_json::json!({"term": {"f_user": "alice"}})
    );

    for (status, body) in [
        (200, "not json".to_owned()),
        (500, r#"{"error":{"type":"x","reason":"y"}}"#.to_owned()),
        (200, format!("{{\"pad\":\"{}\"}}", "x".repeat(5 << 20))),
    ] {
        peer.lock().expect("lock").search_answer = Some((status, body));
        let e = search.search(&q).await.expect_err("refused");
        assert!(matches!(e, ccaas_app::Error::Unavailable { .. }), "{e:?}");
    }
}

#[tokio::test]
async fn a_refused_document_fails_the_upsert_naming_the_task() {
    let (url, peer) = peer().await;
    peer.lock().expect("lock").bulk_answer = Some(
        r#"{"errors":true,"items":[{"index":{"_id":"t1","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}}]}"#.into(),
    );
    let search = OpenSearchTasks::new(&url, "tasks", Auth::None).expect("adapter");
    let e = search.upsert(&[doc(1)]).await.expect_err("refused");
    let text = format!("{:?}", std::error::Error::source(&e));
    assert!(
        text.contains("t1") && text.contains("failed to parse"),
        "{text}"
    );
}

#[test]
fn endpoints_and_index_names_are_checked_before_anything_is_sent() {
    for (endpoint, index) in [
        ("http://10.0.0.1:9200", "tasks"),
        ("ftp://127.0.0.1", "tasks"),
        ("https://search.example/path", "tasks"),
        ("https://user:pw@search.example", "tasks"),
        ("https://search.example", "Tasks"),
        ("https://search.example", "_tasks"),
        ("https://search.example", "a/b"),
        ("https://search.example", ""),
    ] {
        assert!(
            OpenSearchTasks::new(endpoint, index, Auth::None).is_err(),
            "{endpoint} {index}"
        );
    }
    assert!(OpenSearchTasks::new("https://search.example/", "ccaas-tasks", Auth::None).is_ok());
}
