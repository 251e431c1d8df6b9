//! R6/R7/R8: partial batch failures from the processor's own handler.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use ccaas_app::memory::{MemoryLogs, MemoryQueue, MemorySealer, MemoryStore};
use ccaas_app::{Api, Caller, RunError, TaskRunner, Worker, WorkerConfig};
use ccaas_domain::{DeviceAccess, Task};

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

fn failures(resp: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    resp.batch_item_failures
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
        config: WorkerConfig::default(),
    };
    let resp = ccaas_processor::handle_batch(&worker, event).await;
    assert_eq!(failures(&resp), vec!["3", "7"]);
    let json = serde_json::to_value(&resp).unwrap();
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
        config: WorkerConfig::default(),
    };
    let resp = ccaas_processor::handle_batch(&worker, event).await;
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
        config: WorkerConfig::default(),
    };
    let resp = ccaas_processor::handle_batch(&worker, event.clone()).await;
    assert_eq!(failures(&resp), vec!["2"]);

    // SQS redelivers only the failed record, up to maxReceiveCount (5).
    let mut again = SqsEvent::default();
    again.records.push(event.records[2].clone());
    for n in 2..=5 {
        again.records[0]
            .attributes
            .insert("ApproximateReceiveCount".into(), n.to_string());
        let resp = ccaas_processor::handle_batch(&worker, again.clone()).await;
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
    let failed: Vec<String> = ["0", "2", "3", "4", "5"].map(String::from).to_vec();
    let d = Duration::from_secs(30);
    let plan = ccaas_processor::retry_plan(&order, &failed, d);
    let z = Duration::ZERO;
    let want: Vec<(String, Duration)> = [("0", d), ("3", d), ("5", d), ("2", z), ("4", z)]
        .iter()
        .map(|(id, t)| (id.to_string(), *t))
        .collect();
    assert_eq!(
        plan, want,
        "heads first with the delay, then the rest at once"
    );
}
