//! The [`ArtifactStore`] contract: the raw archive goes up and comes back byte for byte, a
//! missing one is `false` and writes nothing, one over the caller's cap is `Corrupt`, and the
//! facts record reads back, with its 1 MiB cap.

use std::path::PathBuf;

use super::{fail, fresh_id, fresh_token, ok, same};
use crate::Error;
use crate::ports::ArtifactStore;

/// A scratch directory removed on drop.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub(crate) fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("ccaas-contract-{}", fresh_token()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            fail("scratch directory", e);
        }
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs every check on `store`.
pub async fn run<A: ArtifactStore>(store: &A) {
    let dir = Scratch::new();
    let c = "a raw archive round-trips and a missing one writes nothing";
    let id = fresh_id();
    let down = dir.0.join("down");
    same(
        c,
        "missing",
        ok(c, "get_raw", store.get_raw(&id, &down, 1 << 20).await),
        false,
    );
    same(c, "no file for a missing archive", down.exists(), false);
    let up = dir.0.join("up");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    ok(c, "write scratch", std::fs::write(&up, &bytes));
    ok(c, "put_raw", store.put_raw(&id, &up).await);
    ok(c, "put_raw again", store.put_raw(&id, &up).await);
    same(
        c,
        "present",
        ok(c, "get_raw", store.get_raw(&id, &down, 1 << 20).await),
        true,
    );
    same(c, "bytes", ok(c, "read back", std::fs::read(&down)), bytes);

    let c = "a raw archive over the cap is corrupt";
    match store.get_raw(&id, &dir.0.join("capped"), 1000).await {
        Err(Error::Corrupt(_)) => {}
        other => fail(c, format!("got {other:?}")),
    }

    let c = "the facts record reads back and a missing one is none";
    let other = fresh_id();
    same(
        c,
        "missing",
        ok(c, "get_facts", store.get_facts(&other).await),
        None,
    );
    let facts = br#"{"session":"x","end":{}}"#.to_vec();
    ok(c, "put_facts", store.put_facts(&other, facts.clone()).await);
    same(
        c,
        "read",
        ok(c, "get_facts", store.get_facts(&other).await),
        Some(facts),
    );

    let c = "a facts record over 1 MiB is corrupt";
    let big = fresh_id();
    ok(
        c,
        "put_facts",
        store.put_facts(&big, vec![b' '; (1 << 20) + 1]).await,
    );
    match store.get_facts(&big).await {
        Err(Error::Corrupt(_)) => {}
        other => fail(c, format!("got {:?}", other.map(|o| o.map(|v| v.len())))),
    }
}
