//! `ccaas compare` against a stand-in API: the query it sends, the pages it follows, the table
//! and the raw JSON it prints, and how a refusal fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

/// Serves one GET per answer, in order; the request lines come back through the join handle.
fn answers(list: Vec<(&'static str, String)>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, body) in list {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut s = s;
            write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            seen.push(first.trim_end().to_owned());
        }
        seen
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

fn page(file: &str, next: Option<&str>) -> String {
    let side = |t: &str| {
        format!(
            r#"{{"task":"{t}","session":"S{t}","build":"17.1.0-0.0.16","name":"suite","user":"alice","device":"h:22","lines":{{"covered":5,"total":10,"percent":50.0}}}}"#
        )
    };
    let next = next.map_or("null".to_owned(), |n| format!("\"{n}\""));
    format!(
        r#"{{"base":{},"head":{},"delta":{{"covered":1,"total":0,"percent":10.0,"newly_covered":2,"lost":1,"files_changed":2}},"files":[{{"file":"{file}","newly_covered":[7,8],"newly_covered_count":2,"lost":[],"lost_count":0,"base":{{"covered":1,"total":4,"percent":25.0}},"head":{{"covered":3,"total":4,"percent":75.0}}}}],"lines_truncated":false,"next":{next}}}"#,
        side("01B"),
        side("01H")
    )
}

#[test]
fn the_cli_follows_every_page_into_one_table() {
    let (url, seen) = answers(vec![
        ("200 OK", page("src/a.c", Some("6e657874"))),
        ("200 OK", page("src/b.c", None)),
    ]);
    let out = ccaas(&["compare", "01B", "01H", "--api", &url, "--limit", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("build 17.1.0-0.0.16\n"), "{text}");
    assert!(
        text.contains("src/a.c\n") && text.contains("src/b.c\n"),
        "{text}"
    );
    assert!(text.contains("+ 7-8\n"), "{text}");
    let seen = seen.join().unwrap();
    assert_eq!(
        seen,
        vec![
            "GET /v1/compare?base=01B&head=01H&limit=1 HTTP/1.1",
            "GET /v1/compare?base=01B&head=01H&limit=1&cursor=6e657874 HTTP/1.1",
        ]
    );
}

#[test]
fn the_cli_prints_one_page_of_raw_json_and_fails_on_a_refusal() {
    let (url, seen) = answers(vec![("200 OK", page("src/a.c", Some("6e")))]);
    let out = ccaas(&["compare", "01B", "01H", "--api", &url, "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["next"], "6e");
    assert_eq!(seen.join().unwrap().len(), 1);

    let refusal = r#"{"error":{"code":"different_builds","field":"head","message":"base ran build a and head ran build b"}}"#;
    let (url, _) = answers(vec![("409 Conflict", refusal.to_owned())]);
    let out = ccaas(&["compare", "01B", "01H", "--api", &url]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HTTP 409: different_builds (head): base ran build a"),
        "{err}"
    );
}
