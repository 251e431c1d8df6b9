//! `ccaas impact` against a stand-in API: what it sends, what it prints, how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

/// Serves one request with `status` and `body`; the request's body comes back through the
/// join handle.
fn one_answer(status: &str, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let status = status.to_owned();
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut len = 0usize;
        let mut first = String::new();
        r.read_line(&mut first).unwrap();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; len];
        r.read_exact(&mut buf).unwrap();
        let mut s = s;
        write!(
            s,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        format!("{first}{}", String::from_utf8(buf).unwrap())
    });
    (url, h)
}

fn ccaas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccaas"))
        .args(args)
        .env_remove("CCAAS_TOKEN")
        .output()
        .unwrap()
}

const ANSWER: &str = r#"{"build":"17.1.0-0.0.16","changed_lines":3,"sessions_read":2,"sessions":[{"session":"01S","task":"01T","name":"route suite","user":"alice","build":"17.1.0-0.0.16","device":"h:22","lines_hit":2}],"uncovered":[{"file":"tmm/route.c","lines":[12,13,20]}]}"#;

#[test]
fn the_cli_posts_the_diff_and_prints_a_table_or_the_raw_json() {
    let dir = tempfile::tempdir().unwrap();
    let diff = dir.path().join("change.diff");
    std::fs::write(&diff, "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n").unwrap();
    let (url, req) = one_answer("200 OK", ANSWER);
    let d = diff.to_str().unwrap();
    let out = ccaas(&[
        "impact",
        "--api",
        &url,
        "--diff",
        d,
        "--build",
        "17.1.0-0.0.16",
        "--device",
        "h:22",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = req.join().unwrap();
    assert!(sent.starts_with("POST /v1/impact "), "{sent}");
    let body: serde_json::Value = serde_json::from_str(sent.split_once('\n').unwrap().1).unwrap();
    assert_eq!(body["build"], "17.1.0-0.0.16");
    assert_eq!(body["device"], "h:22");
    assert!(body["diff"].as_str().unwrap().contains("+b"));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("route suite"), "{text}");
    assert!(text.contains("tmm/route.c: 12-13, 20"), "{text}");

    let (url, _req) = one_answer("200 OK", ANSWER);
    let out = ccaas(&["impact", "--api", &url, "--diff", d, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sessions"][0]["lines_hit"], 2);
}

#[test]
fn an_api_error_names_the_field_and_fails_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let diff = dir.path().join("bad.diff");
    std::fs::write(&diff, "not a diff").unwrap();
    let (url, _req) = one_answer(
        "400 Bad Request",
        r#"{"error":{"code":"invalid_field","field":"diff","message":"the text is not a unified diff"}}"#,
    );
    let out = ccaas(&["impact", "--api", &url, "--diff", diff.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HTTP 400: invalid_field (diff)"), "{err}");
    let out = ccaas(&["impact", "--api", &url, "--diff", "/nonexistent/x.diff"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the diff"));
}
