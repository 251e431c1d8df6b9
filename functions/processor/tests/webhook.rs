//! The HTTP notifier against a real HTTP receiver on loopback: retries, refusals, the
//! delivery header, and the address guard.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccaas_app::{Notification, Notifier};
use ccaas_processor::HttpNotifier;
use ccaas_processor::webhook::Reach;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as received: its head (request line and headers) and body.
#[derive(Clone, Debug)]
struct Received {
    head: String,
    body: String,
}

/// A receiver that answers each request with the next scripted status line (the last one
/// repeats), and records what it got.
async fn receiver(script: Vec<&'static str>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let status = script[n.min(script.len() - 1)];
            n += 1;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let k = sock.read(&mut chunk).await.unwrap_or(0);
                if k == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break (head.to_string(), body.to_string());
                    }
                }
            };
            seen.lock().unwrap().push(Received { head, body });
            let reply = format!(
                "HTTP/1.1 {status}\r\nlocation: http://127.0.0.2:9/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (format!("http://{addr}/hook/secret-token"), got)
}

/// Public addresses only (the production default).
const PUBLIC: Reach = Reach {
    private: false,
    loopback: false,
};
/// `CCAAS_WEBHOOK_ALLOW_PRIVATE=on` alone.
const PRIVATE: Reach = Reach {
    private: true,
    loopback: false,
};
/// `CCAAS_WEBHOOK_ALLOW_LOOPBACK=on`: what these loopback receivers need.
const LOOPBACK: Reach = Reach {
    private: false,
    loopback: true,
};

fn fast(reach: Reach) -> HttpNotifier {
    HttpNotifier::with_schedule(reach, 4, Duration::from_millis(10), Duration::from_secs(5))
}

fn note(url: &str) -> Notification {
    Notification {
        url: url.to_string(),
        delivery_id: "01JDQ2V3W4X5Y6Z7A8B9C0D1E2".into(),
        body: serde_json::json!({"text": "task 01JDQ2V3W4X5Y6Z7A8B9C0D1E2 succeeded"}),
    }
}

#[tokio::test]
async fn server_errors_and_429_are_retried_until_the_webhook_accepts() {
    let (url, got) = receiver(vec![
        "500 Internal Server Error",
        "429 Too Many Requests",
        "503 Service Unavailable",
        "204 No Content",
    ])
    .await;
    fast(LOOPBACK).notify(&note(&url)).await.expect("delivered");
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 4, "three failures, then the success");
    for r in &got {
        let head = r.head.to_ascii_lowercase();
        assert!(head.starts_with("post /hook/secret-token "), "{head}");
        assert!(
            head.contains("x-ccaas-delivery: 01jdq2v3w4x5y6z7a8b9c0d1e2"),
            "{head}"
        );
        assert!(head.contains("content-type: application/json"), "{head}");
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        assert!(v["text"].as_str().unwrap().contains("succeeded"));
    }
}

#[tokio::test]
async fn the_notifier_gives_up_after_its_attempts_without_naming_the_url() {
    let (url, got) = receiver(vec!["502 Bad Gateway"]).await;
    let e = fast(LOOPBACK).notify(&note(&url)).await.unwrap_err();
    assert_eq!(got.lock().unwrap().len(), 4);
    assert_eq!(e.attempts, 4);
    assert!(e.message.contains("502"), "{e}");
    assert!(!e.to_string().contains("secret-token"), "{e}");
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let (url, got) = receiver(vec!["404 Not Found"]).await;
    let e = fast(LOOPBACK).notify(&note(&url)).await.unwrap_err();
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(e.attempts, 1);
    assert!(e.message.contains("404"), "{e}");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (url, got) = receiver(vec!["302 Found"]).await;
    let e = fast(LOOPBACK).notify(&note(&url)).await.unwrap_err();
    assert_eq!(got.lock().unwrap().len(), 1, "one POST, no second hop");
    assert!(e.message.contains("redirect"), "{e}");
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported_without_the_url() {
    // Bind then drop: nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook/secret-token");
    let e = fast(LOOPBACK).notify(&note(&url)).await.unwrap_err();
    assert_eq!(e.attempts, 4);
    assert!(!e.to_string().contains("secret-token"), "{e}");
}

#[tokio::test]
async fn loopback_is_refused_unless_its_own_switch_is_on_and_metadata_always() {
    let (url, got) = receiver(vec!["200 OK"]).await;
    for reach in [PUBLIC, PRIVATE] {
        let e = fast(reach).notify(&note(&url)).await.unwrap_err();
        assert_eq!(e.attempts, 0);
        assert!(e.message.contains("CCAAS_WEBHOOK_ALLOW_LOOPBACK"), "{e}");
        // A name that resolves to loopback is refused by the resolver, before any connection.
        let by_name = url.replace("127.0.0.1", "localhost");
        let e = fast(reach).notify(&note(&by_name)).await.unwrap_err();
        assert!(e.message.contains("loopback"), "{e}");
        assert_eq!(e.attempts, 1, "a refused address is not retried");
        // An IPv4-mapped IPv6 literal is judged by its IPv4 address.
        let mapped = url.replace("127.0.0.1", "[::ffff:127.0.0.1]");
        let e = fast(reach).notify(&note(&mapped)).await.unwrap_err();
        assert_eq!(e.attempts, 0, "{e}");
    }
    assert!(
        got.lock().unwrap().is_empty(),
        "nothing reached the receiver"
    );
    let everything = Reach {
        private: true,
        loopback: true,
    };
    for metadata in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    ] {
        let e = fast(everything).notify(&note(metadata)).await.unwrap_err();
        assert!(e.message.contains("metadata"), "{metadata}: {e}");
        assert_eq!(e.attempts, 0, "{metadata}");
    }
}

#[test]
fn the_budget_covers_every_attempt_and_pause() {
    let n = HttpNotifier::with_schedule(
        PUBLIC,
        4,
        Duration::from_millis(500),
        Duration::from_secs(5),
    );
    assert_eq!(
        n.budget(),
        Duration::from_millis(4 * 5000 + 500 + 1000 + 2000)
    );
}
