//! The impact use case on the in-memory index store: which sessions are read, what the answer
//! holds, how little of each index is read, and the 400s of bad bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::memory::MemoryIndexes;
use ccaas_app::ports::{IndexStore, LatestBuild};
use ccaas_app::{Error, Impacts};
use ccaas_domain::{BuildId, TaskId};
use ccaas_impact::{IndexBuilder, IndexMeta};
use serde_json::json;

fn build(s: &str) -> BuildId {
    BuildId::parse(s).unwrap()
}

/// Writes one session's index: `files` are (path, instrumented, executed).
async fn session(
    store: &MemoryIndexes,
    b: &str,
    n: u64,
    device: &str,
    files: &[(&str, Vec<u32>, Vec<u32>)],
) -> TaskId {
    let id = TaskId::from_parts(1_764_000_000_000 + n * 1000, u128::from(n));
    let end = TaskId::from_parts(1_764_000_000_000 + n * 1000 + 500, u128::from(n));
    let mut ib = IndexBuilder::new(IndexMeta {
        session: id.to_string(),
        task: end.to_string(),
        name: format!("suite {n}"),
        user: "alice".into(),
        build: b.into(),
        device: device.into(),
        ended_ms: end.unix_ms(),
    });
    for (p, ins, exe) in files {
        ib.file(p, ins.iter().copied(), exe.iter().copied());
    }
    store
        .put_index(&build(b), &id, ib.finish().unwrap())
        .await
        .unwrap();
    id
}

const DIFF: &str = "diff --git a/tmm/route.c b/tmm/route.c\n--- a/tmm/route.c\n+++ b/tmm/route.c\n@@ -10,3 +10,4 @@\n a\n-b\n+B\n+C\n d\n";

