//! The HTTP notifier against a real HTTP receiver on loopback: retries, refusals, the
//! delivery header, and the address guard.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccaas_app::{Notification, Notifier};
use ccaas_processor::HttpNotifier;
use ccaas_processor::webhook::refused;
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

fn fast(allow_private: bool) -> HttpNotifier {
    HttpNotifier::with_schedule(
        allow_private,
        4,
        Duration::from_millis(10),
        Duration::from_secs(5),
    )
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
    fast(true).notify(&note(&url)).await.expect("delivered");
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
    let e = fast(true).notify(&note(&url)).await.unwrap_err();
    assert_eq!(got.lock().unwrap().len(), 4);
    assert_eq!(e.attempts, 4);
    assert!(e.message.contains("502"), "{e}");
    assert!(!e.to_string().contains("secret-token"), "{e}");
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let (url, got) = receiver(vec!["404 Not Found"]).await;
    let e = fast(true).notify(&note(&url)).await.unwrap_err();
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(e.attempts, 1);
    assert!(e.message.contains("404"), "{e}");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (url, got) = receiver(vec!["302 Found"]).await;
    let e = fast(true).notify(&note(&url)).await.unwrap_err();
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
    let e = fast(true).notify(&note(&url)).await.unwrap_err();
    assert_eq!(e.attempts, 4);
    assert!(!e.to_string().contains("secret-token"), "{e}");
}

#[tokio::test]
async fn loopback_and_private_hosts_are_refused_unless_allowed_and_metadata_always() {
    let (url, got) = receiver(vec!["200 OK"]).await;
    let e = fast(false).notify(&note(&url)).await.unwrap_err();
    assert_eq!(e.attempts, 0);
    assert!(e.message.contains("CCAAS_WEBHOOK_ALLOW_PRIVATE"), "{e}");
    // A name that resolves to loopback is refused by the resolver, before any connection.
    let by_name = url.replace("127.0.0.1", "localhost");
    let e = fast(false).notify(&note(&by_name)).await.unwrap_err();
    assert!(e.message.contains("loopback"), "{e}");
    assert_eq!(e.attempts, 1, "a refused address is not retried");
    assert!(
        got.lock().unwrap().is_empty(),
        "nothing reached the receiver"
    );
    let e = fast(true)
        .notify(&note("http://169.254.169.254/latest/meta-data/"))
        .await
        .unwrap_err();
    assert!(e.message.contains("link-local"), "{e}");
}

#[test]
fn the_address_guard_sorts_addresses() {
    let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    for ip in [v4(8, 8, 8, 8), v4(100, 128, 0, 1), v4(172, 32, 0, 1)] {
        assert_eq!(refused(ip, false), None, "{ip}");
    }
    for ip in [
        v4(127, 0, 0, 1),
        v4(10, 1, 2, 3),
        v4(172, 16, 0, 1),
        v4(192, 168, 1, 1),
        v4(100, 64, 0, 1),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        "fd00::1".parse().unwrap(),
        "::ffff:10.0.0.1".parse().unwrap(),
    ] {
        assert!(refused(ip, false).is_some(), "{ip}");
        assert_eq!(refused(ip, true), None, "{ip} allowed when private is on");
    }
    for ip in [
        v4(169, 254, 169, 254),
        v4(0, 0, 0, 0),
        v4(255, 255, 255, 255),
        v4(224, 0, 0, 1),
        "fe80::1".parse().unwrap(),
        "::".parse().unwrap(),
        "::ffff:169.254.169.254".parse().unwrap(),
    ] {
        assert!(refused(ip, true).is_some(), "{ip} is always refused");
    }
}

#[test]
fn the_budget_covers_every_attempt_and_pause() {
    let n =
        HttpNotifier::with_schedule(false, 4, Duration::from_millis(500), Duration::from_secs(5));
    assert_eq!(
        n.budget(),
        Duration::from_millis(4 * 5000 + 500 + 1000 + 2000)
    );
}
