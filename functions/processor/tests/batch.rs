//! R6/R7/R8: partial batch failures from the processor's own handler.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use ccaas_app::memory::{MemoryLogs, MemoryQueue, MemorySealer, MemoryStore};
use ccaas_app::{Api, Caller, RunError, TaskRunner, Worker, WorkerConfig};
use ccaas_domain::{DeviceAccess, Status, Task};
use ccaas_processor::BatchLimits;

/// Fails (retryably) the tasks on the hosts it is told to fail.
struct FailHosts(Vec<String>);

impl TaskRunner for FailHosts {
    async fn run(&self, t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
        if self.0.contains(&t.device) {
            Err(RunError {
                retryable: true,
                code: "unreachable".into(),
                message: "down".into(),
            })
        } else {
            Ok(serde_json::json!({}))
        }
    }
}

async fn batch(hosts: &[&str], store: &MemoryStore) -> SqsEvent {
    let api = Api {
        store: store.clone(),
        queue: MemoryQueue::default(),
        sealer: MemorySealer::default(),
        logs: MemoryLogs::default(),
        base_url: String::new(),
        clock: ccaas_app::Clock::default(),
        allow: Default::default(),
        admins: Default::default(),
        email: false,
    };
    let mut event = SqsEvent::default();
    for (i, host) in hosts.iter().enumerate() {
        let body = format!(
            r#"{{"type":"code-coverage-start","data":{{"device":{{"host":"{host}","username":"u","password":"p"}},"modules":["tmm"]}}}}"#
        );
        api.submit(&Caller::Anonymous, None, body.as_bytes())
            .await
            .unwrap();
        let mut m = SqsMessage::default();
        m.message_id = Some(i.to_string());
        m.body = api.queue.last_body();
        m.attributes = HashMap::from([
            ("ApproximateReceiveCount".to_string(), "1".to_string()),
            ("MessageGroupId".to_string(), host.to_string()),
        ]);
        event.records.push(m);
    }
    event
}

fn failures(handled: &ccaas_processor::Handled) -> Vec<String> {
    handled
        .response()
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn records_3_and_7_failing_are_exactly_the_batch_item_failures() {
    let store = MemoryStore::default();
    let hosts: Vec<String> = (0..10).map(|i| format!("dev{i}")).collect();
    let refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let event = batch(&refs, &store).await;
    let worker = Worker {
        store: store.clone(),
        runner: FailHosts(vec!["dev3".into(), "dev7".into()]),
        sealer: MemorySealer::default(),
        notifier: ccaas_app::NoNotifier,
        mailer: ccaas_app::NoMailer,
        config: WorkerConfig::default(),
    };
    let resp = ccaas_processor::handle_batch(&worker, event, &BatchLimits::default()).await;
    assert_eq!(failures(&resp), vec!["3", "7"]);
    let json = serde_json::to_value(resp.response()).unwrap();
    assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "3");
}

#[tokio::test]
async fn a_failure_in_a_fifo_group_fails_the_rest_of_that_group_unprocessed() {
    let store = MemoryStore::default();
    let event = batch(&["a", "b", "bad", "a", "bad", "b"], &store).await;
    let worker = Worker {
        store: store.clone(),
        runner: FailHosts(vec!["bad".into()]),
        sealer: MemorySealer::default(),
        notifier: ccaas_app::NoNotifier,
        mailer: ccaas_app::NoMailer,
        config: WorkerConfig::default(),
    };
    let resp = ccaas_processor::handle_batch(&worker, event, &BatchLimits::default()).await;
    assert_eq!(failures(&resp), vec!["2", "4"]);
    // The second "bad" message was never taken: its task is still pending.
    let pending = store
        .all()
        .into_iter()
        .filter(|t| t.status == ccaas_domain::Status::Pending)
        .count();
    assert_eq!(pending, 1);
}

/// Counts the runs per device host; every run succeeds.
#[derive(Clone, Default)]
struct CountRuns(std::sync::Arc<std::sync::Mutex<HashMap<String, usize>>>);

