//! The compare use case on the in-memory twins: what the answer holds, how a task maps to its
//! index, paging, chunked reads of large indexes, and the 400/404/409 of bad queries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::Error;
use ccaas_app::compare::{CHUNK, compare};
use ccaas_app::contract::task_store::task;
use ccaas_app::memory::{MemoryIndexes, MemoryStore};
use ccaas_app::ports::{IndexStore, TaskStore};
use ccaas_domain::{BuildId, Status, TaskId, TaskType};
use ccaas_impact::{IndexBuilder, IndexMeta};
use serde_json::json;

const BUILD: &str = "17.1.0-0.0.16";

/// A file of an index: path, instrumented lines, executed lines.
type File<'a> = (&'a str, Vec<u32>, Vec<u32>);
/// A query, and the (code, field, status) it is refused with.
type Refused<'a> = (Vec<(&'a str, &'a str)>, (&'a str, &'a str, u16));

struct Stack {
    tasks: MemoryStore,
    indexes: MemoryIndexes,
}

impl Stack {
    fn new() -> Self {
        Stack {
            tasks: MemoryStore::default(),
            indexes: MemoryIndexes::default(),
        }
    }

    /// A succeeded end task `n` of session `n` on `build`, with an index of `files`
    /// (path, instrumented, executed) unless `files` is `None`. Returns the end task's id.
    async fn end(&self, n: u64, build: &str, files: Option<&[File<'_>]>) -> String {
        let session = TaskId::from_parts(1_764_000_000_000 + n * 1000, u128::from(n));
        let id = TaskId::from_parts(1_764_000_000_000 + n * 1000 + 500, u128::from(n));
        let mut t = task(id.clone(), "alice");
        t.status = Status::Succeeded;
        t.result = Some(json!({"session": session.to_string(), "build": build}));
        self.tasks.create(&t, None).await.unwrap();
        if let Some(files) = files {
            let mut ib = IndexBuilder::new(IndexMeta {
                session: session.to_string(),
                task: id.to_string(),
                build: build.into(),
                ..IndexMeta::default()
            });
            for (p, ins, exe) in files {
                ib.file(p, ins.iter().copied(), exe.iter().copied());
            }
            self.indexes
                .put_index(
                    &BuildId::parse(build).unwrap(),
                    &session,
                    ib.finish().unwrap(),
                )
                .await
                .unwrap();
        }
        id.to_string()
    }

    async fn compare(&self, q: &[(&str, &str)]) -> Result<ccaas_app::view::CompareView, Error> {
        compare(&self.tasks, &self.indexes, q.iter().copied()).await
    }
}

/// The 4xx error's (code, field) of a failed compare.
fn refusal(e: Error) -> (&'static str, String, u16) {
    match e {
        Error::Invalid(f) => (f.code, f.field, 400),
        Error::Absent(f) => (f.code, f.field, 404),
        Error::Incompatible(f) => (f.code, f.field, 409),
        other => panic!("not a refusal: {other:?}"),
    }
}

#[tokio::test]
async fn the_compare_lists_lines_the_head_newly_ran_and_lost_and_the_totals_delta() {
    let s = Stack::new();
    let base = s
        .end(
            1,
            BUILD,
            Some(&[
                ("/src/tmm/route.c", vec![10, 11, 12, 13], vec![10, 11]),
                ("/src/mcpd/main.c", vec![1, 2], vec![1, 2]),
            ]),
        )
        .await;
    let head = s
        .end(
            2,
            BUILD,
            Some(&[
                ("/src/tmm/route.c", vec![10, 11, 12, 13], vec![10, 12, 13]),
                ("/src/mcpd/main.c", vec![1, 2], vec![1, 2]),
            ]),
        )
        .await;
    let v = s
        .compare(&[("base", &base), ("head", &head)])
        .await
        .unwrap();
    assert_eq!(v.base.task, base);
    assert_eq!(v.head.task, head);
    assert_eq!(v.base.build, BUILD);
    assert_eq!((v.base.lines.covered, v.base.lines.total), (4, 6));
    assert_eq!((v.head.lines.covered, v.head.lines.total), (5, 6));
    assert_eq!(v.delta.covered, 1);
    assert_eq!(v.delta.total, 0);
    assert_eq!(v.delta.percent, 16.67);
    assert_eq!((v.delta.newly_covered, v.delta.lost), (2, 1));
    assert_eq!(v.delta.files_changed, 1);
    assert_eq!(v.files.len(), 1);
    assert_eq!(v.files[0].file, "/src/tmm/route.c");
    assert_eq!(v.files[0].newly_covered, vec![12, 13]);
    assert_eq!(v.files[0].lost, vec![11]);
    assert!(v.next.is_none() && !v.lines_truncated);
    // Swapped, the same lines change sides.
    let r = s
        .compare(&[("base", &head), ("head", &base)])
        .await
        .unwrap();
    assert_eq!(r.files[0].newly_covered, vec![11]);
    assert_eq!(r.files[0].lost, vec![12, 13]);
    assert_eq!(r.delta.covered, -1);
}

#[tokio::test]
async fn a_cursor_pages_through_the_changed_files_in_path_order() {
    let s = Stack::new();
    let names: Vec<String> = (0..25).map(|i| format!("src/f{i:02}.c")).collect();
    let files: Vec<File<'_>> = names
        .iter()
        .map(|n| (n.as_str(), vec![1, 2], vec![2]))
        .collect();
    let base = s.end(1, BUILD, Some(&[])).await;
    let head = s.end(2, BUILD, Some(&files)).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![
            ("base", base.as_str()),
            ("head", head.as_str()),
            ("limit", "10"),
        ];
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let v = s.compare(&q).await.unwrap();
        assert_eq!(v.delta.files_changed, 25, "every page has the whole totals");
        assert!(v.files.len() <= 10);
        seen.extend(v.files.into_iter().map(|f| f.file));
        match v.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, names);
}

