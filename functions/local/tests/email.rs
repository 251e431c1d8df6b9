//! Email notices on the live stack: `ccaas-local` on a private moto (which verifies the local
//! sender, `CCAAS_MAIL_FROM`, and keeps every mail SES sent) and the real simulator. A session
//! whose end task has `notify.email` gives exactly one mail with the report link, also after
//! ten duplicate deliveries; a failed task's mail carries its code; no mail and no log line
//! holds a password; a service without a sender refuses `notify.email`.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::sim::Sim;
use common::{Emulator, spawn_app, unique};
use reqwest::StatusCode;
use serde_json::Value;

fn notify(to: &[&str]) -> String {
    format!(r#","notify":{{"email":{}}}"#, serde_json::json!(to))
}

/// Sends ten more deliveries of a finished task's message straight to the normal queue.
async fn duplicates(emu: &Emulator, id: &str, host: &str, port: u16, password: &str) {
    let sqs = emu.sqs();
    let queue = emu.var("CCAAS_QUEUE_URL");
    let message = serde_json::json!({
        "task_id": id,
        "device": {"host": host, "port": port, "username": "root",
                   "credential": {"password": password}, "host_key_sha256": null},
    })
    .to_string();
    for i in 0..10 {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(&message)
            .message_group_id(format!("{host}:{port}"))
            .message_deduplication_id(format!("{id}-dup-{i}"))
            .send()
            .await
            .expect("send a duplicate");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_with_notify_email_gives_one_ses_mail_with_its_report_link_even_after_duplicates() {
    let emu = Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(
        &emu,
        &[
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let from = emu.var("CCAAS_MAIL_FROM");
    let user = unique("mail");
    let canary = unique("canary-mail-pw");
    let qa = format!("{}@lab.example", unique("qa"));
    let lead = format!("{}@example.com", unique("lead"));

    // A session: the start without email, the end with two recipients.
    let r = app
        .post(sim.body_with(&user, "code-coverage-start", "", ""), None)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let start = r.json()["id"].as_str().unwrap().to_string();
    let started = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(started["status"], "succeeded", "{started}");
    assert!(started.get("notify").is_none(), "{started}");
    sim.poke(&["tmm", "add", "2", "3"]);
    let body = sim.body_with(
        &user,
        "code-coverage-end",
        &format!(r#","session":"{start}""#),
        &format!(r#","name":"nightly {user}"{}"#, notify(&[&qa, &lead])),
    );
    let r = app.post(body, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let end = r.json()["id"].as_str().unwrap().to_string();
    let ended = app.wait_terminal(&end, Duration::from_secs(180)).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let link = ended["result"]["link"].as_str().unwrap().to_string();

    // A failed task (a made-up device, the canary as its password) mails its error.
    let host = unique("mail-nowhere");
    let failing = format!(
        r#"{{"type":"code-coverage-start","user":"{user}"{},"data":{{"device":{{"host":"{host}","username":"root","password":"{canary}"}},"modules":["tmm"]}}}}"#,
        notify(&[&qa])
    );
    let r = app.post(failing, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let failed = r.json()["id"].as_str().unwrap().to_string();
    let t = app.wait_terminal(&failed, Duration::from_secs(60)).await;
    assert_eq!(t["error"]["code"], "unreachable", "{t}");

    // Ten more deliveries of each finished task's message; every one is settled (a message
    // is deleted only after its notifications).
    duplicates(&emu, &end, &sim.s("host"), sim.port, &sim.s("password")).await;
    duplicates(&emu, &failed, &host, 22, &canary).await;
    emu.wait_drained(&emu.var("CCAAS_QUEUE_URL"), Duration::from_secs(120))
        .await;
    emu.wait_drained(&emu.var("CCAAS_HIGH_QUEUE_URL"), Duration::from_secs(30))
        .await;

    // Exactly one mail per task, each to its recipients, from the service's sender.
    let all = emu.ses_messages().await;
    assert_eq!(
        all.len(),
        2,
        "one mail per task with notify.email: {all:#?}"
    );
    let about = |id: &str| -> Value {
        let hits: Vec<&Value> = all
            .iter()
            .filter(|m| m["body"].as_str().unwrap_or_default().contains(id))
            .collect();
        assert_eq!(hits.len(), 1, "task {id}: {hits:#?}");
        hits[0].clone()
    };
    let m = about(&end);
    assert_eq!(m["source"], from.as_str());
    assert_eq!(
        m["destinations"]["ToAddresses"],
        serde_json::json!([qa, lead])
    );
    let lines = &ended["result"]["summary"]["lines"];
    let subject = m["subject"].as_str().unwrap();
    assert!(
        subject.starts_with(&format!("[ccaas] nightly {user}: succeeded (")),
        "{subject}"
    );
    assert!(subject.ends_with("% lines)"), "{subject}");
    let html = m["body"].as_str().unwrap();
    assert!(
        html.contains(&format!(r#"<a href="{link}">"#)),
        "the report link: {html}"
    );
    assert!(
        html.contains(&format!("({}/{})", lines["covered"], lines["total"])),
        "{html}"
    );
    assert!(
        html.contains(&format!("{}:{}", sim.s("host"), sim.port)),
        "{html}"
    );
    let f = about(&failed);
    assert_eq!(f["destinations"]["ToAddresses"], serde_json::json!([qa]));
    assert_eq!(
        f["subject"],
        format!("[ccaas] code-coverage-start on {host}:22: failed: unreachable")
    );
    assert!(f["body"].as_str().unwrap().contains("unreachable"), "{f}");

    // The views show the outcome, never the addresses.
    for id in [&end, &failed] {
        let t = app.get(&format!("/v1/tasks/{id}")).await.json();
        assert_eq!(t["notify"], serde_json::json!({"email": "sent"}), "{t}");
        assert!(!t.to_string().contains(&qa), "{t}");
    }
    let items = emu.dump_table(&emu.var("CCAAS_TASKS_TABLE")).await;
    let item = items.iter().find(|i| i.contains(&end)).unwrap();
    assert!(item.contains(r#""notified_email": S("sent")"#), "{item}");

    // No password in any mail; no password and no recipient in the log.
    for m in &all {
        let text = m.to_string();
        assert!(!text.contains(&canary), "{text}");
        assert!(!text.contains(&sim.s("password")), "{text}");
    }
    let logs = app.logs();
    assert!(!logs.contains(&canary));
    assert!(!logs.contains(&qa), "a log names a recipient");
    assert!(!logs.contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_without_a_sender_refuses_notify_email_with_email_disabled() {
    let emu = Emulator::shared();
    let app = spawn_app(emu, &[("CCAAS_MAIL_FROM", "")]).await;
    let body = format!(
        r#"{{"type":"code-coverage-start","user":"{}"{},"data":{{"device":{{"host":"{}","username":"root","password":"pw"}},"modules":["tmm"]}}}}"#,
        unique("nomail"),
        notify(&["alice@example.com"]),
        unique("nomail-host"),
    );
    let r = app.post(body, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "email_disabled");
    assert_eq!(r.json()["error"]["field"], "notify.email");
    let r = app
        .post(
            r#"{"type":"code-coverage-start","notify":{"email":["a@example.com","Eve <eve@evil.example>"]},"data":{"device":{"host":"h","username":"u","password":"p"},"modules":["tmm"]}}"#,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json()["error"]["field"], "notify.email[1]", "{}", r.text);
}
