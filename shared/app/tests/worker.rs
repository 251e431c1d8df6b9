//! The worker's task life against the in-memory store: leases, duplicates, retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ccaas_app::memory::{MemoryLogs, MemoryQueue, MemoryStore};
use ccaas_app::ports::NotImplementedRunner;
use ccaas_app::{Api, Caller, Disposition, RunError, TaskRunner, TaskStore, Worker, WorkerConfig};
use ccaas_domain::{DeviceAccess, Status, Task};

/// A runner that counts calls and answers with a fixed outcome.
#[derive(Clone)]
struct Scripted {
    calls: Arc<AtomicUsize>,
    outcome: Result<serde_json::Value, RunError>,
}

impl TaskRunner for Scripted {
    async fn run(&self, _t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.outcome.clone()
    }
}

fn retryable() -> RunError {
    RunError {
        retryable: true,
        code: "unreachable".into(),
        message: "no route".into(),
    }
}

async fn one_task(store: &MemoryStore) -> String {
    let api = Api {
        store: store.clone(),
        queue: MemoryQueue::default(),
        logs: MemoryLogs::default(),
        base_url: String::new(),
    };
    let body = r#"{"type":"code-coverage-start","data":{"device":{"host":"h1","username":"u","password":"p"},"modules":["tmm"]}}"#;
    api.submit(&Caller::Anonymous, None, body.as_bytes())
        .await
        .expect("ok");
    serde_json::to_string(&api.queue.sent()[0].0).unwrap()
}

/// Moves the only task to running with a lease until `until` (Unix seconds).
async fn hold_lease(store: &MemoryStore, until: u64) {
    let t = store.all()[0].clone();
    let mut next = t.advance(Status::Running, ccaas_app::now_ms());
    next.lease_until = Some(until);
    store
        .write_status(&next, (t.status, t.version))
        .await
        .unwrap();
}

fn worker<R: TaskRunner>(store: &MemoryStore, runner: R) -> Worker<MemoryStore, R> {
    Worker {
        store: store.clone(),
        runner,
        config: WorkerConfig {
            lease_secs: 600,
            max_receives: 5,
        },
    }
}

#[tokio::test]
async fn until_the_device_work_lands_a_task_fails_as_not_implemented() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let d = worker(&store, NotImplementedRunner).handle(&msg, 1).await;
    assert!(matches!(d, Disposition::Ack), "{d:?}");
    let t = &store.all()[0];
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.as_ref().unwrap().code, "not_implemented");
    assert_eq!(t.version, 2, "pending→running→failed is two writes");
}

#[tokio::test]
async fn a_duplicate_delivery_of_a_finished_task_does_no_work() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let w = worker(
        &store,
        Scripted {
            calls: calls.clone(),
            outcome: Ok(serde_json::json!({"ok": true})),
        },
    );
    for _ in 0..10 {
        assert!(matches!(w.handle(&msg, 1).await, Disposition::Ack));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(store.status_writes(), 2);
    assert_eq!(store.all()[0].status, Status::Succeeded);
}

#[tokio::test]
async fn a_delivery_while_the_lease_is_held_is_retried_without_running() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    // Take the lease as a crashed worker would have left it.
    hold_lease(&store, ccaas_app::now_ms() / 1000 + 600).await;

    let calls = Arc::new(AtomicUsize::new(0));
    let w = worker(
        &store,
        Scripted {
            calls: calls.clone(),
            outcome: Ok(serde_json::json!({})),
        },
    );
    assert!(matches!(w.handle(&msg, 2).await, Disposition::Retry(_)));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no device work under another's lease"
    );
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    hold_lease(&store, ccaas_app::now_ms() / 1000 - 1).await;

    let calls = Arc::new(AtomicUsize::new(0));
    let w = worker(
        &store,
        Scripted {
            calls: calls.clone(),
            outcome: Ok(serde_json::json!({})),
        },
    );
    assert!(matches!(w.handle(&msg, 2).await, Disposition::Ack));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(store.all()[0].status, Status::Succeeded);
}

#[tokio::test]
async fn a_retryable_failure_releases_the_lease_and_the_last_delivery_fails_the_task() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let w = worker(
        &store,
        Scripted {
            calls: calls.clone(),
            outcome: Err(retryable()),
        },
    );
    for n in 1..5 {
        assert!(matches!(w.handle(&msg, n).await, Disposition::Retry(_)));
        let t = &store.all()[0];
        assert_eq!(t.status, Status::Running);
        assert!(
            t.lease_until.unwrap() <= ccaas_app::now_ms() / 1000,
            "lease released"
        );
    }
    assert!(
        matches!(w.handle(&msg, 5).await, Disposition::Retry(_)),
        "the DLQ still gets it"
    );
    let t = &store.all()[0];
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.as_ref().unwrap().code, "unreachable");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn an_unreadable_message_is_retried_and_never_panics() {
    let store = MemoryStore::default();
    let w = worker(&store, NotImplementedRunner);
    for body in [
        "",
        "{",
        "null",
        "[]",
        r#"{"task_id":"x"}"#,
        r#"{"task_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}"#,
        "\u{0}",
    ] {
        assert!(
            matches!(w.handle(body, 1).await, Disposition::Retry(_)),
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn a_poison_message_marks_its_task_failed_on_the_last_delivery() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let id = store.all()[0].id.to_string();
    let poison = format!(r#"{{"task_id":"{id}","device":42}}"#);
    let w = worker(&store, NotImplementedRunner);
    assert!(matches!(w.handle(&poison, 4).await, Disposition::Retry(_)));
    assert_eq!(store.all()[0].status, Status::Pending);
    assert!(matches!(w.handle(&poison, 5).await, Disposition::Retry(_)));
    assert_eq!(store.all()[0].status, Status::Failed);
    assert_eq!(store.all()[0].error.as_ref().unwrap().code, "bad_message");
    drop(msg);
}
