//! The [`LogStore`] contract: nothing before the first write, bytes back as written, a rewrite
//! replaces.

use super::{fresh_id, ok, same};
use crate::ports::LogStore;

/// Runs every check on `logs`.
pub async fn run<L: LogStore>(logs: &L) {
    let c = "a log reads back as written and a rewrite replaces it";
    let id = fresh_id();
    same(
        c,
        "before any write",
        ok(c, "read", logs.read_log(&id).await),
        None,
    );
    let first = b"{\"cmd\":\"tar\"}\n".to_vec();
    ok(c, "write", logs.write_log(&id, first.clone()).await);
    same(
        c,
        "first read",
        ok(c, "read", logs.read_log(&id).await),
        Some(first),
    );
    let second: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    ok(c, "rewrite", logs.write_log(&id, second.clone()).await);
    same(
        c,
        "after rewrite",
        ok(c, "read", logs.read_log(&id).await),
        Some(second),
    );
    same(
        c,
        "another task's log",
        ok(c, "read", logs.read_log(&fresh_id()).await),
        None,
    );
}
