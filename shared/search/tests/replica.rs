//! The index copied from its writer to readers through the `IndexFiles` port (the twin here;
//! S3 on AWS): a reader finds what the writer committed after a pull, a pull without a new
//! commit downloads nothing, and files no commit names are deleted only after the grace.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::memory::MemoryIndexFiles;
use ccaas_app::ports::{IndexFiles, SearchDoc, TaskSearch};
use ccaas_domain::{SearchQuery, Status, TaskId, TaskType};
use ccaas_search::TantivySearch;
use ccaas_search::replica::{GRACE_MS, META, RETIRED, named_segments, pull, push};

fn doc(n: u64, name: &str) -> SearchDoc {
    SearchDoc {
        id: TaskId::from_parts(1_000 + n, n as u128),
        name: Some(name.into()),
        user: "alice".into(),
        host: "10.0.0.1".into(),
        port: 22,
        task_type: TaskType::CoverageEnd,
        status: Status::Succeeded,
        modules: vec!["tmm".into()],
        build: None,
        error_code: None,
        error_message: None,
        log: String::new(),
        created: "2026-12-01T00:00:00Z".into(),
    }
}

async fn total(index: &TantivySearch, q: &str) -> usize {
    index
        .search(&SearchQuery::parse([("q", q)]).unwrap())
        .await
        .unwrap()
        .total
}

