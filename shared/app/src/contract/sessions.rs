//! The [`SessionStore`] contract: at most one open session per device, opening is idempotent
//! per session id, closing is conditional on the id and idempotent; the listing shows each
//! open session once across its pages.

use super::{fresh_id, fresh_token, ok, same};
use crate::ports::{DeviceSession, Opened, SessionStore};
use ccaas_domain::TaskId;

fn session(id: &TaskId) -> DeviceSession {
    DeviceSession {
        id: id.clone(),
        modules: vec!["tmm".into(), "mcpd".into()],
        facts: serde_json::json!({"build": "17.1.0", "pids": {"tmm": [41, 42]}}),
        opened: "2026-11-29T00:00:00.000Z".into(),
        opened_ms: Some(1_795_910_400_000),
        owner: Some("alice".into()),
        took_over: None,
    }
}

/// Every page of [`SessionStore::list`], from the first: the rows, and how many pages.
async fn walk<S: SessionStore>(
    c: &str,
    sessions: &S,
    limit: usize,
) -> (Vec<(String, DeviceSession)>, usize) {
    let (mut rows, mut pages, mut next) = (Vec::new(), 0, None::<String>);
    loop {
        let page = ok(c, "list", sessions.list(next.as_deref(), limit).await);
        if page.sessions.len() > limit {
            super::fail(c, "a page over its limit");
        }
        rows.extend(page.sessions);
        pages += 1;
        if pages > 10_000 {
            super::fail(c, "the cursor never ends");
        }
        match page.next {
            Some(n) => next = Some(n),
            None => return (rows, pages),
        }
    }
}

/// Runs every check on `sessions`.
pub async fn run<S: SessionStore>(sessions: &S) {
    one_session_per_device(sessions).await;
    listing(sessions).await;
}

/// The listing: every open session exactly once across pages of any size, closed ones gone,
/// the owner and times kept; a made-up cursor is refused naming `next`.
async fn listing<S: SessionStore>(sessions: &S) {
    let c = "the listing shows every open session once, field for field, and no closed one";
    let devs: Vec<String> = (0..5)
        .map(|i| format!("{}.example:{}", fresh_token(), 22 + i))
        .collect();
    let ids: Vec<TaskId> = devs.iter().map(|_| fresh_id()).collect();
    for (d, id) in devs.iter().zip(&ids) {
        ok(c, "open", sessions.open(d, &session(id)).await);
    }
    ok(c, "close", sessions.close(&devs[4], &ids[4]).await);
    for limit in [1, 2, 100] {
        let (rows, _) = walk(c, sessions, limit).await;
        for (i, d) in devs.iter().enumerate() {
            let mine: Vec<&DeviceSession> = rows
                .iter()
                .filter(|(k, _)| k == d)
                .map(|(_, s)| s)
                .collect();
            if i == 4 {
                same(c, "the closed device is not listed", mine.len(), 0);
            } else {
                same(
                    c,
                    "an open device is listed once",
                    mine,
                    vec![&session(&ids[i])],
                );
            }
        }
    }
    let bad = sessions.list(Some("not-a-cursor"), 10).await;
    match bad {
        Err(crate::Error::Invalid(f)) => {
            same(c, "a made-up cursor names next", f.field.as_str(), "next")
        }
        other => super::fail(c, format!("a made-up cursor gave {other:?}")),
    }
    for (d, id) in devs.iter().zip(&ids) {
        ok(c, "close", sessions.close(d, id).await);
    }
}

async fn one_session_per_device<S: SessionStore>(sessions: &S) {
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
