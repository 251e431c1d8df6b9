//! Session control on a real `ccaas-local`, a real emulator and (for sessions) the real BIG-IP
//! simulator, with auth on: cancelling pending tasks (202, 403, 404, 409), ends and discards
//! only by a session's owner or an admin, and `GET /v1/devices`.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::sim::Sim;
use common::{App, Emulator, Reply, is_terminal, spawn_app, start_body};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &[u8] = b"a local secret of at least thirty-two bytes";
const SECRET_B64: &str = "YSBsb2NhbCBzZWNyZXQgb2YgYXQgbGVhc3QgdGhpcnR5LXR3byBieXRlcw";
const ISSUER: &str = "https://issuer.ccaas.test";

/// A bearer token for `user`, valid for ten minutes.
fn bearer(user: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("local-1".into());
    let claims = json!({"sub": user, "iss": ISSUER, "aud": "ccaas", "exp": exp});
    let t = encode(&h, &claims, &EncodingKey::from_secret(SECRET).unwrap()).unwrap();
    format!("Bearer {t}")
}

/// `ccaas-local` with JWT auth on and `ops` as the one admin, plus `extra` settings.
async fn app(emu: &Emulator, dir: &std::path::Path, extra: &[(&str, &str)]) -> App {
    let jwks = dir.join("jwks.json");
    let set = json!({"keys": [{"kty": "oct", "kid": "local-1", "alg": "HS256", "k": SECRET_B64}]});
    std::fs::write(&jwks, set.to_string()).unwrap();
    let mut env = vec![
        ("CCAAS_AUTH", "jwt"),
        ("CCAAS_AUTH_JWKS_FILE", jwks.to_str().unwrap()),
        ("CCAAS_AUTH_ISSUER", ISSUER),
        ("CCAAS_AUTH_AUDIENCE", "ccaas"),
        ("CCAAS_ADMIN_USERS", "ops"),
    ];
    env.extend_from_slice(extra);
    spawn_app(emu, &env).await
}

async fn call(app: &App, user: &str, method: Method, path: &str, body: Option<String>) -> Reply {
    let mut r = app
        .request(method, path)
        .header("authorization", bearer(user));
    if let Some(b) = body {
        r = r.header("content-type", "application/json").body(b);
    }
    app.send(r).await
}

