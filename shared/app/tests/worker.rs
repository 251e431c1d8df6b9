//! The worker's task life against the in-memory store: leases, duplicates, retries.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ccaas_app::memory::{
    MemoryLogs, MemoryMailer, MemoryNotifier, MemoryQueue, MemorySealer, MemoryStore,
};
use ccaas_app::ports::NotImplementedRunner;
use ccaas_app::worker::RetryReason;
use ccaas_app::{
    Api, Caller, Clock, Disposition, RetryPolicy, RunError, TaskRunner, TaskStore, Worker,
    WorkerConfig,
};
use ccaas_domain::{Channel, DeviceAccess, Notified, Priority, Status, Task, TaskId};
use std::time::Duration;

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

/// A runner that records the task as the store holds it while the runner runs.
struct LeaseProbe {
    store: MemoryStore,
    seen: Arc<std::sync::Mutex<Option<Task>>>,
}

impl TaskRunner for LeaseProbe {
    async fn run(&self, t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
        let stored = self.store.get(&t.id).await.expect("the store answers");
        *self.seen.lock().unwrap() = stored;
        Ok(serde_json::json!({}))
    }
}

/// Handles `msg` once with a [`LeaseProbe`] and returns the stored task it saw mid-run, with
/// the Unix seconds just before and after the delivery.
async fn run_probed(store: &MemoryStore, msg: &str, receive_count: u32) -> (Task, u64, u64) {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let w = worker(
        store,
        LeaseProbe {
            store: store.clone(),
            seen: seen.clone(),
        },
    );
    let before = ccaas_app::now_ms() / 1000;
    assert!(matches!(
        w.handle("m-1", msg, receive_count).await,
        Disposition::Ack
    ));
    let after = ccaas_app::now_ms() / 1000;
    let t = seen.lock().unwrap().clone().expect("the runner ran");
    (t, before, after)
}

fn retryable() -> RunError {
    RunError {
        retryable: true,
        code: "unreachable".into(),
        message: "no route".into(),
    }
}

/// The API over `store`, with a queue of its own.
fn api(store: &MemoryStore) -> Api<MemoryStore, MemoryQueue, MemoryLogs, MemorySealer> {
    Api {
        store: store.clone(),
        queue: MemoryQueue::default(),
        sealer: MemorySealer::default(),
        logs: MemoryLogs::default(),
        base_url: String::new(),
        clock: ccaas_app::Clock::default(),
        allow: Default::default(),
        admins: Default::default(),
        email: false,
    }
}

async fn one_task(store: &MemoryStore) -> String {
    let api = api(store);
    let body = r#"{"type":"code-coverage-start","data":{"device":{"host":"h1","username":"u","password":"p"},"modules":["tmm"]}}"#;
    api.submit(&Caller::Anonymous, None, body.as_bytes())
        .await
        .expect("ok");
    api.queue.body(0).unwrap()
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

/// Takes the only task through running to `status` (with `result`), as a worker that has
/// finished it would have written it.
async fn finish(store: &MemoryStore, status: Status, result: Option<serde_json::Value>) {
    hold_lease(store, ccaas_app::now_ms() / 1000 + 600).await;
    let running = store.all()[0].clone();
    let mut done = running.advance(status, ccaas_app::now_ms());
    done.lease_until = None;
    done.result = result;
    store
        .write_status(&done, (Status::Running, running.version))
        .await
        .unwrap();
}

fn worker<R: TaskRunner>(store: &MemoryStore, runner: R) -> Worker<MemoryStore, R, MemorySealer> {
    Worker {
        store: store.clone(),
        runner,
        sealer: MemorySealer::default(),
        notifier: ccaas_app::NoNotifier,
        mailer: ccaas_app::NoMailer,
        config: WorkerConfig {
            lease_secs: 600,
            max_receives: 5,
            ..WorkerConfig::default()
        },
    }
}

#[tokio::test]
async fn until_the_device_work_lands_a_task_fails_as_not_implemented() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let d = worker(&store, NotImplementedRunner)
        .handle("m-1", &msg, 1)
        .await;
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
        assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
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
    assert!(matches!(
        w.handle("m-1", &msg, 2).await,
        Disposition::Retry(_)
    ));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no device work under another's lease"
    );
}

#[tokio::test]
async fn taking_a_task_stores_it_running_under_a_lease_of_the_configured_length_and_finishing_drops_it()
 {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let (mid, before, after) = run_probed(&store, &msg, 1).await;
    assert_eq!(mid.status, Status::Running);
    let until = mid.lease_until.expect("a running task holds a lease");
    assert!(
        (before + 600..=after + 600).contains(&until),
        "lease until {until}, delivery between {before} and {after}, lease_secs 600"
    );
    let done = &store.all()[0];
    assert_eq!(done.status, Status::Succeeded);
    assert_eq!(done.lease_until, None);
}

#[tokio::test]
async fn a_takeover_of_an_expired_lease_writes_a_fresh_one() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let stale = ccaas_app::now_ms() / 1000 - 1;
    hold_lease(&store, stale).await;
    let (mid, before, _) = run_probed(&store, &msg, 2).await;
    assert_eq!(mid.status, Status::Running);
    assert!(mid.lease_until.expect("a lease") >= before + 600);
    assert_eq!(store.all()[0].status, Status::Succeeded);
}

#[tokio::test]
async fn a_crashed_workers_lease_is_taken_over_only_once_the_clock_passes_it() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let clock = ccaas_app::Clock::manual(1_800_000_000_000);
    // A crashed worker's lease, running to the second the clock reads + 600.
    hold_lease(&store, clock.now_ms() / 1000 + 600).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut w = worker(
        &store,
        Scripted {
            calls: calls.clone(),
            outcome: Ok(serde_json::json!({})),
        },
    );
    w.config.clock = clock.clone();
    assert!(matches!(
        w.handle("m-1", &msg, 2).await,
        Disposition::Retry(_)
    ));
    clock.advance(599_000);
    assert!(matches!(
        w.handle("m-1", &msg, 3).await,
        Disposition::Retry(_)
    ));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no work under a live lease"
    );
    clock.advance(2_000);
    assert!(matches!(w.handle("m-1", &msg, 4).await, Disposition::Ack));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let done = &store.all()[0];
    assert_eq!(done.status, Status::Succeeded);
    assert_eq!(done.updated, ccaas_domain::rfc3339(clock.now_ms()));
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
    assert!(matches!(w.handle("m-1", &msg, 2).await, Disposition::Ack));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(store.all()[0].status, Status::Succeeded);
}