#[tokio::test]
async fn large_indexes_are_read_in_chunks_not_whole_and_not_twice() {
    let s = Stack::new();
    // About 40,000 files of ~60 bytes each: a few MiB per index.
    let names: Vec<String> = (0..40_000)
        .map(|i| format!("/src/mod{}/file{i}.c", i % 97))
        .collect();
    let base_files: Vec<File<'_>> = names
        .iter()
        .map(|n| (n.as_str(), vec![1, 2, 3], vec![1]))
        .collect();
    let mut head_files = base_files.clone();
    head_files[7].2 = vec![1, 3];
    let base = s.end(1, BUILD, Some(&base_files)).await;
    let head = s.end(2, BUILD, Some(&head_files)).await;
    let total: u64 = s.indexes.objects().values().map(|b| b.len() as u64).sum();
    assert!(
        total > 4 * CHUNK,
        "the indexes are larger than a few chunks: {total}"
    );
    let (bytes0, calls0) = s.indexes.reads();
    let v = s
        .compare(&[("base", &base), ("head", &head)])
        .await
        .unwrap();
    let (bytes, calls) = s.indexes.reads();
    let (bytes, calls) = (bytes - bytes0, calls - calls0);
    assert_eq!(v.files.len(), 1);
    assert_eq!(v.files[0].file, names[7]);
    assert_eq!(v.files[0].newly_covered, vec![3]);
    assert_eq!(v.base.lines.total, 120_000);
    assert!(calls >= total / CHUNK, "{calls} reads of {total} bytes");
    assert!(bytes <= total + 64 * 1024, "{bytes} bytes read of {total}");
}

#[tokio::test]
async fn indexes_of_different_sizes_compare_every_file() {
    let s = Stack::new();
    let names: Vec<String> = (0..3000).map(|i| format!("/src/d/f{i}.c")).collect();
    let many: Vec<File<'_>> = names
        .iter()
        .map(|n| (n.as_str(), vec![1, 2], vec![2]))
        .collect();
    let base = s
        .end(1, BUILD, Some(&[("/src/d/f5.c", vec![1, 2], vec![1, 2])]))
        .await;
    let head = s.end(2, BUILD, Some(&many)).await;
    let v = s
        .compare(&[("base", &base), ("head", &head), ("limit", "500")])
        .await
        .unwrap();
    assert_eq!(v.delta.files_changed, 3000);
    assert_eq!(v.delta.lost, 1);
    assert_eq!(v.delta.newly_covered, 2999);
    assert_eq!(v.files.len(), 500);
    assert!(v.next.is_some());
}