#[tokio::test]
async fn a_reader_sees_each_pushed_commit_after_a_pull_and_old_files_outlive_the_grace_only() {
    let store = MemoryIndexFiles::default();
    let (wdir, rdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let writer = TantivySearch::open(wdir.path()).unwrap();
    // No index on the store yet: nothing to pull.
    assert_eq!(pull(&store, rdir.path(), None).await.unwrap(), None);

    writer.upsert(&[doc(1, "alpha")]).await.unwrap();
    let t0 = 1_800_000_000_000;
    push(&store, wdir.path(), t0).await.unwrap();
    let tag = pull(&store, rdir.path(), None)
        .await
        .unwrap()
        .expect("a first pull");
    let reader = TantivySearch::open_reader(rdir.path()).unwrap();
    assert_eq!(total(&reader, "alpha").await, 1);
    assert!(
        reader.upsert(&[doc(9, "x")]).await.is_err(),
        "a reader cannot write"
    );
    // Nothing new: the tag is the same and nothing is downloaded.
    assert_eq!(pull(&store, rdir.path(), Some(&tag)).await.unwrap(), None);

    // The same task again, changed: its old segment's files stop being named.
    let old_meta = std::fs::read(wdir.path().join(META)).unwrap();
    let old_named = named_segments(&old_meta).unwrap();
    writer
        .upsert(&[doc(1, "beta"), doc(2, "gamma")])
        .await
        .unwrap();
    let pushed = push(&store, wdir.path(), t0 + 1_000).await.unwrap();
    assert!(pushed.uploaded >= 2 && pushed.deleted == 0, "{pushed:?}");
    let tag2 = pull(&store, rdir.path(), Some(&tag))
        .await
        .unwrap()
        .expect("a new commit");
    assert_ne!(tag, tag2);
    reader.reload().unwrap();
    assert_eq!(total(&reader, "alpha").await, 0);
    assert_eq!(total(&reader, "beta gamma").await, 2);

    // Another commit: segments whose documents were all replaced drop out of it.
    writer.upsert(&[doc(3, "delta")]).await.unwrap();
    push(&store, wdir.path(), t0 + 2_000).await.unwrap();
    let names = || async {
        store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
    };
    let meta_now = std::fs::read(wdir.path().join(META)).unwrap();
    let named_now = named_segments(&meta_now).unwrap();
    let unnamed: Vec<String> = names()
        .await
        .into_iter()
        .filter(|n| n != META && n != RETIRED)
        .filter(|n| !named_now.iter().any(|s| n.starts_with(s.as_str())))
        .collect();
    assert!(!unnamed.is_empty(), "no file fell out of the newest commit");
    // Before the grace, files the old meta.json named are still on the store.
    for s in &old_named {
        if !named_now.contains(s) {
            assert!(
                names().await.iter().any(|n| n.starts_with(s.as_str())),
                "{s} went early"
            );
        }
    }
    // After it, every file on the store is named by the newest commit.
    let done = push(&store, wdir.path(), t0 + 2_000 + GRACE_MS)
        .await
        .unwrap();
    assert_eq!(done.deleted, unnamed.len(), "{unnamed:?}");
    for n in names().await {
        assert!(
            n == META || n == RETIRED || named_now.iter().any(|s| n.starts_with(s.as_str())),
            "{n} outlived its grace"
        );
    }
    // A fresh reader gets the whole newest commit from what is left.
    let fresh = tempfile::tempdir().unwrap();
    pull(&store, fresh.path(), None)
        .await
        .unwrap()
        .expect("a pull");
    let r2 = TantivySearch::open_reader(fresh.path()).unwrap();
    assert_eq!(total(&r2, "beta gamma delta").await, 3);
}

#[tokio::test]
async fn a_replica_reader_serves_searches_and_picks_up_a_new_commit_within_its_refresh() {
    use ccaas_search::replica::{REFRESH, ReplicaSearch};
    let store = MemoryIndexFiles::default();
    let wdir = tempfile::tempdir().unwrap();
    let rdir = tempfile::tempdir().unwrap();
    let reader = ReplicaSearch::new(store.clone(), rdir.path().join("copy"));
    let q = SearchQuery::parse([("q", "epsilon")]).unwrap();
    // No index on the store yet: no hits (and no reader opened).
    assert_eq!(reader.search(&q).await.unwrap().total, 0);
    assert!(!rdir.path().join("copy").join(META).exists());
    let writer = TantivySearch::open(wdir.path()).unwrap();
    writer.upsert(&[doc(5, "epsilon")]).await.unwrap();
    push(&store, wdir.path(), 0).await.unwrap();
    assert_eq!(reader.search(&q).await.unwrap().total, 1);
    writer.upsert(&[doc(6, "epsilon two")]).await.unwrap();
    push(&store, wdir.path(), 1).await.unwrap();
    let deadline = std::time::Instant::now() + REFRESH * 5;
    while reader.search(&q).await.unwrap().total != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new commit never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(reader.upsert(&[doc(7, "x")]).await.is_err());
}

#[tokio::test]
async fn the_writer_step_indexes_changed_tasks_from_the_store_and_a_second_container_continues() {
    use ccaas_app::memory::{MemoryLogs, MemoryStore};
    use ccaas_app::{LogStore, TaskStore};
    use ccaas_search::replica::{ReplicaSearch, apply};
    let (files, store, logs) = (
        MemoryIndexFiles::default(),
        MemoryStore::default(),
        MemoryLogs::default(),
    );
    let task = |n: u64, name: &str| -> ccaas_domain::Task {
        serde_json::from_value(serde_json::json!({
            "id": TaskId::from_parts(5_000 + n, n as u128).as_str(), "name": name,
            "user": "bob", "type": "code-coverage-start", "priority": "normal",
            "status": "pending", "version": 0, "created": "2026-12-01T00:00:00Z",
            "updated": "2026-12-01T00:00:00Z", "device": "10.0.0.2", "port": 22,
            "modules": ["tmm"], "session": null, "flush": "signal", "webhook": null,
            "lease_until": null, "result": null, "error": null,
        }))
        .unwrap()
    };
    let (a, b) = (task(1, "zeta"), task(2, "eta"));
    store.create(&a, None).await.unwrap();
    store.create(&b, None).await.unwrap();
    logs.write_log(&b.id, b"{\"command\":\"tmsh list ltm pool\"}\n".to_vec())
        .await
        .unwrap();
    let first = tempfile::tempdir().unwrap();
    let gone = TaskId::from_parts(9, 9);
    let n = apply(
        &files,
        first.path(),
        &store,
        &logs,
        &[a.id.clone(), b.id.clone(), gone],
        0,
    )
    .await
    .unwrap();
    assert_eq!(n, 2, "a task gone from the store is skipped");
    // Another (cold) container continues from the store, not from its own empty /tmp.
    let second = tempfile::tempdir().unwrap();
    let c = task(3, "theta");
    store.create(&c, None).await.unwrap();
    apply(
        &files,
        second.path(),
        &store,
        &logs,
        std::slice::from_ref(&c.id),
        1,
    )
    .await
    .unwrap();
    let reader = ReplicaSearch::new(files.clone(), tempfile::tempdir().unwrap().keep());
    let q = |s: &str| SearchQuery::parse([("q", s)]).unwrap();
    assert_eq!(reader.search(&q("zeta eta theta")).await.unwrap().total, 3);
    assert_eq!(reader.search(&q("pool user:bob")).await.unwrap().total, 1);
}
