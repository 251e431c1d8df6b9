//! Devices through `ccaas-local` on moto with the real simulator: the allow-list refuses a task
//! before anything is stored, every spelling of an address is one device (one session lock),
//! a pin is written only after a successful login, and an admin call drops it.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::sim::Sim;
use common::{App, Emulator, spawn_app, unique};
use reqwest::{Method, StatusCode};

/// A start task on `host:port` (any spelling) with the simulator's login and `password`.
fn start(sim: &Sim, user: &str, host: &str, password: &str) -> String {
    format!(
        r#"{{"type":"code-coverage-start","user":"{user}","data":{{"device":{{"host":"{host}","port":{},"username":"{}","password":"{password}"}},"modules":["tmm","mcpd"]}}}}"#,
        sim.port,
        sim.s("username"),
    )
}

/// Submits `body` and waits for the task to finish; answers its view.
async fn run(app: &App, body: String) -> serde_json::Value {
    let r = app.post(body, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    app.wait_terminal(&id, Duration::from_secs(120)).await
}

/// The host key pinned for device `key` in the `devices` table.
async fn pin_of(emu: &Emulator, key: &str) -> Option<String> {
    let item = emu
        .dynamodb()
        .get_item()
        .table_name(emu.var("CCAAS_DEVICES_TABLE"))
        .key("host", AttributeValue::S(key.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    item.item()
        .and_then(|i| i.get("host_key_sha256"))
        .and_then(|v| v.as_s().ok())
        .cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_outside_the_allow_list_is_a_403_and_nothing_is_stored_or_run() {
    let emu = Emulator::shared();
    // Loopback ports 2200-2299 only; a refused port inside the list shows what passes.
    let (_held, open_port) = ccaas_testkit::refused_port();
    let list = format!("127.0.0.0/8:2200-2299, 127.0.0.1:{open_port}, [::1]:22");
    let app = spawn_app(emu, &[("CCAAS_DEVICE_ALLOW", list.as_str())]).await;
    let user = unique("allow");
    for (host, port) in [
        ("127.0.0.1", 22),
        ("127.0.0.1", 2300),
        ("127.0.0.2", open_port),
        ("::1", 2222),
        ("localhost", 2300),
        ("bigip.lab", 2222),
    ] {
        let body = format!(
            r#"{{"type":"code-coverage-start","user":"{user}","data":{{"device":{{"host":"{host}","port":{port},"username":"root","password":"canary-allow-91"}},"modules":["tmm"]}}}}"#
        );
        let r = app
            .post(body.clone(), Some(&format!("{user}-{host}-{port}")))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{host}:{port}: {}", r.text);
        let e = r.json();
        assert_eq!(e["error"]["code"], "device_not_allowed", "{e}");
        assert_eq!(e["error"]["field"], "data.device.host", "{e}");
        assert!(!r.text.contains("canary-allow-91"));
    }
    let listed = app.get(&format!("/v1/tasks?user={user}")).await.json();
    assert_eq!(listed["count"], 0, "{listed}");
    let items = emu.dump_table(&emu.var("CCAAS_TASKS_TABLE")).await;
    assert!(
        !items.iter().any(|i| i.contains(&user)),
        "a refused task was stored"
    );

    // Inside the list, in another spelling, the task is taken and runs (the port refuses).
    let body = format!(
        r#"{{"type":"code-coverage-start","user":"{user}","data":{{"device":{{"host":"0x7f.1","port":{open_port},"username":"root","password":"pw"}},"modules":["tmm"]}}}}"#
    );
    let done = run(&app, body).await;
    assert_eq!(done["error"]["code"], "unreachable", "{done}");
    assert_eq!(done["device"], "127.0.0.1", "{done}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_spelling_of_127_0_0_1_is_one_device_with_one_session_lock() {
    // A private emulator: the simulators share 127.0.0.1, and the session lock is the point.
    let emu = &Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(emu, &[("CCAAS_DEVICE_PROFILE", profile.as_str())]).await;
    let password = sim.s("password");

    let first = run(&app, start(&sim, "spell", "127.0.0.1", &password)).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    for host in [
        "127.1",
        "0x7f.1",
        "LOCALHOST",
        "::ffff:127.0.0.1",
        "2130706433",
    ] {
        let busy = run(&app, start(&sim, "spell", host, &password)).await;
        assert_eq!(busy["error"]["code"], "session_open", "{host}: {busy}");
        assert_eq!(busy["device"], "127.0.0.1", "{host}: {busy}");
    }
    // One device: one session record and one pin, under the canonical key.
    let key = format!("127.0.0.1:{}", sim.port);
    assert_eq!(
        pin_of(emu, &key).await.as_deref(),
        Some(sim.s("host_key_sha256").as_str())
    );
    let items = emu.dump_table(&emu.var("CCAAS_DEVICES_TABLE")).await;
    assert_eq!(items.len(), 1, "{items:?}");
    // A list by any spelling finds all six tasks.
    let listed = app.get("/v1/tasks?device=0x7f.1&user=spell").await.json();
    assert_eq!(listed["count"], 6, "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pin_is_written_only_after_a_login_and_an_admin_call_drops_it() {
    let emu = &Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let key = format!("127.0.0.1:{}", sim.port);
    let fingerprint = sim.s("host_key_sha256");

    // Policy pinned (the default) and no fingerprint: refused, nothing contacted or pinned.
    {
        let app = spawn_app(
            emu,
            &[
                ("CCAAS_DEVICE_PROFILE", profile.as_str()),
                ("CCAAS_HOST_KEY_POLICY", "pinned"),
            ],
        )
        .await;
        let refused = run(&app, start(&sim, "pins", "127.0.0.1", &sim.s("password"))).await;
        assert_eq!(refused["error"]["code"], "host_key_unknown", "{refused}");
        assert_eq!(pin_of(emu, &key).await, None);
    }

    let app = spawn_app(emu, &[("CCAAS_DEVICE_PROFILE", profile.as_str())]).await;
    // A wrong password (tofu): told `unreachable`, like a closed port, and no pin written.
    let wrong = run(&app, start(&sim, "pins", "127.0.0.1", "not-the-password")).await;
    assert_eq!(wrong["error"]["code"], "unreachable", "{wrong}");
    assert!(!wrong.to_string().contains("auth"), "{wrong}");
    assert_eq!(pin_of(emu, &key).await, None, "a failed login wrote a pin");

    // The right password: the login pins the key.
    let ok = run(&app, start(&sim, "pins", "127.1", &sim.s("password"))).await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    assert_eq!(
        pin_of(emu, &key).await.as_deref(),
        Some(fingerprint.as_str())
    );

    // The admin call (auth off: any caller) drops it, by any spelling, idempotently.
    let path = format!("/v1/devices/127.1:{}/pin", sim.port);
    let r = app.send(app.request(Method::DELETE, &path)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json(),
        serde_json::json!({"device": key, "dropped": true})
    );
    assert_eq!(pin_of(emu, &key).await, None);
    let r = app.send(app.request(Method::DELETE, &path)).await;
    assert_eq!(r.json()["dropped"], false, "{}", r.text);
    // The device's open session is untouched by the drop.
    let busy = run(&app, start(&sim, "pins", "127.0.0.1", &sim.s("password"))).await;
    assert_eq!(busy["error"]["code"], "session_open", "{busy}");
    let r = app
        .send(app.request(Method::DELETE, "/v1/devices/127.0.0.1/pin"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}