#[tokio::test]
async fn tasks_that_cannot_be_compared_are_refused_naming_the_parameter() {
    let s = Stack::new();
    let good = s.end(1, BUILD, Some(&[("a.c", vec![1], vec![1])])).await;
    let other_build = s
        .end(2, "17.1.0-0.0.99", Some(&[("a.c", vec![1], vec![1])]))
        .await;
    let no_index = s.end(3, BUILD, None).await;
    let bad_build = s.end(4, "not a build", None).await;
    let start_id = TaskId::from_parts(1_764_000_900_000, 5);
    let mut start = task(start_id.clone(), "alice");
    start.task_type = TaskType::CoverageStart;
    start.status = Status::Succeeded;
    s.tasks.create(&start, None).await.unwrap();
    let running_id = TaskId::from_parts(1_764_000_901_000, 6);
    let mut running = task(running_id.clone(), "alice");
    running.status = Status::Running;
    s.tasks.create(&running, None).await.unwrap();
    let unknown = TaskId::from_parts(1_764_000_902_000, 7).to_string();
    let (start, running) = (start_id.to_string(), running_id.to_string());

    let cases: Vec<Refused<'_>> = vec![
        (vec![("head", &good)], ("missing_field", "base", 400)),
        (vec![("base", &good)], ("missing_field", "head", 400)),
        (
            vec![("base", "nope"), ("head", &good)],
            ("invalid_field", "base", 400),
        ),
        (
            vec![("base", &good), ("head", &good), ("limit", "0")],
            ("invalid_field", "limit", 400),
        ),
        (
            vec![("base", &good), ("head", &good), ("limit", "501")],
            ("invalid_field", "limit", 400),
        ),
        (
            vec![("base", &good), ("head", &good), ("cursor", "zz")],
            ("invalid_field", "cursor", 400),
        ),
        (
            vec![("base", &good), ("head", &good), ("base", &good)],
            ("invalid_field", "base", 400),
        ),
        (
            vec![("base", &good), ("head", &good), ("x", "1")],
            ("unknown_field", "x", 400),
        ),
        (
            vec![("base", &unknown), ("head", &good)],
            ("not_found", "base", 404),
        ),
        (
            vec![("base", &good), ("head", &no_index)],
            ("no_index", "head", 404),
        ),
        (
            vec![("base", &bad_build), ("head", &good)],
            ("no_index", "base", 404),
        ),
        (
            vec![("base", &start), ("head", &good)],
            ("not_comparable", "base", 409),
        ),
        (
            vec![("base", &good), ("head", &running)],
            ("task_not_succeeded", "head", 409),
        ),
        (
            vec![("base", &good), ("head", &other_build)],
            ("different_builds", "head", 409),
        ),
    ];
    for (q, (code, field, status)) in cases {
        let e = s.compare(&q).await.unwrap_err();
        let (c, f, st) = refusal(e);
        assert_eq!((c, f.as_str(), st), (code, field, status), "{q:?}");
    }
    // A task compared with itself is fine: nothing changed.
    let v = s
        .compare(&[("base", &good), ("head", &good)])
        .await
        .unwrap();
    assert_eq!(v.delta.files_changed, 0);
}

#[tokio::test]
async fn a_corrupt_index_is_an_error_and_an_outage_is_retryable() {
    let s = Stack::new();
    let good = s.end(1, BUILD, Some(&[("a.c", vec![1], vec![1])])).await;
    let bad = s.end(2, BUILD, None).await;
    let t = s
        .tasks
        .get(&TaskId::parse(&bad).unwrap())
        .await
        .unwrap()
        .unwrap();
    let session = TaskId::parse(t.result.unwrap()["session"].as_str().unwrap()).unwrap();
    s.indexes
        .put_index(
            &BuildId::parse(BUILD).unwrap(),
            &session,
            b"CCAASIDX garbage".to_vec(),
        )
        .await
        .unwrap();
    let e = s
        .compare(&[("base", &good), ("head", &bad)])
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Corrupt(ref m) if m.contains("head")),
        "{e:?}"
    );
    s.indexes.switch_off(true);
    let e = s
        .compare(&[("base", &good), ("head", &good)])
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
}

#[test]
fn a_cursor_stays_short_and_reads_back_as_the_paths_start() {
    use ccaas_app::compare::{CURSOR_PATH_BYTES, CompareQuery, cursor_of};
    let id = TaskId::from_parts(1_764_000_000_000, 1).to_string();
    let short = cursor_of("src/a.c");
    assert_eq!(short, "7372632f612e63");
    let q = CompareQuery::parse([
        ("base", id.as_str()),
        ("head", id.as_str()),
        ("cursor", short.as_str()),
    ])
    .unwrap();
    assert_eq!(q.after.as_deref(), Some("src/a.c"));
    let long = format!("/{}", "é".repeat(CURSOR_PATH_BYTES));
    let c = cursor_of(&long);
    assert!(c.len() <= 2 * CURSOR_PATH_BYTES, "{}", c.len());
    let q = CompareQuery::parse([
        ("base", id.as_str()),
        ("head", id.as_str()),
        ("cursor", c.as_str()),
    ])
    .unwrap();
    let after = q.after.unwrap();
    assert!(long.starts_with(&after) && after.len() > CURSOR_PATH_BYTES - 2);
    let too_long = "61".repeat(CURSOR_PATH_BYTES + 1);
    assert!(
        CompareQuery::parse([
            ("base", id.as_str()),
            ("head", id.as_str()),
            ("cursor", too_long.as_str())
        ])
        .is_err()
    );
}