impl TaskRunner for CountRuns {
    async fn run(&self, t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
        *self.0.lock().unwrap().entry(t.device.clone()).or_default() += 1;
        Ok(serde_json::json!({}))
    }
}

#[tokio::test]
async fn a_poison_message_in_a_batch_is_retried_to_its_last_delivery_while_the_others_run_once() {
    let store = MemoryStore::default();
    let mut event = batch(&["p0", "p1", "p2", "p3", "p4"], &store).await;
    let poisoned = store.all().into_iter().find(|t| t.device == "p2").unwrap();
    event.records[2].body = Some(format!(
        r#"{{"task_id":"{}","sealed_device":"twin.0.00"}}"#,
        poisoned.id
    ));
    let runs = CountRuns::default();
    let worker = Worker {
        store: store.clone(),
        runner: runs.clone(),
        sealer: MemorySealer::default(),
        notifier: ccaas_app::NoNotifier,
        mailer: ccaas_app::NoMailer,
        config: WorkerConfig::default(),
    };
    let resp = ccaas_processor::handle_batch(&worker, event.clone(), &BatchLimits::default()).await;
    assert_eq!(failures(&resp), vec!["2"]);

    // SQS redelivers only the failed record, up to maxReceiveCount.
    let mut again = SqsEvent::default();
    again.records.push(event.records[2].clone());
    for n in 2..=worker.config.max_receives {
        again.records[0]
            .attributes
            .insert("ApproximateReceiveCount".into(), n.to_string());
        let resp =
            ccaas_processor::handle_batch(&worker, again.clone(), &BatchLimits::default()).await;
        assert_eq!(failures(&resp), vec!["2"], "delivery {n}");
    }
    let runs = runs.0.lock().unwrap().clone();
    assert_eq!(
        runs,
        HashMap::from(["p0", "p1", "p3", "p4"].map(|h| (h.to_string(), 1))),
        "every other task ran exactly once; the poisoned one never"
    );
    for t in store.all() {
        if t.id == poisoned.id {
            assert_eq!(t.status, ccaas_domain::Status::Failed);
            assert_eq!(t.error.unwrap().code, "bad_message");
        } else {
            assert_eq!(t.status, ccaas_domain::Status::Succeeded, "{}", t.device);
        }
    }
}

#[test]
fn the_retry_plan_delays_each_groups_head_and_frees_its_later_messages_after_it() {
    use std::time::Duration;
    let order: Vec<(String, Option<String>)> = [
        ("0", Some("a")),
        ("1", Some("b")),
        ("2", Some("a")),
        ("3", None),
        ("4", Some("a")),
        ("5", Some("c")),
    ]
    .iter()
    .map(|(id, g)| (id.to_string(), g.map(str::to_string)))
    .collect();
    let d = Duration::from_secs(30);
    let e = Duration::from_secs(8);
    let failed: Vec<(String, Duration)> = [("0", d), ("2", d), ("3", e), ("4", d), ("5", d)]
        .map(|(id, t)| (id.to_string(), t))
        .to_vec();
    let plan = ccaas_processor::retry_plan(&order, &failed);
    let z = Duration::ZERO;
    let want: Vec<(String, Duration)> = [("0", d), ("3", e), ("5", d), ("2", z), ("4", z)]
        .iter()
        .map(|(id, t)| (id.to_string(), *t))
        .collect();
    assert_eq!(
        plan, want,
        "heads first with the delay, then the rest at once"
    );
}

fn worker_with<R: TaskRunner>(
    store: &MemoryStore,
    runner: R,
) -> Worker<MemoryStore, R, MemorySealer> {
    Worker {
        store: store.clone(),
        runner,
        sealer: MemorySealer::default(),
        notifier: ccaas_app::NoNotifier,
        mailer: ccaas_app::NoMailer,
        config: WorkerConfig::default(),
    }
}

