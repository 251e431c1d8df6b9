//! I1/I3: malformed and hostile bodies each get a 4xx JSON error and write nothing.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Emulator, spawn_app};
use reqwest::StatusCode;

fn task(data: &str) -> String {
    format!(r#"{{"type":"code-coverage-start","user":"mallory","data":{data}}}"#)
}

fn device(extra: &str) -> String {
    task(&format!(
        r#"{{"device":{{"host":"10.0.0.9","username":"root","password":"pw"{extra}}},"modules":["tmm"]}}"#
    ))
}

fn modules(list: &str) -> String {
    task(&format!(
        r#"{{"device":{{"host":"10.0.0.9","username":"root","password":"pw"}},"modules":{list}}}"#
    ))
}

/// (body, expected status, expected field or "" when none is named)
fn cases() -> Vec<(Vec<u8>, u16, &'static str)> {
    let mut c: Vec<(Vec<u8>, u16, &'static str)> = vec![
        (b"".to_vec(), 400, ""),
        (b"{".to_vec(), 400, ""),
        (b"not json".to_vec(), 400, ""),
        (b"[]".to_vec(), 400, ""),
        (b"null".to_vec(), 400, ""),
        (b"42".to_vec(), 400, ""),
        (b"\"a string\"".to_vec(), 400, ""),
        (b"{}".to_vec(), 400, "type"),
        (br#"{"type":"code-coverage-middle","data":{}}"#.to_vec(), 400, "type"),
        (br#"{"type":42}"#.to_vec(), 400, "type"),
        (br#"{"type":"code-coverage-start"}"#.to_vec(), 400, "data"),
        (br#"{"type":"code-coverage-start","data":[]}"#.to_vec(), 400, "data"),
        (task(r#"{"modules":["tmm"]}"#).into_bytes(), 400, "data.device"),
        (task(r#"{"device":"10.0.0.1","modules":["tmm"]}"#).into_bytes(), 400, "data.device"),
        (modules("[]").into_bytes(), 400, "data.modules"),
        (modules(r#""tmm""#).into_bytes(), 400, "data.modules"),
        (modules(r#"["tmm; touch /tmp/x"]"#).into_bytes(), 400, "data.modules[0]"),
        (modules(r#"["tmm","$(reboot)"]"#).into_bytes(), 400, "data.modules[1]"),
        (modules(r#"["tmm","`id`"]"#).into_bytes(), 400, "data.modules[1]"),
        (modules(r#"["../../etc"]"#).into_bytes(), 400, "data.modules[0]"),
        (modules(r#"["TMM"]"#).into_bytes(), 400, "data.modules[0]"),
        (modules(r#"["tmm","tmm"]"#).into_bytes(), 400, "data.modules[1]"),
        (modules(r#"[42]"#).into_bytes(), 400, "data.modules[0]"),
        (modules(&format!("[{}]", vec![r#""m""#; 33].join(","))).into_bytes(), 400, "data.modules"),
        (modules(r#"["tmm\u0000"]"#).into_bytes(), 400, "data.modules[0]"),
        (modules(r#"["tmmé"]"#).into_bytes(), 400, "data.modules[0]"),
        (device(r#","port":65536"#).into_bytes(), 400, "data.device.port"),
        (device(r#","port":0"#).into_bytes(), 400, "data.device.port"),
        (device(r#","port":-1"#).into_bytes(), 400, "data.device.port"),
        (device(r#","port":"22""#).into_bytes(), 400, "data.device.port"),
        (device(r#","port":22.5"#).into_bytes(), 400, "data.device.port"),
        (device(r#","private_key":"-----BEGIN OPENSSH PRIVATE KEY-----""#).into_bytes(), 400, "data.device.private_key"),
        (device(r#","host_key_sha256":"md5:abc""#).into_bytes(), 400, "data.device.host_key_sha256"),
        (device(r#","shell":"/bin/sh""#).into_bytes(), 400, "data.device.shell"),
        (task(r#"{"device":{"host":"h; rm -rf /","username":"root","password":"pw"},"modules":["tmm"]}"#).into_bytes(), 400, "data.device.host"),
        (task(r#"{"device":{"host":"h","username":"root; id","password":"pw"},"modules":["tmm"]}"#).into_bytes(), 400, "data.device.username"),
        (task(r#"{"device":{"host":"h","username":"root"},"modules":["tmm"]}"#).into_bytes(), 400, "data.device.password"),
        (task(r#"{"device":{"host":"h","username":"root","password":""},"modules":["tmm"]}"#).into_bytes(), 400, "data.device.password"),
        (task(r#"{"device":{"host":"h","username":"root","password":"pw"},"modules":["tmm"],"flush":"kill"}"#).into_bytes(), 400, "data.flush"),
        (task(r#"{"device":{"host":"h","username":"root","password":"pw"},"modules":["tmm"],"session":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}"#).into_bytes(), 400, "data.session"),
        (br#"{"type":"code-coverage-end","data":{"device":{"host":"h","username":"u","password":"p"},"modules":["tmm"],"session":"x"}}"#.to_vec(), 400, "data.session"),
        (br#"{"type":"code-coverage-start","priority":"urgent","data":{}}"#.to_vec(), 400, "priority"),
        (format!(r#"{{"type":"code-coverage-start","name":"{}","data":{{}}}}"#, "n".repeat(201)).into_bytes(), 400, "name"),
        (br#"{"type":"code-coverage-start","user":"a b","data":{}}"#.to_vec(), 400, "user"),
        (br#"{"type":"code-coverage-start","user":"\u202Eevil","data":{}}"#.to_vec(), 400, "user"),
        (br#"{"type":"code-coverage-start","extra":1,"data":{}}"#.to_vec(), 400, "extra"),
        (br#"{"type":"code-coverage-start","notify":{"webhook":"file:///etc/passwd"},"data":{"device":{"host":"h","username":"u","password":"p"},"modules":["tmm"]}}"#.to_vec(), 400, "notify.webhook"),
        (br#"{"type":"code-coverage-start","notify":"x","data":{"device":{"host":"h","username":"u","password":"p"},"modules":["tmm"]}}"#.to_vec(), 400, "notify"),
        (b"\xff\xfe{\"type\":1}".to_vec(), 400, ""),
        (b"{\"type\":\"code-coverage-start\",\"name\":\"a\x00b\"}".to_vec(), 400, ""),
        (br#"{"type":"code-coverage-start","name":"\u0000","data":{}}"#.to_vec(), 400, "name"),
        ("{\"type\":\"code-coverage-start\",\"name\":\"日本語🙂\",\"data\":{}}".as_bytes().to_vec(), 400, "data.device"),
        (format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(), 400, ""),
    ];
    // 70 KB: over the 64 KiB limit.
    let big = format!(
        r#"{{"type":"code-coverage-start","name":"{}"}}"#,
        "x".repeat(70_000)
    );
    c.push((big.into_bytes(), 413, ""));
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_hostile_bodies_each_get_a_4xx_json_error_and_write_nothing() {
    let emu = Emulator::private();
    let app = spawn_app(&emu, &[]).await;
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (body, status, field) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
        let r = app.post(body, None).await;
        assert_eq!(r.status.as_u16(), status, "{shown}: {}", r.text);
        let err = &r.json()["error"];
        assert!(
            err["code"].is_string() && err["message"].is_string(),
            "{shown}: {}",
            r.text
        );
        if !field.is_empty() {
            assert_eq!(err["field"], field, "{shown}: {}", r.text);
        }
    }
    for (ct, status) in [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("", 415),
    ] {
        let r = app
            .post_as(ct, common::start_body("u", "h", "p"), None)
            .await;
        assert_eq!(r.status.as_u16(), status, "{ct}");
        assert_eq!(r.json()["error"]["field"], "Content-Type");
    }
    let r = app
        .post(
            common::start_body("u", "h", "p"),
            Some("bad key with spaces"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["field"], "Idempotency-Key");

    assert!(
        emu.dump_table(&emu.var("CCAAS_TASKS_TABLE"))
            .await
            .is_empty(),
        "nothing stored"
    );
    let list = app.get("/v1/tasks").await.json();
    assert_eq!(list["count"], 0);
}
