//! The [`IndexStore`] contract: an index comes back in byte ranges (clipped at its end, empty
//! past it), a missing one is `None`, a repeat put is idempotent, listing gives a build's
//! sessions oldest first and at most the newest `max`, other builds apart, oversized reads are
//! refused, the newest-build records are per scope, and a merge task's index reads back in
//! ranges, apart from the sessions: no listing shows it and a session of the same id is another
//! object.

use super::{fail, fresh_id, fresh_token, ok, same};
use crate::Error;
use crate::ports::{IndexStore, LatestBuild, MAX_INDEX_READ};
use ccaas_domain::{BuildId, TaskId};

/// Runs every check on `store`.
pub async fn run<I: IndexStore>(store: &I) {
    let c = "an index is read back in ranges and a missing one is none";
    let build = ok(
        c,
        "build id",
        BuildId::parse(&format!("17.1.0-{}", fresh_token())),
    );
    let other = ok(
        c,
        "build id",
        BuildId::parse(&format!("17.2.0-{}", fresh_token())),
    );
    let s1 = fresh_id();
    same(
        c,
        "missing",
        ok(c, "read", store.read_index(&build, &s1, 0, 10).await),
        None,
    );
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    ok(c, "put", store.put_index(&build, &s1, bytes.clone()).await);
    ok(
        c,
        "put again",
        store.put_index(&build, &s1, bytes.clone()).await,
    );
    let head = ok(c, "read head", store.read_index(&build, &s1, 0, 24).await);
    same(c, "head", head, Some(bytes[..24].to_vec()));
    let mid = ok(
        c,
        "read mid",
        store.read_index(&build, &s1, 65_000, 100).await,
    );
    same(c, "middle", mid, Some(bytes[65_000..65_100].to_vec()));
    let tail = ok(
        c,
        "read tail",
        store.read_index(&build, &s1, 69_990, 100).await,
    );
    same(
        c,
        "clipped at the end",
        tail,
        Some(bytes[69_990..].to_vec()),
    );
    let past = ok(
        c,
        "read past",
        store.read_index(&build, &s1, 80_000, 10).await,
    );
    same(c, "past the end", past, Some(Vec::new()));
    let whole = ok(
        c,
        "read whole",
        store.read_index(&build, &s1, 0, 1 << 20).await,
    );
    same(c, "whole", whole, Some(bytes));

    let c = "a build's sessions are listed oldest first, the newest max of them";
    let s2 = TaskId::from_parts(s1.unix_ms() + 1, 1);
    let s3 = TaskId::from_parts(s1.unix_ms() + 2, 1);
    ok(c, "put s3", store.put_index(&build, &s3, vec![3]).await);
    ok(c, "put s2", store.put_index(&build, &s2, vec![2]).await);
    ok(
        c,
        "put other",
        store.put_index(&other, &fresh_id(), vec![9]).await,
    );
    let all = ok(c, "list", store.list_sessions(&build, 100).await);
    same(c, "all", all, vec![s1.clone(), s2.clone(), s3.clone()]);
    let newest = ok(c, "list 2", store.list_sessions(&build, 2).await);
    same(c, "newest two", newest, vec![s2, s3]);

    let c = "a read over the cap is refused";
    match store.read_index(&build, &s1, 0, MAX_INDEX_READ + 1).await {
        Err(Error::Corrupt(_)) => {}
        other => fail(c, format!("got {other:?}")),
    }

    let c = "a merge index reads back in ranges and is never listed as a session";
    let merge = fresh_id();
    same(
        c,
        "missing",
        ok(
            c,
            "read",
            store.read_merged_index(&build, &merge, 0, 10).await,
        ),
        None,
    );
    let merged: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    ok(
        c,
        "put",
        store.put_merged_index(&build, &merge, merged.clone()).await,
    );
    ok(
        c,
        "put again",
        store.put_merged_index(&build, &merge, merged.clone()).await,
    );
    let part = ok(
        c,
        "read part",
        store.read_merged_index(&build, &merge, 30_000, 50).await,
    );
    same(c, "part", part, Some(merged[30_000..30_050].to_vec()));
    let past = ok(
        c,
        "read past",
        store.read_merged_index(&build, &merge, 50_000, 10).await,
    );
    same(c, "past the end", past, Some(Vec::new()));
    let listed = ok(c, "list", store.list_sessions(&build, 100).await);
    if listed.contains(&merge) {
        fail(
            c,
            format!("the merge {merge} is listed as a session: {listed:?}"),
        );
    }
    same(
        c,
        "no session index of the merge's id",
        ok(c, "read", store.read_index(&build, &merge, 0, 10).await),
        None,
    );
    same(
        c,
        "not under a session's id",
        ok(c, "read", store.read_merged_index(&build, &s1, 0, 10).await),
        None,
    );
    same(
        c,
        "not under another build",
        ok(
            c,
            "read",
            store.read_merged_index(&other, &merge, 0, 10).await,
        ),
        None,
    );
    match store
        .read_merged_index(&build, &merge, 0, MAX_INDEX_READ + 1)
        .await
    {
        Err(Error::Corrupt(_)) => {}
        other => fail(c, format!("an oversized read got {other:?}")),
    }

    let c = "the newest build is recorded per scope";
    let device = format!("{}.example:22", fresh_token());
    same(
        c,
        "none yet",
        ok(c, "latest", store.latest(Some(&device)).await),
        None,
    );
    let l = LatestBuild {
        build: build.clone(),
        ended_ms: 42,
    };
    ok(c, "put", store.put_latest(Some(&device), &l).await);
    ok(c, "put again", store.put_latest(Some(&device), &l).await);
    same(
        c,
        "read",
        ok(c, "latest", store.latest(Some(&device)).await),
        Some(l),
    );
    let g = LatestBuild {
        build: other,
        ended_ms: 43,
    };
    ok(c, "put global", store.put_latest(None, &g).await);
    same(
        c,
        "global",
        ok(c, "latest", store.latest(None).await),
        Some(g),
    );
    let d2 = format!("{}.example:22", fresh_token());
    same(
        c,
        "another device",
        ok(c, "latest", store.latest(Some(&d2)).await),
        None,
    );
}
