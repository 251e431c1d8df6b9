//! The [`BuildStore`] contract: a part goes up and comes back byte for byte, one never published
//! is `false` and writes nothing, one over the cap is `Corrupt`, and the parts of a build are
//! separate.

use super::artifacts::Scratch;
use super::{fail, fresh_token, ok, same};
use crate::Error;
use crate::ports::{BuildPart, BuildStore};
use ccaas_domain::BuildId;

/// Runs every check on `store`.
pub async fn run<B: BuildStore>(store: &B) {
    let dir = Scratch::new();
    let c = "a build part round-trips and a missing one writes nothing";
    let build = ok(
        c,
        "build id",
        BuildId::parse(&format!("17.1.0-{}", fresh_token())),
    );
    let down = dir.0.join("down");
    let missing = store
        .get_part(&build, BuildPart::Notes, &down, 1 << 20)
        .await;
    same(c, "missing", ok(c, "get_part", missing), false);
    same(c, "no file for a missing part", down.exists(), false);
    let up = dir.0.join("up");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    ok(c, "write scratch", std::fs::write(&up, &bytes));
    ok(
        c,
        "put_part",
        store.put_part(&build, BuildPart::Notes, &up).await,
    );
    let got = store
        .get_part(&build, BuildPart::Notes, &down, 1 << 20)
        .await;
    same(c, "present", ok(c, "get_part", got), true);
    same(c, "bytes", ok(c, "read back", std::fs::read(&down)), bytes);
    let sources = store
        .get_part(&build, BuildPart::Sources, &dir.0.join("s"), 1 << 20)
        .await;
    same(
        c,
        "the other part stays unpublished",
        ok(c, "get_part", sources),
        false,
    );

    let c = "a build part over the cap is corrupt";
    match store
        .get_part(&build, BuildPart::Notes, &dir.0.join("capped"), 1000)
        .await
    {
        Err(Error::Corrupt(_)) => {}
        other => fail(c, format!("got {other:?}")),
    }
}