/// The task id message `i` of `event` carries.
fn task_of(event: &SqsEvent, i: usize) -> String {
    let body = event.records[i].body.clone().unwrap();
    let m: ccaas_domain::SealedMessage = serde_json::from_str(&body).unwrap();
    m.task_id.as_str().to_string()
}

/// The statuses of the tasks of messages `at` of `event`, in that order.
fn statuses(store: &MemoryStore, event: &SqsEvent, at: &[usize]) -> Vec<Status> {
    let all = store.all();
    at.iter()
        .map(|&i| {
            let id = task_of(event, i);
            all.iter().find(|t| t.id.as_str() == id).unwrap().status
        })
        .collect()
}

/// The device `silent` answers only once both other devices have finished: handled one
/// device after another, with `silent` first, the batch would never end.
struct SilentUntilOthersDone(tokio::sync::watch::Sender<usize>);

impl TaskRunner for SilentUntilOthersDone {
    async fn run(&self, t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
        if t.device == "silent" {
            let mut rx = self.0.subscribe();
            rx.wait_for(|done| *done >= 2).await.unwrap();
        } else {
            self.0.send_modify(|done| *done += 1);
        }
        Ok(serde_json::json!({}))
    }
}

#[tokio::test]
async fn a_device_that_never_answers_costs_the_other_devices_nothing() {
    let store = MemoryStore::default();
    let event = batch(&["silent", "fast1", "fast2"], &store).await;
    let (tx, _) = tokio::sync::watch::channel(0);
    let worker = worker_with(&store, SilentUntilOthersDone(tx));
    let all = [0, 1, 2];
    // A guard against a hang, not a budget: sequential handling never finishes at all.
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        ccaas_processor::handle_batch(&worker, event.clone(), &BatchLimits::default()),
    )
    .await
    .expect("the silent device held up the others");
    assert!(failures(&resp).is_empty());
    assert_eq!(statuses(&store, &event, &all), [Status::Succeeded; 3]);
}

/// Counts the runs in flight and keeps the highest count, and the order tasks started in;
/// each run takes a second.
#[derive(Clone, Default)]
struct InFlight(
    std::sync::Arc<std::sync::Mutex<(usize, usize)>>,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
);

impl TaskRunner for InFlight {
    async fn run(&self, t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
        self.1.lock().unwrap().push(t.id.as_str().to_string());
        {
            let mut g = self.0.lock().unwrap();
            g.0 += 1;
            g.1 = g.1.max(g.0);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        self.0.lock().unwrap().0 -= 1;
        Ok(serde_json::json!({}))
    }
}

#[tokio::test(start_paused = true)]
async fn at_most_the_configured_number_of_devices_run_at_once_and_one_devices_tasks_in_order() {
    let store = MemoryStore::default();
    let event = batch(&["a", "b", "c", "a", "d", "e", "a"], &store).await;
    // Device a's tasks in the order they were submitted (the batch's order).
    let submitted: Vec<String> = [0, 3, 6].iter().map(|&i| task_of(&event, i)).collect();
    let runner = InFlight::default();
    let worker = worker_with(&store, runner.clone());
    let limits = BatchLimits {
        concurrency: 2,
        ..BatchLimits::default()
    };
    let resp = ccaas_processor::handle_batch(&worker, event, &limits).await;
    assert!(failures(&resp).is_empty());
    assert_eq!(
        runner.0.lock().unwrap().1,
        2,
        "two devices at once, never more"
    );
    assert!(store.all().iter().all(|t| t.status == Status::Succeeded));
    let started = runner.1.lock().unwrap().clone();
    let a_started: Vec<String> = started
        .into_iter()
        .filter(|id| submitted.contains(id))
        .collect();
    assert_eq!(
        a_started, submitted,
        "device a's tasks ran in submission order"
    );
}

/// Runs that take 1000 s on device `slow` while `slow_mode` is on; every run succeeds.
#[derive(Clone, Default)]
struct SlowDevice {
    slow_mode: std::sync::Arc<std::sync::atomic::AtomicBool>,
    runs: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TaskRunner for SlowDevice {
    async fn run(&self, t: &Task, _d: &DeviceAccess) -> Result<serde_json::Value, RunError> {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if t.device == "slow" && self.slow_mode.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_secs(1000)).await;
        }
        Ok(serde_json::json!({}))
    }
}