#[tokio::test]
async fn a_smaller_index_larger_than_a_chunk_is_paired_with_every_part_of_the_larger() {
    let s = Stack::new();
    // 20,000 files against 40,000: 8,192 buckets against 16,384, both over a chunk.
    let names: Vec<String> = (0..40_000)
        .map(|i| format!("/src/m{}/f{i}.c", i % 31))
        .collect();
    let head_files: Vec<File<'_>> = names
        .iter()
        .map(|n| (n.as_str(), vec![1, 2, 3], vec![1]))
        .collect();
    let mut base_files: Vec<File<'_>> = head_files[..20_000].to_vec();
    // The base's first path in path order ran line 2 too: the head lost it, on the first page.
    let first = (0..20_000).min_by_key(|&i| &names[i]).unwrap();
    base_files[first].2 = vec![1, 2];
    let base = s.end(1, BUILD, Some(&base_files)).await;
    let head = s.end(2, BUILD, Some(&head_files)).await;
    let sizes: Vec<u64> = s
        .indexes
        .objects()
        .values()
        .map(|b| b.len() as u64)
        .collect();
    assert!(sizes.iter().all(|&n| n > CHUNK), "{sizes:?}");
    let v = s
        .compare(&[("base", &base), ("head", &head), ("limit", "500")])
        .await
        .unwrap();
    assert_eq!(v.base.lines.total, 60_000);
    assert_eq!(v.head.lines.total, 120_000);
    assert_eq!(v.delta.lost, 1, "line 2 of {}", names[first]);
    assert_eq!(
        v.delta.newly_covered, 20_000,
        "line 1 of each file only the head has"
    );
    assert_eq!(v.delta.files_changed, 20_001);
    let lost: Vec<&str> = v
        .files
        .iter()
        .filter(|f| f.lost_count > 0)
        .map(|f| f.file.as_str())
        .collect();
    assert_eq!(lost, vec![names[first].as_str()]);
    assert_eq!(v.files.len(), 500);
    assert!(v.next.is_some());
}

#[tokio::test]
async fn a_merge_task_compares_by_its_merged_index_as_base_or_head() {
    let s = Stack::new();
    let end = s
        .end(
            1,
            BUILD,
            Some(&[("/src/tmm/route.c", vec![10, 11, 12], vec![10])]),
        )
        .await;
    // A succeeded merge whose merged index ran lines 10 and 12.
    let merge = TaskId::from_parts(1_764_000_009_000, 9);
    let mut t = task(merge.clone(), "bob");
    t.task_type = TaskType::CoverageMerge;
    t.status = Status::Succeeded;
    t.result = Some(json!({"build": BUILD, "merged": [end.clone()]}));
    s.tasks.create(&t, None).await.unwrap();
    let mut ib = IndexBuilder::new(IndexMeta {
        session: merge.to_string(),
        task: merge.to_string(),
        build: BUILD.into(),
        ..IndexMeta::default()
    });
    ib.file("/src/tmm/route.c", [10, 11, 12], [10, 12]);
    s.indexes
        .put_merged_index(
            &BuildId::parse(BUILD).unwrap(),
            &merge,
            ib.finish().unwrap(),
        )
        .await
        .unwrap();

    let v = s
        .compare(&[("base", &end), ("head", merge.as_str())])
        .await
        .unwrap();
    assert_eq!(
        (v.head.task.as_str(), v.head.session.as_str()),
        (merge.as_str(), merge.as_str())
    );
    assert_eq!(v.files[0].newly_covered, vec![12]);
    assert!(v.files[0].lost.is_empty());
    let r = s
        .compare(&[("base", merge.as_str()), ("head", &end)])
        .await
        .unwrap();
    assert_eq!(r.files[0].lost, vec![12]);

    // A merge without its merged index is no_index, naming the side.
    let bare = TaskId::from_parts(1_764_000_010_000, 10);
    let mut t = task(bare.clone(), "bob");
    t.task_type = TaskType::CoverageMerge;
    t.status = Status::Succeeded;
    t.result = Some(json!({"build": BUILD}));
    s.tasks.create(&t, None).await.unwrap();
    let e = s
        .compare(&[("base", &end), ("head", bare.as_str())])
        .await
        .unwrap_err();
    assert_eq!(refusal(e), ("no_index", "head".into(), 404));
}
