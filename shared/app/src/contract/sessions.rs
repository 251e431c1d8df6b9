//! The [`SessionStore`] contract: at most one open session per device, opening is idempotent
//! per session id, closing is conditional on the id and idempotent.

use super::{fresh_id, fresh_token, ok, same};
use crate::ports::{DeviceSession, Opened, SessionStore};
use ccaas_domain::TaskId;

fn session(id: &TaskId) -> DeviceSession {
    DeviceSession {
        id: id.clone(),
        modules: vec!["tmm".into(), "mcpd".into()],
        facts: serde_json::json!({"build": "17.1.0", "pids": {"tmm": [41, 42]}}),
        opened: "2026-11-29T00:00:00.000Z".into(),
    }
}

/// Runs every check on `sessions`.
pub async fn run<S: SessionStore>(sessions: &S) {
    let c = "a device holds one session and reopening or reclosing it changes nothing";
    let dev = format!("{}.example:22", fresh_token());
    let other = format!("{}.example:2222", fresh_token());
    let (a, b) = (fresh_id(), fresh_id());
    same(
        c,
        "no session yet",
        ok(c, "current", sessions.current(&dev).await),
        None,
    );
    same(
        c,
        "open a",
        ok(c, "open", sessions.open(&dev, &session(&a)).await),
        Opened::New,
    );
    same(
        c,
        "reopen a",
        ok(c, "open", sessions.open(&dev, &session(&a)).await),
        Opened::Already,
    );
    same(
        c,
        "open b while a is open",
        ok(c, "open", sessions.open(&dev, &session(&b)).await),
        Opened::Busy(a.clone()),
    );
    same(
        c,
        "the current session is a, field for field",
        ok(c, "current", sessions.current(&dev).await),
        Some(session(&a)),
    );
    same(
        c,
        "b on another device",
        ok(c, "open", sessions.open(&other, &session(&b)).await),
        Opened::New,
    );
    same(
        c,
        "close b on dev",
        ok(c, "close", sessions.close(&dev, &b).await),
        false,
    );
    same(
        c,
        "close a",
        ok(c, "close", sessions.close(&dev, &a).await),
        true,
    );
    same(
        c,
        "close a again",
        ok(c, "close", sessions.close(&dev, &a).await),
        false,
    );
    same(
        c,
        "after close",
        ok(c, "current", sessions.current(&dev).await),
        None,
    );
    same(
        c,
        "the other device keeps b",
        ok(c, "current", sessions.current(&other).await).map(|s| s.id),
        Some(b.clone()),
    );
    same(
        c,
        "a new session after the close",
        ok(c, "open", sessions.open(&dev, &session(&b)).await),
        Opened::New,
    );
}
