//! The indexer on the AWS adapters against a private emulator (moto: DynamoDB and S3): tasks
//! written with the real DynamoDB store, a stream batch built from their stored items in the
//! DynamoDB stream's JSON shape, then a reader (`ReplicaSearch<S3IndexFiles>`, in another
//! directory, as the submit Lambda serves search) finds them; a redelivered batch is
//! harmless; a task's new status is searchable after the next batch.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::types::AttributeValue;
use ccaas_app::contract::task_store::task;
use ccaas_app::ports::{IdempotencyRecord, IndexFiles, TaskSearch};
use ccaas_app::{LogStore, TaskStore};
use ccaas_domain::{SearchQuery, Status, TaskError, TaskId};
use ccaas_dynamo::DynamoTaskStore;
use ccaas_indexer::{Indexer, handle};
use ccaas_s3::{S3IndexFiles, S3Logs};
use ccaas_search::replica::ReplicaSearch;
use ccaas_testkit::Emulator;
use serde_json::{Value, json};

/// An item's attribute in DynamoDB JSON (`{"S": ...}`, `{"N": ...}`, ...), as a stream
/// record carries it.
fn ddb_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(ddb_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => {
            json!({ "M": m.iter().map(|(k, v)| (k.clone(), ddb_json(v))).collect::<serde_json::Map<_, _>>() })
        }
        other => panic!("an attribute the tasks table does not hold: {other:?}"),
    }
}

