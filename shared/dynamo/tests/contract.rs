//! The port contract suites (`ccaas_app::contract`) on the DynamoDB adapters, each against its own
//! private emulator (moto_server through `localstack/up`). The same suites run on the
//! in-memory twins in `shared/app/tests/contract.rs`, so a twin and its adapter cannot drift.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::contract;
use ccaas_domain::Status;
use ccaas_dynamo::{DynamoDevices, DynamoTaskStore};
use ccaas_testkit::Emulator;
use proptest::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_task_store_keeps_the_task_store_contract() {
    let emu = Emulator::private();
    let store = DynamoTaskStore::new(
        emu.dynamodb(),
        emu.var("CCAAS_TASKS_TABLE"),
        emu.var("CCAAS_USAGE_TABLE"),
    );
    contract::task_store::run(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_task_store_keeps_the_usage_store_contract() {
    let emu = Emulator::private();
    let store = DynamoTaskStore::new(
        emu.dynamodb(),
        emu.var("CCAAS_TASKS_TABLE"),
        emu.var("CCAAS_USAGE_TABLE"),
    );
    contract::usage::run(&store).await;
}

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

#[test]
fn concurrent_writers_on_dynamodb_only_make_allowed_transitions() {
    // moto handling one request at a time: each conditional write is atomic, as DynamoDB's.
    let emu = Emulator::private_serial();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let store = DynamoTaskStore::new(
        emu.dynamodb(),
        emu.var("CCAAS_TASKS_TABLE"),
        emu.var("CCAAS_USAGE_TABLE"),
    );
    let plans = prop::collection::vec(prop::collection::vec(status(), 1..6), 2..6);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    });
    runner
        .run(&plans, |plans| {
            rt.block_on(contract::task_store::concurrent_writers(
                store.clone(),
                plans,
            ));
            Ok(())
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_devices_table_keeps_the_session_store_and_host_key_pins_contracts() {
    let emu = Emulator::private();
    let devices = DynamoDevices::new(emu.dynamodb(), emu.var("CCAAS_DEVICES_TABLE"));
    contract::sessions::run(&devices).await;
    contract::pins::run(&devices).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_pin_keeps_the_devices_open_session_and_closing_the_session_keeps_the_pin() {
    use ccaas_app::ports::HostKeyPins;
    use ccaas_app::{DeviceSession, SessionStore, device_key};
    let emu = Emulator::private();
    let devices = DynamoDevices::new(emu.dynamodb(), emu.var("CCAAS_DEVICES_TABLE"));
    let key = device_key("127.0.0.9", 2222);
    let session = DeviceSession {
        id: ccaas_domain::TaskId::from_parts(1_764_417_300_000, 7),
        modules: vec!["tmm".into()],
        facts: serde_json::json!({}),
        opened: "2026-11-29T11:15:00.000Z".into(),
        opened_ms: Some(1_764_414_900_000),
        owner: Some("alice".into()),
        took_over: None,
    };
    devices.open(&key, &session).await.unwrap();
    devices.pin("127.0.0.9", 2222, "SHA256:a").await.unwrap();
    assert!(devices.unpin("127.0.0.9", 2222).await.unwrap());
    assert_eq!(devices.current(&key).await.unwrap(), Some(session.clone()));
    devices.pin("127.0.0.9", 2222, "SHA256:b").await.unwrap();
    assert!(devices.close(&key, &session.id).await.unwrap());
    assert_eq!(
        devices.pinned("127.0.0.9", 2222).await.unwrap().as_deref(),
        Some("SHA256:b")
    );
}