fn body(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn the_session_that_ran_a_changed_line_is_listed_and_a_line_none_ran_is_uncovered() {
    let store = MemoryIndexes::default();
    let b = "17.1.0-0.0.16";
    let first = session(
        &store,
        b,
        1,
        "10.0.0.1:22",
        &[("/src/tmm/route.c", vec![11, 12, 20], vec![11, 20])],
    )
    .await;
    let _second = session(
        &store,
        b,
        2,
        "10.0.0.1:22",
        &[("/src/tmm/route.c", vec![11, 12, 20], vec![20])],
    )
    .await;
    let impacts = Impacts { indexes: store };
    let v = impacts
        .impact(&body(json!({"diff": DIFF, "build": b})))
        .await
        .unwrap();
    assert_eq!(v.build.as_deref(), Some(b));
    assert_eq!(v.changed_lines, 2);
    assert_eq!(v.sessions_read, 2);
    assert_eq!(v.sessions.len(), 1);
    assert_eq!(v.sessions[0].session, first.to_string());
    assert_eq!(v.sessions[0].lines_hit, 1);
    assert_eq!(v.sessions[0].name.as_deref(), Some("suite 1"));
    assert_eq!(v.uncovered.len(), 1);
    assert_eq!(v.uncovered[0].file, "tmm/route.c");
    assert_eq!(v.uncovered[0].lines, vec![12]);
}

#[tokio::test]
async fn without_a_build_the_newest_indexed_build_is_read_and_a_device_filters_sessions() {
    let store = MemoryIndexes::default();
    let f = || vec![("/src/tmm/route.c", vec![11], vec![11])];
    session(&store, "17.1.0-0.0.1", 1, "10.0.0.1:22", &f()).await;
    let on_a = session(&store, "17.1.0-0.0.2", 2, "10.0.0.1:22", &f()).await;
    let on_b = session(&store, "17.1.0-0.0.2", 3, "10.0.0.2:22", &f()).await;
    let impacts = Impacts {
        indexes: store.clone(),
    };
    let none = impacts.impact(&body(json!({"diff": DIFF}))).await.unwrap();
    assert_eq!(none.build, None, "nothing recorded yet");
    assert!(none.sessions.is_empty());
    store
        .put_latest(
            None,
            &LatestBuild {
                build: build("17.1.0-0.0.2"),
                ended_ms: 1,
            },
        )
        .await
        .unwrap();
    let all = impacts.impact(&body(json!({"diff": DIFF}))).await.unwrap();
    assert_eq!(all.build.as_deref(), Some("17.1.0-0.0.2"));
    let ids: Vec<&str> = all.sessions.iter().map(|s| s.session.as_str()).collect();
    assert_eq!(
        ids,
        vec![on_b.to_string(), on_a.to_string()],
        "equal hits: newest first"
    );
    let one = impacts
        .impact(&body(json!({"diff": DIFF, "device": "10.0.0.2"})))
        .await
        .unwrap();
    assert_eq!(one.sessions.len(), 1);
    assert_eq!(one.sessions[0].session, on_b.to_string());
    let keyed = impacts
        .impact(&body(
            json!({"diff": DIFF, "build": "17.1.0-0.0.2", "device": "10.0.0.1:22"}),
        ))
        .await
        .unwrap();
    assert_eq!(keyed.sessions[0].session, on_a.to_string());
    assert_eq!(keyed.sessions.len(), 1);
}

#[tokio::test]
async fn a_query_reads_the_header_and_the_diffs_buckets_not_whole_indexes() {
    let store = MemoryIndexes::default();
    let b = "17.1.0-0.0.16";
    let files: Vec<(String, Vec<u32>, Vec<u32>)> = (0..5000)
        .map(|i| {
            (
                format!("/src/d{}/f{i}.c", i % 50),
                (1..200).collect(),
                (1..100).collect(),
            )
        })
        .collect();
    let refs: Vec<(&str, Vec<u32>, Vec<u32>)> = files
        .iter()
        .map(|(p, a, b)| (p.as_str(), a.clone(), b.clone()))
        .collect();
    for n in 0..3 {
        session(&store, b, n, "10.0.0.1:22", &refs).await;
    }
    let total: usize = store.objects().values().map(Vec::len).sum();
    let diff = "--- a/d7/f7.c\n+++ b/d7/f7.c\n@@ -1 +1,2 @@\n x\n+y\n";
    let impacts = Impacts {
        indexes: store.clone(),
    };
    let v = impacts
        .impact(&body(json!({"diff": diff, "build": b})))
        .await
        .unwrap();
    assert_eq!(v.sessions.len(), 3);
    let (bytes, calls) = store.reads();
    assert!(calls <= 3 * 3, "{calls} reads");
    assert!(
        (bytes as usize) * 20 < total,
        "read {bytes} of {total} bytes"
    );
}

#[tokio::test]
async fn a_corrupt_index_is_skipped_and_the_others_are_counted() {
    let store = MemoryIndexes::default();
    let b = "17.1.0-0.0.16";
    session(
        &store,
        b,
        1,
        "10.0.0.1:22",
        &[("tmm/route.c", vec![11], vec![11])],
    )
    .await;
    store
        .put_index(
            &build(b),
            &TaskId::from_parts(1_764_000_999_000, 9),
            b"CCAASIDX\x09\x00junk".to_vec(),
        )
        .await
        .unwrap();
    let v = Impacts { indexes: store }
        .impact(&body(json!({"diff": DIFF, "build": b})))
        .await
        .unwrap();
    assert_eq!(v.sessions.len(), 1);
    assert_eq!(v.sessions_read, 1);
}

#[tokio::test]
async fn bad_bodies_are_invalid_with_the_field_named() {
    let impacts = Impacts {
        indexes: MemoryIndexes::default(),
    };
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"not json".to_vec(), "invalid_json", ""),
        (b"[1]".to_vec(), "invalid_json", ""),
        (
            body(json!({"diff": DIFF, "extra": 1})),
            "unknown_field",
            "extra",
        ),
        (
            body(json!({"build": "17.1.0-0.0.1"})),
            "missing_field",
            "diff",
        ),
        (body(json!({"diff": 5})), "invalid_field", "diff"),
        (body(json!({"diff": "hello"})), "invalid_field", "diff"),
        (
            body(json!({"diff": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n"})),
            "invalid_field",
            "diff",
        ),
        (
            body(json!({"diff": DIFF, "build": "../x"})),
            "invalid_field",
            "build",
        ),
        (
            body(json!({"diff": DIFF, "build": 3})),
            "invalid_field",
            "build",
        ),
        (
            body(json!({"diff": DIFF, "device": "a b:22"})),
            "invalid_field",
            "device",
        ),
        (
            body(json!({"diff": DIFF, "device": true})),
            "invalid_field",
            "device",
        ),
    ];
    for (b, code, field) in cases {
        match impacts.impact(&b).await {
            Err(Error::Invalid(f)) => {
                assert_eq!(
                    (f.code, f.field.as_str()),
                    (code, field),
                    "{}",
                    String::from_utf8_lossy(&b)
                );
            }
            other => panic!("{}: {other:?}", String::from_utf8_lossy(&b)),
        }
    }
}

#[tokio::test]
async fn an_outage_of_the_index_store_is_unavailable() {
    let store = MemoryIndexes::default();
    store.switch_off(true);
    let r = Impacts { indexes: store }
        .impact(&body(json!({"diff": DIFF, "build": "17.1.0-0.0.1"})))
        .await;
    assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
}
