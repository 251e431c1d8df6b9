//! Auth on (`CCAAS_AUTH=jwt`) against a real `ccaas-local` and a real emulator: bearer tokens
//! verified against a JWKS file, the token's claim as the task's user, and refusals that write
//! nothing and never log the token.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Emulator, spawn_app, start_body};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &[u8] = b"a local secret of at least thirty-two bytes";
/// base64url of [`SECRET`].
const SECRET_B64: &str = "YSBsb2NhbCBzZWNyZXQgb2YgYXQgbGVhc3QgdGhpcnR5LXR3byBieXRlcw";
const ISSUER: &str = "https://issuer.ccaas.test";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(claims: Value, secret: &[u8]) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("local-1".into());
    encode(&h, &claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

fn claims(sub: &str, exp: u64) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": "ccaas", "exp": exp, "email": format!("{sub}@example.com")})
}

fn jwks_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("jwks.json");
    let set = json!({"keys": [{"kty": "oct", "kid": "local-1", "alg": "HS256", "k": SECRET_B64}]});
    std::fs::write(&path, set.to_string()).unwrap();
    path
}

/// An API-only ccaas-local with `CCAAS_AUTH=jwt` against a one-key set written in `dir`.
async fn spawn_with_auth(
    emu: &Emulator,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> common::App {
    let jwks = jwks_file(dir);
    let mut env = vec![
        ("CCAAS_LOCAL_WORKER", "off"),
        ("CCAAS_AUTH", "jwt"),
        ("CCAAS_AUTH_JWKS_FILE", jwks.to_str().unwrap()),
        ("CCAAS_AUTH_ISSUER", ISSUER),
        ("CCAAS_AUTH_AUDIENCE", "ccaas"),
    ];
    env.extend_from_slice(extra);
    spawn_app(emu, &env).await
}

#[tokio::test]
async fn with_auth_on_only_verified_callers_get_in_and_the_token_names_the_user() {
    let emu = Emulator::private();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_auth(&emu, dir.path(), &[("RUST_LOG", "trace")]).await;
    let body = start_body("mallory", "10.0.0.1", "pw");
    let post = |bearer: Option<String>| {
        let mut r = app
            .request(Method::POST, "/v1/tasks")
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(t) = bearer {
            r = r.header("authorization", t);
        }
        r
    };

    // No token, a forged one, an expired one, a wrong scheme: 401, and nothing is written.
    let good = token(claims("alice", now() + 600), SECRET);
    let refused = [
        None,
        Some(format!(
            "Bearer {}",
            token(
                claims("alice", now() + 600),
                b"not the secret, but thirty-two bytes"
            )
        )),
        Some(format!(
            "Bearer {}",
            token(claims("alice", now() - 3600), SECRET)
        )),
        Some(format!("Basic {good}")),
        Some("Bearer not.a.jwt".to_string()),
    ];
    for bearer in refused {
        let r = app.send(post(bearer.clone())).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bearer:?}: {}", r.text);
        assert!(r.headers.contains_key("www-authenticate"));
        assert_eq!(r.json()["error"]["code"], "unauthorized");
    }
    let r = app.get("/v1/tasks").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A valid token: the task's user is the token's `sub`, whatever the body says.
    let r = app.send(post(Some(format!("Bearer {good}")))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = app
        .send(
            app.request(Method::GET, &format!("/v1/tasks/{id}"))
                .header("authorization", format!("Bearer {good}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["user"], "alice");

    // Only that one task exists: every refusal wrote nothing.
    let r = app
        .send(
            app.request(Method::GET, "/v1/tasks")
                .header("authorization", format!("Bearer {good}")),
        )
        .await;
    let tasks = r.json()["collection"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(tasks.len(), 1, "{}", r.text);

    // The token is in no log line, even at TRACE.
    let logs = app.logs();
    assert!(logs.contains("bearer token refused"), "refusals are logged");
    let signature = good.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature), "the token reached the log");
}

#[tokio::test]
async fn auth_on_without_its_settings_stops_ccaas_local_with_the_missing_variable_named() {
    let emu = Emulator::shared();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ccaas-local"))
        .envs(emu.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        // Port 0: it is never connected to, and no other process can hold it.
        .env("CCAAS_LISTEN", "127.0.0.1:0")
        .env("CCAAS_AUTH", "jwt")
        .env("CCAAS_AUTH_ISSUER", ISSUER)
        .env("CCAAS_AUTH_AUDIENCE", "ccaas")
        .env_remove("CCAAS_AUTH_JWKS_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CCAAS_AUTH_JWKS_FILE"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("jwks.json");
    std::fs::write(&bad, r#"{"keys": "none"}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ccaas-local"))
        .envs(emu.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        // Port 0: it is never connected to, and no other process can hold it.
        .env("CCAAS_LISTEN", "127.0.0.1:0")
        .env("CCAAS_AUTH", "jwt")
        .env("CCAAS_AUTH_ISSUER", ISSUER)
        .env("CCAAS_AUTH_AUDIENCE", "ccaas")
        .env("CCAAS_AUTH_JWKS_FILE", &bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jwks.json"), "{err}");
}

#[tokio::test]
async fn with_auth_on_the_console_loads_without_a_token_and_asks_for_one() {
    let emu = Emulator::private();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_auth(&emu, dir.path(), &[]).await;
    // The sign-in page itself needs no token; the API behind it still does.
    for (path, ty) in [
        ("/site/console/", "text/html; charset=utf-8"),
        ("/site/console/console.js", "text/javascript; charset=utf-8"),
        ("/site/console/console.css", "text/css; charset=utf-8"),
        ("/site/console/config.json", "application/json"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        assert_eq!(r.headers["content-type"], ty, "{path}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
    }
    let config: serde_json::Value =
        serde_json::from_str(&app.get("/site/console/config.json").await.text).unwrap();
    assert_eq!(config, json!({"api": "", "auth": "token"}));
    assert_eq!(app.get("/v1/tasks").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/site/console/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
}