/// The stream record of the stored item `id` as DynamoDB would send it (`NEW_IMAGE` view).
async fn record(emu: &Emulator, table: &str, id: &str, name: &str, seq: u64) -> Value {
    let item = emu
        .dynamodb()
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the item is stored");
    let image: serde_json::Map<String, Value> =
        item.iter().map(|(k, v)| (k.clone(), ddb_json(v))).collect();
    json!({
        "eventID": format!("event-{seq}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_764_979_200.0,
            "Keys": { "id": { "S": id } },
            "NewImage": image,
            "SequenceNumber": format!("{:021}", seq),
            "SizeBytes": 512,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-12-01T00:00:00.000"),
    })
}

fn batch(records: Vec<Value>) -> Event {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn q(s: &str) -> SearchQuery {
    SearchQuery::parse([("q", s)]).unwrap()
}

/// The total of `query` once the reader shows `want`, polled until a deadline (a reader
/// checks the store at most once a second).
async fn eventually(reader: &ReplicaSearch<S3IndexFiles>, query: &str, want: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = reader.search(&q(query)).await.map(|p| p.total).unwrap_or(0);
        if got == want || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_batches_make_tasks_searchable_on_s3_and_a_redelivery_or_a_new_status_is_handled() {
    let emu = Emulator::private();
    let (table, bucket) = (emu.var("CCAAS_TASKS_TABLE"), emu.var("CCAAS_BUCKET"));
    let store = DynamoTaskStore::new(emu.dynamodb(), &table, emu.var("CCAAS_USAGE_TABLE"));
    let logs = S3Logs::new(emu.s3(), &bucket);
    let writer_dir = tempfile::tempdir().unwrap();
    let indexer = Indexer {
        files: S3IndexFiles::new(emu.s3(), &bucket),
        store: store.clone(),
        logs: logs.clone(),
        dir: writer_dir.path().join("index"),
        opensearch: None,
    };

    let t0 = 1_800_000_000_000;
    let mut a = task(TaskId::from_parts(t0, 1), "alice");
    a.name = Some("quokka nightly".into());
    let mut b = task(TaskId::from_parts(t0 + 1, 2), "bob");
    b.name = Some("wombat smoke".into());
    let idem = IdempotencyRecord {
        scope: "bob#k1".into(),
        task_id: b.id.clone(),
        fingerprint: "f".into(),
    };
    store.create(&a, None).await.unwrap();
    store.create(&b, Some(&idem)).await.unwrap();
    logs.write_log(
        &b.id,
        b"{\"command\":\"tmsh list net route 10.0.0.1\"}\n".to_vec(),
    )
    .await
    .unwrap();
    let first = batch(vec![
        record(&emu, &table, a.id.as_str(), "INSERT", 1).await,
        record(&emu, &table, "idem#bob#k1", "INSERT", 2).await,
        record(&emu, &table, b.id.as_str(), "INSERT", 3).await,
    ]);
    let out = handle(&indexer, &first, t0).await.unwrap();
    assert!(out.batch_item_failures.is_empty());

    // A reader in another directory (another container) finds both, by name, log and user.
    let reader_dir = tempfile::tempdir().unwrap();
    let reader = ReplicaSearch::new(
        S3IndexFiles::new(emu.s3(), &bucket),
        reader_dir.path().join("copy"),
    );
    assert_eq!(eventually(&reader, "quokka", 1).await, 1);
    assert_eq!(eventually(&reader, "route user:bob", 1).await, 1);
    assert_eq!(eventually(&reader, "nightly smoke", 2).await, 2);

    // The same batch again (a redelivery): still one document per task.
    handle(&indexer, &first, t0 + 1_000).await.unwrap();
    assert_eq!(reader.search(&q("user:alice")).await.unwrap().total, 1);
    assert_eq!(reader.search(&q("nightly smoke")).await.unwrap().total, 2);

    // a fails; the next batch, handled by a cold container (an empty /tmp), makes its new
    // status and error searchable.
    let mut failed = a.clone();
    failed.status = Status::Failed;
    failed.version = 1;
    failed.error = Some(TaskError {
        code: "auth_failed".into(),
        message: "the device refused the key of platypus".into(),
    });
    store
        .write_status(&failed, (Status::Pending, 0))
        .await
        .unwrap();
    let cold = tempfile::tempdir().unwrap();
    let indexer2 = Indexer {
        dir: cold.path().join("index"),
        ..indexer.clone()
    };
    let second = batch(vec![record(&emu, &table, a.id.as_str(), "MODIFY", 4).await]);
    handle(&indexer2, &second, t0 + 2_000).await.unwrap();
    assert_eq!(eventually(&reader, "platypus status:failed", 1).await, 1);
    assert_eq!(eventually(&reader, "status:pending", 1).await, 1, "b only");
    assert_eq!(
        reader.search(&q("wombat")).await.unwrap().total,
        1,
        "b kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_cannot_be_indexed_fails_so_the_stream_retries_it() {
    let emu = Emulator::private();
    let (table, bucket) = (emu.var("CCAAS_TASKS_TABLE"), emu.var("CCAAS_BUCKET"));
    let store = DynamoTaskStore::new(emu.dynamodb(), &table, emu.var("CCAAS_USAGE_TABLE"));
    let a = task(TaskId::from_parts(1_800_000_000_000, 7), "carol");
    store.create(&a, None).await.unwrap();
    let ev = batch(vec![record(&emu, &table, a.id.as_str(), "INSERT", 1).await]);
    let dir = tempfile::tempdir().unwrap();
    // A bucket that does not exist: the index files cannot be written.
    let indexer = Indexer {
        files: S3IndexFiles::new(emu.s3(), "no-such-bucket"),
        store,
        logs: S3Logs::new(emu.s3(), &bucket),
        dir: dir.path().join("index"),
        opensearch: None,
    };
    let e = handle(&indexer, &ev, 0).await.unwrap_err();
    assert!(e.to_string().contains("1 changed tasks"), "{e}");
    // A batch of no task (an idempotency record's expiry) writes nothing and succeeds.
    let none = batch(vec![json!({
        "eventID": "x", "eventName": "REMOVE", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": { "Keys": { "id": { "S": "idem#carol#k" } }, "SequenceNumber": "9",
                      "SizeBytes": 20, "StreamViewType": "NEW_IMAGE" },
    })]);
    assert!(handle(&indexer, &none, 0).await.is_ok());
}

/// A loopback stand-in for OpenSearch that keeps the bodies of the `_bulk` requests it is sent
/// (the adapter's own HTTP behaviour is tested in ccaas-opensearch; here, what the indexer
/// sends for a batch).
async fn opensearch_stand_in() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::{Method, Uri};
    let bulks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bulks.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: String| {
        let kept = kept.clone();
        async move {
            match (method.as_str(), uri.path()) {
                ("HEAD", "/tasks") => (axum::http::StatusCode::OK, String::new()),
                ("POST", "/tasks/_bulk") => {
                    kept.lock().unwrap().push(body);
                    (
                        axum::http::StatusCode::OK,
                        r#"{"errors":false,"items":[]}"#.to_string(),
                    )
                }
                _ => (axum::http::StatusCode::BAD_REQUEST, String::new()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, bulks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_opensearch_a_batch_is_one_bulk_upsert_of_its_tasks_as_stored_now_and_no_bucket_index()
{
    let emu = Emulator::private();
    let (table, bucket) = (emu.var("CCAAS_TASKS_TABLE"), emu.var("CCAAS_BUCKET"));
    let store = DynamoTaskStore::new(emu.dynamodb(), &table, emu.var("CCAAS_USAGE_TABLE"));
    let mut a = task(TaskId::from_parts(1_800_000_000_000, 11), "dave");
    a.name = Some("echidna nightly".into());
    store.create(&a, None).await.unwrap();
    let ev = batch(vec![
        record(&emu, &table, a.id.as_str(), "INSERT", 1).await,
        record(&emu, &table, a.id.as_str(), "MODIFY", 1).await,
    ]);
    let (url, bulks) = opensearch_stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer {
        files: S3IndexFiles::new(emu.s3(), &bucket),
        store,
        logs: S3Logs::new(emu.s3(), &bucket),
        dir: dir.path().join("index"),
        opensearch: Some(
            ccaas_opensearch::OpenSearchTasks::new(&url, "tasks", ccaas_opensearch::Auth::None)
                .unwrap(),
        ),
    };
    handle(&indexer, &ev, 0).await.unwrap();
    let bulks = bulks.lock().unwrap().clone();
    assert_eq!(bulks.len(), 1, "one bulk per batch");
    let lines: Vec<serde_json::Value> = bulks[0]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "the task once, though the batch changed it twice"
    );
    assert_eq!(lines[0]["index"]["_id"], a.id.as_str());
    assert_eq!(lines[1]["name"], "echidna nightly");
    assert_eq!(lines[1]["f_user"], "dave");
    // Nothing was written to the bucket's tantivy index.
    assert!(
        S3IndexFiles::new(emu.s3(), &bucket)
            .list()
            .await
            .unwrap()
            .is_empty(),
        "no index/search/ files"
    );
}