/// A runner that takes the store down while it runs, so the terminal write after it fails.
struct StoreDownAfterRun {
    store: MemoryStore,
    calls: Arc<AtomicUsize>,
}

impl TaskRunner for StoreDownAfterRun {
    async fn run(&self, _t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            self.store.set_down(true);
        }
        Ok(serde_json::json!({}))
    }
}

#[tokio::test]
async fn a_redelivery_of_the_message_whose_terminal_write_failed_takes_the_task_over_at_once() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let w = worker(
        &store,
        StoreDownAfterRun {
            store: store.clone(),
            calls: calls.clone(),
        },
    );
    assert!(matches!(
        w.handle("m-1", &msg, 1).await,
        Disposition::Retry(RetryReason::Store(_))
    ));
    store.set_down(false);
    let held = store.all()[0].clone();
    assert_eq!(held.status, Status::Running);
    assert!(held.lease_until.unwrap() > ccaas_app::now_ms() / 1000 + 500);
    assert_eq!(held.lease_holder.as_deref(), Some("m-1"));

    // Another message of the task still waits for the lease ...
    assert!(matches!(
        w.handle("m-2", &msg, 1).await,
        Disposition::Retry(RetryReason::LeaseHeld(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // ... but the redelivery of the message that holds it cannot overlap its first delivery
    // (the queue hands it out again only after that one ended), so it goes on at once
    // instead of leaving the task running until the lease expires.
    assert!(matches!(w.handle("m-1", &msg, 2).await, Disposition::Ack));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let done = &store.all()[0];
    assert_eq!(done.status, Status::Succeeded);
    assert_eq!(
        (done.lease_until, done.lease_holder.as_deref()),
        (None, None)
    );
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
        assert!(matches!(
            w.handle("m-1", &msg, n).await,
            Disposition::Retry(_)
        ));
        let t = &store.all()[0];
        assert_eq!(t.status, Status::Running);
        assert!(
            t.lease_until.unwrap() <= ccaas_app::now_ms() / 1000,
            "lease released"
        );
    }
    assert!(
        matches!(w.handle("m-1", &msg, 5).await, Disposition::Retry(_)),
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
            matches!(w.handle("m-1", body, 1).await, Disposition::Retry(_)),
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
    assert!(matches!(
        w.handle("m-1", &poison, 4).await,
        Disposition::Retry(_)
    ));
    assert_eq!(store.all()[0].status, Status::Pending);
    assert!(matches!(
        w.handle("m-1", &poison, 5).await,
        Disposition::Retry(_)
    ));
    assert_eq!(store.all()[0].status, Status::Failed);
    assert_eq!(store.all()[0].error.as_ref().unwrap().code, "bad_message");
    drop(msg);
}

#[tokio::test]
async fn an_unsealed_message_never_reaches_the_device_and_fails_its_task_as_a_bad_message() {
    let store = MemoryStore::default();
    let sealed = one_task(&store).await;
    let id = store.all()[0].id.to_string();
    assert!(sealed.contains("sealed_device"), "{sealed}");
    // The plain body a submit sent before sealing: the device access in clear.
    let unsealed = serde_json::to_string(&ccaas_domain::TaskMessage {
        task_id: TaskId::parse(&id).unwrap(),
        device: DeviceAccess {
            host: ccaas_domain::DeviceHost::parse("h1").unwrap(),
            port: 22,
            username: "u".into(),
            credential: ccaas_domain::Credential::Password(ccaas_domain::Secret::new("p")),
            host_key_sha256: None,
        },
    })
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let w = worker(&store, succeeding(&calls));
    assert!(matches!(
        w.handle("m-1", &unsealed, 1).await,
        Disposition::Retry(RetryReason::Poison(_))
    ));
    assert_eq!(store.all()[0].status, Status::Pending);
    assert!(matches!(
        w.handle("m-1", &unsealed, 5).await,
        Disposition::Retry(RetryReason::Poison(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no device work");
    let t = &store.all()[0];
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.as_ref().unwrap().code, "bad_message");
}

#[tokio::test]
async fn a_seal_moved_into_another_tasks_message_never_reaches_the_device_and_fails_that_task() {
    let store = MemoryStore::default();
    let first: serde_json::Value = serde_json::from_str(&one_task(&store).await).unwrap();
    let api = api(&store);
    let body = r#"{"type":"code-coverage-start","data":{"device":{"host":"h2","username":"u","password":"p2"},"modules":["tmm"]}}"#;
    let second = api
        .submit(&Caller::Anonymous, None, body.as_bytes())
        .await
        .unwrap()
        .view
        .id;
    // The second task's message carrying the first task's sealed device access.
    let forged =
        serde_json::json!({"task_id": second, "sealed_device": first["sealed_device"]}).to_string();
    let calls = Arc::new(AtomicUsize::new(0));
    let w = worker(&store, succeeding(&calls));
    assert!(matches!(
        w.handle("m-1", &forged, 1).await,
        Disposition::Retry(_)
    ));
    assert!(matches!(
        w.handle("m-1", &forged, 5).await,
        Disposition::Retry(_)
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let t = store
        .get(&TaskId::parse(&second).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.unwrap().code, "bad_message");
}

/// One submitted task and a worker whose sealer fails its next call; the runner counts runs.
async fn one_task_with_the_key_service_down_once() -> (
    MemoryStore,
    Worker<MemoryStore, Scripted, MemorySealer>,
    String,
    Arc<AtomicUsize>,
) {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let w = worker(&store, succeeding(&calls));
    w.sealer.fail_next(1);
    (store, w, msg, calls)
}

#[tokio::test]
async fn with_the_key_service_down_a_delivery_is_retried_without_taking_the_lease() {
    let (store, w, msg, calls) = one_task_with_the_key_service_down_once().await;
    assert!(matches!(
        w.handle("m-1", &msg, 1).await,
        Disposition::Retry(RetryReason::Sealer(_))
    ));
    assert_eq!(store.all()[0].status, Status::Pending);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(matches!(w.handle("m-1", &msg, 2).await, Disposition::Ack));
    assert_eq!(store.all()[0].status, Status::Succeeded);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_key_service_outage_on_the_last_delivery_fails_the_task_instead_of_leaving_it_pending() {
    let (store, w, msg, calls) = one_task_with_the_key_service_down_once().await;
    assert!(matches!(
        w.handle("m-1", &msg, 5).await,
        Disposition::Retry(RetryReason::Sealer(_))
    ));
    let t = store.all()[0].clone();
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.unwrap().code, "key_unavailable");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// Submits one task with a webhook and returns its message body.
async fn one_task_with_webhook(store: &MemoryStore) -> String {
    let api = api(store);
    let body = r#"{"type":"code-coverage-end","notify":{"webhook":"https://hooks.example/T/secret"},"data":{"device":{"host":"h1","port":2222,"username":"u","password":"canary-pw"},"modules":["tmm"]}}"#;
    api.submit(&Caller::Anonymous, None, body.as_bytes())
        .await
        .expect("ok");
    api.queue.body(0).unwrap()
}

fn notifying<R: TaskRunner>(
    store: &MemoryStore,
    runner: R,
    notifier: &MemoryNotifier,
) -> Worker<MemoryStore, R, MemorySealer, MemoryNotifier> {
    Worker {
        store: store.clone(),
        runner,
        sealer: MemorySealer::default(),
        notifier: notifier.clone(),
        mailer: ccaas_app::NoMailer,
        config: WorkerConfig {
            lease_secs: 600,
            max_receives: 5,
            ..WorkerConfig::default()
        },
    }
}

fn succeeding(calls: &Arc<AtomicUsize>) -> Scripted {
    Scripted {
        calls: calls.clone(),
        outcome: Ok(serde_json::json!({
            "link": "http://site/reports/x/index.html",
            "summary": {"lines": {"covered": 3, "total": 4, "percent": 75.0}},
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_deliveries_of_a_task_with_a_webhook_notify_it_exactly_once() {
    let store = MemoryStore::default();
    let msg = one_task_with_webhook(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let notifier = MemoryNotifier::default();
    let w = Arc::new(notifying(&store, succeeding(&calls), &notifier));
    let mut handles = Vec::new();
    for i in 0..100 {
        let (w, msg) = (w.clone(), msg.clone());
        // Distinct messages of one task (a re-sent submit), not redeliveries of one message.
        handles.push(tokio::spawn(async move {
            w.handle(&format!("dup-{i}"), &msg, 1).await
        }));
    }
    for h in handles {
        h.await.expect("no panic");
    }
    // Whatever order they ran in, later duplicates find the task finished and notified.
    for _ in 0..10 {
        assert!(matches!(w.handle("m-1", &msg, 2).await, Disposition::Ack));
    }
    let t = &store.all()[0];
    assert_eq!(t.status, Status::Succeeded);
    let sent = notifier.calls();
    assert_eq!(sent.len(), 1, "exactly one notification");
    assert_eq!(sent[0].delivery_id, t.id.to_string());
    assert_eq!(sent[0].url, "https://hooks.example/T/secret");
    let text = sent[0].body["text"].as_str().unwrap();
    assert!(text.contains("succeeded: lines 75.0% (3/4)"), "{text}");
    assert_eq!(sent[0].body["device"], "h1:2222");
    assert!(!sent[0].body.to_string().contains("canary-pw"));
    assert_eq!(store.notified(&t.id), Some(Notified::Sent));
}

/// The task as `GET /v1/tasks/{id}` shows it.
async fn view(store: &MemoryStore, id: &str) -> serde_json::Value {
    serde_json::to_value(api(store).get(id).await.expect("task")).unwrap()
}

#[tokio::test]
async fn the_task_view_shows_its_webhook_pending_then_sent_and_never_the_url() {
    let store = MemoryStore::default();
    let msg = one_task_with_webhook(&store).await;
    let id = store.all()[0].id.to_string();
    let before = view(&store, &id).await;
    assert_eq!(before["notify"], serde_json::json!({"webhook": "pending"}));
    let calls = Arc::new(AtomicUsize::new(0));
    let notifier = MemoryNotifier::default();
    let w = notifying(&store, succeeding(&calls), &notifier);
    assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
    let after = view(&store, &id).await;
    assert_eq!(after["status"], "succeeded");
    assert_eq!(after["notify"], serde_json::json!({"webhook": "sent"}));
    assert!(!after.to_string().contains("hooks.example"), "{after}");
}

#[tokio::test]
async fn a_task_without_a_webhook_has_no_notify_in_its_view() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let id = store.all()[0].id.to_string();
    let calls = Arc::new(AtomicUsize::new(0));
    let w = notifying(&store, succeeding(&calls), &MemoryNotifier::default());
    assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
    let v = view(&store, &id).await;
    assert_eq!(v["status"], "succeeded");
    assert!(v.get("notify").is_none(), "{v}");
}

#[tokio::test]
async fn a_failing_webhook_leaves_the_task_succeeded_and_the_message_acked() {
    let store = MemoryStore::default();
    let msg = one_task_with_webhook(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let notifier = MemoryNotifier::default();
    notifier.fail(true);
    let w = notifying(&store, succeeding(&calls), &notifier);
    assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
    let t = &store.all()[0];
    assert_eq!(t.status, Status::Succeeded);
    assert_eq!(t.version, 2, "the webhook writes no status");
    assert_eq!(store.notified(&t.id), Some(Notified::GaveUp));
    let v = view(&store, &t.id.to_string()).await;
    assert_eq!(v["notify"], serde_json::json!({"webhook": "gave_up"}));
    // A given-up notification is not re-sent by a duplicate delivery.
    notifier.fail(false);
    assert!(matches!(w.handle("m-1", &msg, 2).await, Disposition::Ack));
    assert_eq!(notifier.calls().len(), 1);
}

#[tokio::test]
async fn a_duplicate_delivery_sends_the_notification_a_crashed_delivery_left_unsent() {
    let store = MemoryStore::default();
    let msg = one_task_with_webhook(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    // The task finished and a delivery claimed its notification, then crashed before the
    // POST: the claim (10..20 s after the epoch) has long expired.
    let id = store.all()[0].id.clone();
    let result = serde_json::json!({"session": id.to_string()});
    finish(&store, Status::Succeeded, Some(result)).await;
    assert!(
        store
            .claim_notification(&id, Channel::Webhook, 10, 20)
            .await
            .unwrap(),
        "the crashed claim"
    );

    let notifier = MemoryNotifier::default();
    let w = notifying(&store, succeeding(&calls), &notifier);
    for n in 2..6 {
        assert!(matches!(w.handle("m-1", &msg, n).await, Disposition::Ack));
    }
    assert_eq!(
        notifier.calls().len(),
        1,
        "sent once by the first duplicate"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no device work for a finished task"
    );
}

#[tokio::test]
async fn a_duplicate_acks_without_sending_while_another_delivery_holds_the_claim() {
    let store = MemoryStore::default();
    let msg = one_task_with_webhook(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    // The task is finished and a live sender holds its claim.
    finish(&store, Status::Failed, None).await;
    let t = store.all()[0].clone();
    let now = ccaas_app::now_ms() / 1000;
    assert!(
        store
            .claim_notification(&t.id, Channel::Webhook, now, now + 600)
            .await
            .unwrap()
    );

    let notifier = MemoryNotifier::default();
    let w = notifying(&store, succeeding(&calls), &notifier);
    assert!(matches!(w.handle("m-1", &msg, 2).await, Disposition::Ack));
    assert!(
        notifier.calls().is_empty(),
        "the claim holder sends, not the duplicate"
    );
    assert_eq!(store.notified(&t.id), None);
}

#[tokio::test]
async fn the_last_failed_delivery_notifies_the_error() {
    let store = MemoryStore::default();
    let msg = one_task_with_webhook(&store).await;
    let notifier = MemoryNotifier::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let w = notifying(
        &store,
        Scripted {
            calls: calls.clone(),
            outcome: Err(retryable()),
        },
        &notifier,
    );
    for n in 1..5 {
        assert!(matches!(
            w.handle("m-1", &msg, n).await,
            Disposition::Retry(_)
        ));
        assert!(
            notifier.calls().is_empty(),
            "no notification before the end"
        );
    }
    assert!(matches!(
        w.handle("m-1", &msg, 5).await,
        Disposition::Retry(_)
    ));
    let sent = notifier.calls();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["status"], "failed");
    assert_eq!(sent[0].body["error"]["code"], "unreachable");
    assert!(
        sent[0].body["text"]
            .as_str()
            .unwrap()
            .ends_with("failed: unreachable: no route")
    );
}

#[tokio::test]
async fn a_poison_message_notifies_the_task_it_fails() {
    let store = MemoryStore::default();
    one_task_with_webhook(&store).await;
    let id = store.all()[0].id.to_string();
    let poison = format!(r#"{{"task_id":"{id}","device":42}}"#);
    let notifier = MemoryNotifier::default();
    let w = notifying(&store, NotImplementedRunner, &notifier);
    for n in 1..5 {
        w.handle("m-1", &poison, n).await;
    }
    assert!(notifier.calls().is_empty());
    assert!(matches!(
        w.handle("m-1", &poison, 5).await,
        Disposition::Retry(_)
    ));
    let sent = notifier.calls();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["error"]["code"], "bad_message");
}

#[tokio::test]
async fn a_task_without_a_webhook_sends_nothing() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let notifier = MemoryNotifier::default();
    let w = notifying(&store, NotImplementedRunner, &notifier);
    assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
    assert!(notifier.calls().is_empty());
    assert_eq!(store.notified(&store.all()[0].id), None);
}

/// Submits one end task with a webhook and two email recipients (on an API with a mail
/// sender) and returns its message body.
async fn one_task_with_email(store: &MemoryStore, webhook: bool) -> String {
    let api = Api {
        email: true,
        ..api(store)
    };
    let hook = if webhook {
        r#""webhook":"https://hooks.example/T/secret","#
    } else {
        ""
    };
    let body = format!(
        r#"{{"type":"code-coverage-end","name":"nightly","notify":{{{hook}"email":["alice@example.com","qa@lab.example"]}},"data":{{"device":{{"host":"h1","port":2222,"username":"u","password":"canary-pw"}},"modules":["tmm"]}}}}"#
    );
    api.submit(&Caller::Anonymous, None, body.as_bytes())
        .await
        .expect("ok");
    api.queue.body(0).unwrap()
}

fn mailing<R: TaskRunner>(
    store: &MemoryStore,
    runner: R,
    notifier: &MemoryNotifier,
    mailer: &MemoryMailer,
) -> Worker<MemoryStore, R, MemorySealer, MemoryNotifier, MemoryMailer> {
    Worker {
        store: store.clone(),
        runner,
        sealer: MemorySealer::default(),
        notifier: notifier.clone(),
        mailer: mailer.clone(),
        config: WorkerConfig {
            lease_secs: 600,
            max_receives: 5,
            ..WorkerConfig::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_deliveries_of_a_task_with_email_send_one_mail_and_one_post() {
    let store = MemoryStore::default();
    let msg = one_task_with_email(&store, true).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let (notifier, mailer) = (MemoryNotifier::default(), MemoryMailer::default());
    let w = Arc::new(mailing(&store, succeeding(&calls), &notifier, &mailer));
    let mut handles = Vec::new();
    for i in 0..100 {
        let (w, msg) = (w.clone(), msg.clone());
        handles.push(tokio::spawn(async move {
            w.handle(&format!("dup-{i}"), &msg, 1).await
        }));
    }
    for h in handles {
        h.await.expect("no panic");
    }
    for _ in 0..10 {
        assert!(matches!(w.handle("m-1", &msg, 2).await, Disposition::Ack));
    }
    let t = &store.all()[0];
    assert_eq!(t.status, Status::Succeeded);
    assert_eq!(notifier.calls().len(), 1, "exactly one POST");
    let mails = mailer.calls();
    assert_eq!(mails.len(), 1, "exactly one mail");
    let m = &mails[0];
    assert_eq!(m.to, ["alice@example.com", "qa@lab.example"]);
    assert_eq!(m.subject, "[ccaas] nightly: succeeded (75.0% lines)");
    assert_eq!(m.delivery_id, t.id.to_string());
    for part in [&m.text, &m.html] {
        assert!(part.contains("http://site/reports/x/index.html"), "{part}");
        assert!(part.contains("75.0% (3/4)"), "{part}");
        assert!(part.contains("h1:2222"), "{part}");
        assert!(!part.contains("canary-pw"), "no password in a mail");
        assert!(!part.contains("hooks.example"), "no webhook URL in a mail");
    }
    let v = view(&store, &t.id.to_string()).await;
    assert_eq!(
        v["notify"],
        serde_json::json!({"webhook": "sent", "email": "sent"})
    );
    assert!(!v.to_string().contains("alice@example.com"), "{v}");
}

#[tokio::test]
async fn an_email_only_task_shows_its_mail_pending_then_sent() {
    let store = MemoryStore::default();
    let msg = one_task_with_email(&store, false).await;
    let id = store.all()[0].id.to_string();
    assert_eq!(
        view(&store, &id).await["notify"],
        serde_json::json!({"email": "pending"})
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let (notifier, mailer) = (MemoryNotifier::default(), MemoryMailer::default());
    let w = mailing(&store, succeeding(&calls), &notifier, &mailer);
    assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
    assert_eq!(
        view(&store, &id).await["notify"],
        serde_json::json!({"email": "sent"})
    );
    assert!(notifier.calls().is_empty(), "no webhook was asked for");
    assert_eq!(mailer.calls().len(), 1);
}

#[tokio::test]
async fn the_failure_mail_of_the_last_delivery_carries_the_error_code_and_message() {
    let store = MemoryStore::default();
    let msg = one_task_with_email(&store, false).await;
    let (notifier, mailer) = (MemoryNotifier::default(), MemoryMailer::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let w = mailing(
        &store,
        Scripted {
            calls: calls.clone(),
            outcome: Err(retryable()),
        },
        &notifier,
        &mailer,
    );
    for n in 1..5 {
        w.handle("m-1", &msg, n).await;
        assert!(mailer.calls().is_empty(), "no mail before the end");
    }
    w.handle("m-1", &msg, 5).await;
    let mails = mailer.calls();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "[ccaas] nightly: failed: unreachable");
    assert!(mails[0].text.contains("unreachable"), "{}", mails[0].text);
    assert!(mails[0].text.contains("no route"), "{}", mails[0].text);
    assert!(mails[0].html.contains("no route"), "{}", mails[0].html);
    assert_eq!(store.all()[0].notified_email, Some(Notified::Sent));
}

#[tokio::test]
async fn a_failing_mailer_leaves_the_task_succeeded_the_message_acked_and_the_webhook_sent() {
    let store = MemoryStore::default();
    let msg = one_task_with_email(&store, true).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let (notifier, mailer) = (MemoryNotifier::default(), MemoryMailer::default());
    mailer.fail(true);
    let w = mailing(&store, succeeding(&calls), &notifier, &mailer);
    assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
    let t = &store.all()[0];
    assert_eq!(t.status, Status::Succeeded);
    assert_eq!(t.version, 2, "a mail writes no status");
    assert_eq!(
        (t.notified, t.notified_email),
        (Some(Notified::Sent), Some(Notified::GaveUp))
    );
    let v = view(&store, &t.id.to_string()).await;
    assert_eq!(
        v["notify"],
        serde_json::json!({"webhook": "sent", "email": "gave_up"})
    );
    // A given-up mail is not re-sent by a duplicate delivery, nor is the webhook.
    mailer.fail(false);
    assert!(matches!(w.handle("m-1", &msg, 2).await, Disposition::Ack));
    assert_eq!((mailer.calls().len(), notifier.calls().len()), (1, 1));
}

#[tokio::test]
async fn a_held_email_claim_keeps_a_duplicate_from_mailing_but_not_from_posting() {
    let store = MemoryStore::default();
    let msg = one_task_with_email(&store, true).await;
    let calls = Arc::new(AtomicUsize::new(0));
    finish(&store, Status::Failed, None).await;
    let t = store.all()[0].clone();
    let now = ccaas_app::now_ms() / 1000;
    assert!(
        store
            .claim_notification(&t.id, Channel::Email, now, now + 600)
            .await
            .unwrap(),
        "a live sender holds the mail"
    );
    let (notifier, mailer) = (MemoryNotifier::default(), MemoryMailer::default());
    let w = mailing(&store, succeeding(&calls), &notifier, &mailer);
    assert!(matches!(w.handle("m-1", &msg, 2).await, Disposition::Ack));
    assert!(mailer.calls().is_empty(), "the claim holder mails");
    assert_eq!(notifier.calls().len(), 1, "the webhook is its own channel");
    let t = &store.all()[0];
    assert_eq!((t.notified, t.notified_email), (Some(Notified::Sent), None));
}

#[tokio::test]
async fn a_duplicate_mails_what_a_crashed_delivery_left_unsent_once() {
    let store = MemoryStore::default();
    let msg = one_task_with_email(&store, false).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let id = store.all()[0].id.clone();
    finish(&store, Status::Succeeded, None).await;
    assert!(
        store
            .claim_notification(&id, Channel::Email, 10, 20)
            .await
            .unwrap(),
        "the crashed claim"
    );
    let (notifier, mailer) = (MemoryNotifier::default(), MemoryMailer::default());
    let w = mailing(&store, succeeding(&calls), &notifier, &mailer);
    for n in 2..12 {
        assert!(matches!(w.handle("m-1", &msg, n).await, Disposition::Ack));
    }
    assert_eq!(mailer.calls().len(), 1, "sent once by the first duplicate");
    assert_eq!(mailer.calls()[0].subject, "[ccaas] nightly: succeeded");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_task_with_email_on_a_process_without_a_mailer_records_gave_up() {
    let store = MemoryStore::default();
    let msg = one_task_with_email(&store, false).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let w = notifying(&store, succeeding(&calls), &MemoryNotifier::default());
    assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
    assert_eq!(store.all()[0].notified_email, Some(Notified::GaveUp));
}

#[tokio::test]
async fn a_message_for_a_device_the_allow_list_no_longer_holds_fails_unrun() {
    // Queued while every device was allowed (`h1`, a name); the operator then set a list.
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut w = worker(&store, succeeding(&calls));
    w.config.allow = ccaas_domain::DeviceAllow::parse("10.0.0.0/8:22").unwrap();
    let d = w.handle("m-1", &msg, 1).await;
    assert!(matches!(d, Disposition::Ack), "{d:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the device was contacted");
    let t = &store.all()[0];
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.as_ref().unwrap().code, "device_not_allowed");
    assert_eq!(t.version, 1, "pending→failed, no lease taken");
}

#[tokio::test]
async fn a_message_for_an_allowed_device_runs() {
    let store = MemoryStore::default();
    let api = api(&store);
    let body = r#"{"type":"code-coverage-start","data":{"device":{"host":"10.2.3.4","username":"u","password":"p"},"modules":["tmm"]}}"#;
    api.submit(&Caller::Anonymous, None, body.as_bytes())
        .await
        .expect("ok");
    let msg = api.queue.body(0).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut w = worker(&store, succeeding(&calls));
    w.config.allow = ccaas_domain::DeviceAllow::parse("10.0.0.0/8:22").unwrap();
    let d = w.handle("m-1", &msg, 1).await;
    assert!(matches!(d, Disposition::Ack), "{d:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(store.all()[0].status, Status::Succeeded);
}

#[tokio::test]
async fn a_cancelled_tasks_message_is_acked_and_the_task_never_runs() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let id = store.all()[0].id.to_string();
    api(&store)
        .cancel(&Caller::Anonymous, &id)
        .await
        .expect("cancelled");
    let runs = Arc::new(AtomicUsize::new(0));
    let d = worker(&store, succeeding(&runs))
        .handle("m-1", &msg, 1)
        .await;
    assert!(matches!(d, Disposition::Ack), "{d:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the runner never ran");
    let t = store.all()[0].clone();
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.unwrap().code, "cancelled");
}

/// A worker on a driven clock with a retry window of `window_secs`, and a backstop receive
/// count so high that only the window can end the retries.
fn windowed<R: TaskRunner>(
    store: &MemoryStore,
    runner: R,
    clock: &Clock,
    window_secs: u64,
) -> Worker<MemoryStore, R, MemorySealer> {
    let mut w = worker(store, runner);
    w.config.clock = clock.clone();
    w.config.max_receives = 1_000;
    w.config.retry = RetryPolicy {
        window: Duration::from_secs(window_secs),
        delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(300),
    };
    w
}

const T0: u64 = 1_800_000_000_000;

#[tokio::test]
async fn a_transient_device_failure_is_retried_until_the_window_has_passed_then_fails_the_task() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let clock = Clock::manual(T0);
    let calls = Arc::new(AtomicUsize::new(0));
    let runner = Scripted {
        calls: calls.clone(),
        outcome: Err(retryable()),
    };
    let w = windowed(&store, runner, &clock, 60);
    // Many deliveries inside the window: each is retried, whatever the count.
    for n in 1..=30 {
        let d = w.handle("m-1", &msg, n).await;
        assert!(
            matches!(d, Disposition::Retry(RetryReason::Run(_))),
            "{n}: {d:?}"
        );
        let t = store.all()[0].clone();
        assert_eq!(t.status, Status::Running, "{n}");
        assert_eq!(
            t.retry_since,
            Some(T0),
            "the window counts from the first failure"
        );
        clock.advance(59_999 / 30);
    }
    clock.advance(59_999 - 30 * (59_999 / 30));
    let d = w.handle("m-1", &msg, 31).await;
    assert!(
        matches!(d, Disposition::Retry(_)),
        "one millisecond inside: {d:?}"
    );
    clock.advance(1);
    let d = w.handle("m-1", &msg, 32).await;
    assert!(matches!(d, Disposition::Ack), "the window is over: {d:?}");
    let t = store.all()[0].clone();
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.unwrap().code, "unreachable");
    assert_eq!(calls.load(Ordering::SeqCst), 32);
}

#[tokio::test]
async fn a_zero_window_makes_the_first_transient_failure_final() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let runner = Scripted {
        calls: calls.clone(),
        outcome: Err(retryable()),
    };
    let w = windowed(&store, runner, &Clock::manual(T0), 0);
    assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
    assert_eq!(store.all()[0].status, Status::Failed);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_key_service_outage_inside_the_window_never_fails_the_task_however_many_deliveries_it_takes()
 {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let clock = Clock::manual(T0);
    let calls = Arc::new(AtomicUsize::new(0));
    let w = windowed(&store, succeeding(&calls), &clock, 900);
    w.sealer.fail_next(50);
    for n in 1..=50 {
        let d = w.handle("m-1", &msg, n).await;
        assert!(
            matches!(d, Disposition::Retry(RetryReason::Sealer(_))),
            "{n}: {d:?}"
        );
        clock.advance(10_000);
    }
    let t = store.all()[0].clone();
    assert_eq!(t.status, Status::Pending);
    assert_eq!(t.retry_since, Some(T0));
    assert_eq!(t.version, 1, "the first failure is recorded once");
    assert!(matches!(w.handle("m-1", &msg, 51).await, Disposition::Ack));
    assert_eq!(store.all()[0].status, Status::Succeeded);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_key_service_outage_past_the_window_fails_the_task_key_unavailable_naming_the_window() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let clock = Clock::manual(T0);
    let calls = Arc::new(AtomicUsize::new(0));
    let w = windowed(&store, succeeding(&calls), &clock, 60);
    w.sealer.fail_next(2);
    assert!(matches!(
        w.handle("m-1", &msg, 1).await,
        Disposition::Retry(_)
    ));
    assert_eq!(store.all()[0].status, Status::Pending);
    clock.advance(60_000);
    assert!(matches!(
        w.handle("m-1", &msg, 2).await,
        Disposition::Retry(_)
    ));
    let t = store.all()[0].clone();
    assert_eq!(t.status, Status::Failed);
    let e = t.error.unwrap();
    assert_eq!(e.code, "key_unavailable");
    assert!(e.message.contains("60 s"), "{}", e.message);
    assert!(matches!(w.handle("m-1", &msg, 3).await, Disposition::Ack));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn retries_back_off_per_delivery_a_held_lease_is_waited_out_and_a_poison_comes_back_soon() {
    let store = MemoryStore::default();
    let clock = Clock::manual(T0);
    let w = windowed(&store, NotImplementedRunner, &clock, 900);
    let run = RetryReason::Run(retryable());
    let secs = |d: Duration| d.as_secs();
    assert_eq!(secs(w.retry_after(&run, 1)), 2);
    assert_eq!(secs(w.retry_after(&run, 4)), 16);
    assert_eq!(secs(w.retry_after(&run, 20)), 300);
    let now_s = T0 / 1000;
    assert_eq!(
        secs(w.retry_after(&RetryReason::LeaseHeld(now_s + 120), 1)),
        120
    );
    assert_eq!(
        secs(w.retry_after(&RetryReason::LeaseHeld(now_s + 100_000), 1)),
        600,
        "never longer than a lease"
    );
    assert_eq!(secs(w.retry_after(&RetryReason::LeaseHeld(now_s), 1)), 2);
    assert_eq!(secs(w.retry_after(&RetryReason::Poison("x".into()), 9)), 2);
}

/// Two tasks for device `h1` split across the queues, as submits that race the device index
/// leave them: a normal one, then (a second later) a high one the index did not see the first
/// for. Returns (normal id, normal body, high id, high body).
async fn split_across_queues(
    store: &MemoryStore,
    clock: &Clock,
) -> (TaskId, String, TaskId, String) {
    let api_on = |store: &MemoryStore| Api {
        clock: clock.clone(),
        ..api(store)
    };
    let first = api_on(store);
    let body = |priority: &str| {
        format!(
            r#"{{"type":"code-coverage-start","priority":"{priority}","data":{{"device":{{"host":"h1","username":"u","password":"p"}},"modules":["tmm"]}}}}"#
        )
    };
    let a = first
        .submit(&Caller::Anonymous, None, body("normal").as_bytes())
        .await
        .expect("ok");
    clock.advance(1_000);
    let lagging = MemoryStore::default();
    let second = api_on(&lagging);
    let b = second
        .submit(&Caller::Anonymous, None, body("high").as_bytes())
        .await
        .expect("ok");
    let high = lagging.all()[0].clone();
    assert_eq!(high.queue(), Priority::High);
    store.create(&high, None).await.expect("stored");
    (
        TaskId::parse(&a.view.id).unwrap(),
        first.queue.body(0).unwrap(),
        TaskId::parse(&b.view.id).unwrap(),
        second.queue.body(0).unwrap(),
    )
}

#[tokio::test]
async fn a_task_waits_for_its_devices_earlier_task_on_the_other_queue_and_runs_after_it() {
    let store = MemoryStore::default();
    let clock = Clock::manual(T0);
    let (normal, normal_msg, high, high_msg) = split_across_queues(&store, &clock).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let w = windowed(&store, succeeding(&calls), &clock, 900);
    let d = w.handle("m-high", &high_msg, 1).await;
    match d {
        Disposition::Retry(RetryReason::Waiting(first)) => assert_eq!(first, normal),
        other => panic!("the high task ran first: {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let waiting = store.get(&high).await.unwrap().unwrap();
    assert_eq!((waiting.status, waiting.version), (Status::Pending, 0));
    assert!(matches!(
        w.handle("m-normal", &normal_msg, 1).await,
        Disposition::Ack
    ));
    assert!(matches!(
        w.handle("m-high", &high_msg, 2).await,
        Disposition::Ack
    ));
    let done = store.get(&high).await.unwrap().unwrap();
    assert_eq!(done.status, Status::Succeeded);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn on_its_last_delivery_a_waiting_task_runs_anyway() {
    let store = MemoryStore::default();
    let clock = Clock::manual(T0);
    let (_, _, high, high_msg) = split_across_queues(&store, &clock).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let w = windowed(&store, succeeding(&calls), &clock, 900);
    let last = w.config.max_receives;
    assert!(matches!(
        w.handle("m-high", &high_msg, last).await,
        Disposition::Ack
    ));
    assert_eq!(
        store.get(&high).await.unwrap().unwrap().status,
        Status::Succeeded
    );
}

/// The EMF objects a worker's metrics sink received, in order.
type Recorded = Arc<std::sync::Mutex<Vec<serde_json::Value>>>;

/// A worker whose metrics go into the returned list, one EMF object per line.
fn metered<R: TaskRunner>(
    store: &MemoryStore,
    runner: R,
) -> (Worker<MemoryStore, R, MemorySealer>, Recorded) {
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = lines.clone();
    let mut w = worker(store, runner);
    w.config.metrics = ccaas_app::Metrics::to(move |l| {
        seen.lock().unwrap().push(serde_json::from_str(&l).unwrap());
    });
    (w, lines)
}

/// The metric names of each recorded EMF object, in order.
fn metric_names(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|v| {
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["Name"].as_str().unwrap())
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect()
}

#[tokio::test]
async fn a_finished_end_task_reports_its_queue_wait_its_outcome_and_its_report_lines() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let result = serde_json::json!({"summary": {"lines": {"covered": 7, "total": 40}}});
    let calls = Arc::new(AtomicUsize::new(0));
    let runner = Scripted {
        calls,
        outcome: Ok(result),
    };
    let (w, lines) = metered(&store, runner);
    assert!(matches!(w.handle("m-1", &msg, 1).await, Disposition::Ack));
    let lines = lines.lock().unwrap().clone();
    assert_eq!(
        metric_names(&lines),
        ["QueueWaitMs", "TasksFinished+TaskDurationMs", "ReportLines"]
    );
    assert_eq!(
        (lines[1]["Status"].as_str(), lines[1]["Type"].as_str()),
        (Some("succeeded"), Some("code-coverage-start"))
    );
    assert_eq!(lines[2]["ReportLines"], 40);
    // A duplicate delivery of the finished task records nothing more.
    let (w, again) = metered(&store, w.runner);
    assert!(matches!(w.handle("m-2", &msg, 1).await, Disposition::Ack));
    assert!(again.lock().unwrap().is_empty());
}

#[tokio::test]
async fn each_failed_device_run_is_a_device_error_with_its_code_and_a_final_one_a_failed_task() {
    let store = MemoryStore::default();
    let msg = one_task(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let runner = Scripted {
        calls,
        outcome: Err(retryable()),
    };
    let (w, lines) = metered(&store, runner);
    assert!(matches!(
        w.handle("m-1", &msg, 1).await,
        Disposition::Retry(_)
    ));
    // The last delivery (max_receives 5): the failure is final.
    let _ = w.handle("m-1", &msg, 5).await;
    let lines = lines.lock().unwrap();
    assert_eq!(
        metric_names(&lines),
        [
            "QueueWaitMs",
            "DeviceErrors",
            "DeviceErrors",
            "TasksFinished+TaskDurationMs"
        ]
    );
    assert_eq!(lines[1]["Code"], "unreachable");
    assert_eq!(lines[3]["Status"], "failed");
    assert_eq!(store.all()[0].status, Status::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicated_replayed_and_redelivered_messages_count_each_task_once_in_the_usage_history() {
    use ccaas_app::usage;
    use ccaas_domain::usage::UsageQuery;
    let store = MemoryStore::default();
    let api = api(&store);
    let body = r#"{"type":"code-coverage-start","user":"alice","data":{"device":{"host":"h1","username":"u","password":"p"},"modules":["tmm"]}}"#;
    // One task submitted three times under one Idempotency-Key: one request.
    for _ in 0..3 {
        api.submit(&Caller::Anonymous, Some("k1"), body.as_bytes())
            .await
            .expect("accepted");
    }
    let first = api.queue.body(0).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let w = Arc::new(worker(&store, succeeding(&calls)));
    let mut handles = Vec::new();
    for i in 0..10 {
        let (w, msg) = (w.clone(), first.clone());
        handles.push(tokio::spawn(async move {
            w.handle(&format!("dup-{i}"), &msg, 1).await
        }));
    }
    for h in handles {
        h.await.expect("no panic");
    }
    assert!(matches!(
        w.handle("dup-0", &first, 2).await,
        Disposition::Ack
    ));

    // A second task whose first delivery crashes after the run (its terminal write fails),
    // then is redelivered.
    api.submit(&Caller::Anonymous, None, body.as_bytes())
        .await
        .expect("accepted");
    let second = api.queue.last_body().unwrap();
    let crashing = worker(
        &store,
        StoreDownAfterRun {
            store: store.clone(),
            calls: Arc::new(AtomicUsize::new(0)),
        },
    );
    let d = crashing.handle("m-2", &second, 1).await;
    assert!(matches!(d, Disposition::Retry(_)), "{d:?}");
    store.set_down(false);
    assert!(matches!(
        crashing.handle("m-2", &second, 2).await,
        Disposition::Ack
    ));
    assert!(store.all().iter().all(|t| t.status == Status::Succeeded));
    assert_eq!(store.len(), 2);

    let q = UsageQuery::parse([], ccaas_app::now_ms()).unwrap();
    let view = usage::usage(&store, &q).await.unwrap();
    let alice: Vec<_> = view.buckets.iter().filter(|b| b.group == "alice").collect();
    let total = |f: fn(&&usage::Bucket) -> u64| alice.iter().map(f).sum::<u64>();
    assert_eq!(total(|b| b.requested), 2, "{view:?}");
    assert_eq!(total(|b| b.succeeded), 2, "{view:?}");
    assert_eq!(total(|b| b.failed + b.cancelled), 0, "{view:?}");
    assert!(alice.iter().all(|b| b.duration_ms.is_some()));
    let q = UsageQuery::parse([("by", "status")], ccaas_app::now_ms()).unwrap();
    let view = usage::usage(&store, &q).await.unwrap();
    let count = |g: &str| {
        view.buckets
            .iter()
            .filter(|b| b.group == g)
            .map(|b| b.requested)
            .sum::<u64>()
    };
    assert_eq!((count("open"), count("succeeded")), (0, 2), "{view:?}");
}

/// A runner whose device-less work answers `merged`, counting calls of each kind.
#[derive(Clone, Default)]
struct Merger {
    device_runs: Arc<AtomicUsize>,
    merges: Arc<AtomicUsize>,
}

impl TaskRunner for Merger {
    async fn run(&self, _t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
        self.device_runs.fetch_add(1, Ordering::SeqCst);
        Ok(serde_json::json!({}))
    }

    async fn run_without_device(&self, t: &Task) -> Result<serde_json::Value, RunError> {
        self.merges.fetch_add(1, Ordering::SeqCst);
        Ok(serde_json::json!({"merged": t.merge}))
    }
}

/// A merge task (no device) stored pending, and its message: nothing sealed.
async fn merge_task(store: &MemoryStore) -> (TaskId, String) {
    let mut t = ccaas_app::contract::task_store::task(
        ccaas_app::ids::new_task_id(ccaas_app::now_ms()),
        "alice",
    );
    t.task_type = ccaas_domain::TaskType::CoverageMerge;
    t.device = String::new();
    t.port = 0;
    t.modules = Vec::new();
    t.merge = vec![TaskId::from_parts(1, 1), TaskId::from_parts(1, 2)];
    store.create(&t, None).await.unwrap();
    let body = serde_json::json!({"task_id": t.id, "sealed_device": ""}).to_string();
    (t.id, body)
}

#[tokio::test]
async fn a_merge_runs_without_a_device_and_its_empty_seal_is_never_opened() {
    let store = MemoryStore::default();
    let (id, body) = merge_task(&store).await;
    let runner = Merger::default();
    let w = worker(&store, runner.clone());
    assert!(matches!(w.handle("m-1", &body, 1).await, Disposition::Ack));
    let t = store.get(&id).await.unwrap().unwrap();
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    assert_eq!(t.result.unwrap()["merged"].as_array().unwrap().len(), 2);
    assert_eq!(runner.merges.load(Ordering::SeqCst), 1);
    assert_eq!(runner.device_runs.load(Ordering::SeqCst), 0);

    // A device task's message with an empty seal is unreadable: never run without a device.
    let start = one_task(&store).await;
    let mut forged: serde_json::Value = serde_json::from_str(&start).unwrap();
    forged["sealed_device"] = "".into();
    let d = w.handle("m-2", &forged.to_string(), 1).await;
    assert!(
        matches!(d, Disposition::Retry(RetryReason::Poison(_))),
        "{d:?}"
    );
    assert_eq!(runner.merges.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_runner_without_device_work_fails_a_merge_not_implemented() {
    let store = MemoryStore::default();
    let (id, body) = merge_task(&store).await;
    let w = worker(&store, NotImplementedRunner);
    assert!(matches!(w.handle("m-1", &body, 1).await, Disposition::Ack));
    let t = store.get(&id).await.unwrap().unwrap();
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.unwrap().code, "not_implemented");
}