async fn submit(app: &App, user: &str, body: String) -> String {
    let r = call(app, user, Method::POST, "/v1/tasks", Some(body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Polls the task (as `user`) until it is finished, within two minutes.
async fn finished(app: &App, user: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = call(app, user, Method::GET, &format!("/v1/tasks/{id}"), None).await;
        if r.status == StatusCode::OK && is_terminal(&r.json()) {
            return r.json();
        }
        assert!(
            Instant::now() < deadline,
            "task {id} not finished: {}\n{}",
            r.text,
            app.log_tail(60)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_pending_task_is_cancelled_by_its_user_or_an_admin_only_and_never_queued_work_runs() {
    let emu = Emulator::private();
    let dir = tempfile::tempdir().unwrap();
    // No worker: the tasks stay pending for as long as the test needs.
    let app = app(&emu, dir.path(), &[("CCAAS_LOCAL_WORKER", "off")]).await;
    let a = submit(&app, "alice", start_body("alice", "10.0.0.1", "pw")).await;
    let b = submit(&app, "alice", start_body("alice", "10.0.0.2", "pw")).await;

    let r = call(&app, "bob", Method::DELETE, &format!("/v1/tasks/{a}"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "not_owner");
    let r = call(&app, "alice", Method::GET, &format!("/v1/tasks/{a}"), None).await;
    assert_eq!(
        r.json()["status"],
        "pending",
        "bob's refusal changed nothing"
    );

    let r = call(
        &app,
        "alice",
        Method::DELETE,
        &format!("/v1/tasks/{a}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json()["status"], "failed");
    assert_eq!(r.json()["error"]["code"], "cancelled");
    let again = call(
        &app,
        "alice",
        Method::DELETE,
        &format!("/v1/tasks/{a}/"),
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
    assert_eq!(again.json()["updated"], r.json()["updated"]);

    let r = call(&app, "ops", Method::DELETE, &format!("/v1/tasks/{b}"), None).await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "an admin cancels: {}",
        r.text
    );
    assert_eq!(r.json()["error"]["code"], "cancelled");

    for unknown in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope"] {
        let r = call(
            &app,
            "alice",
            Method::DELETE,
            &format!("/v1/tasks/{unknown}"),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        assert_eq!(r.json()["error"]["code"], "not_found");
    }
    let r = app
        .send(app.request(Method::DELETE, &format!("/v1/tasks/{a}")))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "no token, no cancel");
}

#[tokio::test]
async fn only_the_owner_or_an_admin_ends_or_discards_a_session_and_the_device_list_shows_it() {
    let emu = Emulator::private();
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = app(
        &emu,
        dir.path(),
        &[("CCAAS_DEVICE_PROFILE", profile.as_str())],
    )
    .await;
    let device = format!("{}:{}", sim.s("host"), sim.port);

    let start = submit(&app, "alice", sim.body("code-coverage-start", "")).await;
    let started = finished(&app, "alice", &start).await;
    assert_eq!(started["status"], "succeeded", "{started}");

    // The session is listed with its owner; a finished task cannot be cancelled.
    let r = call(&app, "bob", Method::GET, "/v1/devices", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rows = r.json()["collection"].as_array().unwrap().clone();
    let row = rows
        .iter()
        .find(|d| d["device"] == device.as_str())
        .expect("listed");
    assert_eq!(row["owner"], "alice");
    assert_eq!(row["session"], start.as_str());
    assert_eq!(row["modules"], json!(["tmm", "mcpd"]));
    let r = call(
        &app,
        "alice",
        Method::DELETE,
        &format!("/v1/tasks/{start}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "task_not_pending");
    assert_eq!(r.json()["error"]["status"], "succeeded");
    let r = call(&app, "bob", Method::GET, "/v1/devices?limit=0", None).await;
    assert_eq!(r.json()["error"]["field"], "limit");

    // Bob may neither end nor discard alice's session, named or not.
    let named = format!(r#","session":"{start}""#);
    for (ty, extra) in [
        ("code-coverage-end", ""),
        ("code-coverage-end", named.as_str()),
        ("code-coverage-discard", named.as_str()),
    ] {
        let id = submit(&app, "bob", sim.body(ty, extra)).await;
        let t = finished(&app, "bob", &id).await;
        assert_eq!(t["error"]["code"], "session_not_owned", "{ty}: {t}");
    }

    // The admin discards it by naming it: no collect, no report, the device is free.
    let id = submit(&app, "ops", sim.body("code-coverage-discard", &named)).await;
    let t = finished(&app, "ops", &id).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_eq!(t["result"]["discarded"], true);
    assert_eq!(t["result"]["owner"], "alice");
    let r = call(&app, "alice", Method::GET, "/v1/devices", None).await;
    let rows = r.json()["collection"].as_array().unwrap().clone();
    assert!(
        rows.iter().all(|d| d["device"] != device.as_str()),
        "{rows:?}"
    );
    let log = call(
        &app,
        "ops",
        Method::GET,
        &format!("/v1/tasks/{id}/log"),
        None,
    )
    .await;
    assert_eq!(log.text, "", "a discard runs no device command");
}

// #11 item 6: sessions expire after CCAAS_SESSION_MAX_AGE_SECS. Past it, the owner's end fails
// `session_expired` (no report of an unknown age), and another user's start takes the device
// over.
#[tokio::test]
async fn a_session_past_its_max_age_fails_its_end_as_expired_and_another_start_takes_the_device_over()
 {
    let emu = Emulator::private();
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = app(
        &emu,
        dir.path(),
        &[
            ("CCAAS_DEVICE_PROFILE", profile.as_str()),
            ("CCAAS_SESSION_MAX_AGE_SECS", "2"),
        ],
    )
    .await;
    let device = format!("{}:{}", sim.s("host"), sim.port);

    let start = submit(&app, "alice", sim.body("code-coverage-start", "")).await;
    let started = finished(&app, "alice", &start).await;
    assert_eq!(started["status"], "succeeded", "{started}");
    // The session was opened before the task was seen finished: from then on, a wait longer
    // than the max age leaves it surely older (a lower bound, not a race with a budget).
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let named = format!(r#","session":"{start}""#);
    let end = submit(&app, "alice", sim.body("code-coverage-end", &named)).await;
    let t = finished(&app, "alice", &end).await;
    assert_eq!(t["status"], "failed", "{t}");
    assert_eq!(t["error"]["code"], "session_expired", "{t}");
    assert!(
        t["error"]["message"]
            .as_str()
            .unwrap()
            .contains("older than 2 s"),
        "{t}"
    );

    let take = submit(&app, "bob", sim.body("code-coverage-start", "")).await;
    let t = finished(&app, "bob", &take).await;
    assert_eq!(
        t["status"], "succeeded",
        "bob's start takes the expired session over: {t}"
    );
    let r = call(&app, "bob", Method::GET, "/v1/devices", None).await;
    let rows = r.json()["collection"].as_array().unwrap().clone();
    let row = rows
        .iter()
        .find(|d| d["device"] == device.as_str())
        .expect("listed");
    assert_eq!(row["owner"], "bob", "{row}");
    assert_eq!(row["session"], take.as_str(), "{row}");
}