#[tokio::test(start_paused = true)]
async fn a_message_running_at_the_deadline_is_cut_and_its_redelivery_takes_the_task_over_at_once() {
    use std::time::Duration;
    let store = MemoryStore::default();
    let event = batch(&["slow", "quick", "slow"], &store).await;
    let runner = SlowDevice::default();
    runner
        .slow_mode
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let worker = worker_with(&store, runner.clone());
    let limits = BatchLimits {
        concurrency: 4,
        deadline: Some(tokio::time::Instant::now() + Duration::from_secs(100)),
        start_reserve: Duration::from_secs(10),
    };
    let first = event.records[0].clone();
    let resp = ccaas_processor::handle_batch(&worker, event.clone(), &limits).await;
    assert_eq!(
        failures(&resp),
        ["0", "2"],
        "the cut message and the one behind it on that device"
    );
    assert_eq!(
        statuses(&store, &event, &[0, 1, 2]),
        [Status::Running, Status::Succeeded, Status::Pending]
    );

    // SQS hands the cut message out again after the retry delay; its task's lease (900 s)
    // has not run out, but it is this message's own, so the redelivery goes on at once.
    runner
        .slow_mode
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let mut again = SqsEvent::default();
    again.records.push(first);
    again.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), "2".into());
    let resp = ccaas_processor::handle_batch(&worker, again, &BatchLimits::default()).await;
    assert!(failures(&resp).is_empty());
    assert_eq!(
        statuses(&store, &event, &[0, 2]),
        [Status::Succeeded, Status::Pending]
    );
}

#[tokio::test(start_paused = true)]
async fn no_message_starts_with_less_than_the_reserve_left_before_the_deadline() {
    use std::time::Duration;
    let store = MemoryStore::default();
    let event = batch(&["a", "b"], &store).await;
    let runner = SlowDevice::default();
    let worker = worker_with(&store, runner.clone());
    let limits = BatchLimits {
        concurrency: 4,
        deadline: Some(tokio::time::Instant::now() + Duration::from_secs(5)),
        start_reserve: Duration::from_secs(10),
    };
    let resp = ccaas_processor::handle_batch(&worker, event, &limits).await;
    assert_eq!(failures(&resp), ["0", "1"]);
    assert_eq!(runner.runs.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(store.all().iter().all(|t| t.status == Status::Pending));
}

#[test]
fn the_lambda_deadline_leaves_the_settle_margin() {
    use std::time::Duration;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let now = tokio::time::Instant::now();
        let d = ccaas_processor::batch_deadline(1_000_060_000, 1_000_000_000);
        assert_eq!(
            d - now,
            Duration::from_secs(60) - ccaas_processor::SETTLE_MARGIN
        );
        let past = ccaas_processor::batch_deadline(1_000, 2_000);
        assert_eq!(past, now);
    });
}

#[tokio::test]
async fn each_failed_message_comes_back_after_its_own_backoff_and_its_groups_unprocessed_ones_at_once()
 {
    let store = MemoryStore::default();
    let mut event = batch(&["bad", "bad", "ok"], &store).await;
    event.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), "3".into());
    let worker = Worker {
        store: store.clone(),
        runner: FailHosts(vec!["bad".into()]),
        sealer: MemorySealer::default(),
        notifier: ccaas_app::NoNotifier,
        mailer: ccaas_app::NoMailer,
        config: WorkerConfig::default(),
    };
    let handled = ccaas_processor::handle_batch(&worker, event, &BatchLimits::default()).await;
    let third = worker.config.retry.delay * 4;
    assert_eq!(
        handled.retries,
        [
            ("0".to_string(), third),
            ("1".to_string(), std::time::Duration::ZERO)
        ],
        "the third delivery backs off twice the doubled first delay"
    );
}
