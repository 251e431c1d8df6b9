//! The port contract suites (`ccaas_app::contract`) on the AWS adapters, each against its own
//! private emulator (moto_server through `localstack/up`). The same suites run on the
//! in-memory twins in `shared/app/tests/contract.rs`, so a twin and its adapter cannot drift.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use ccaas_app::contract;
use ccaas_app::contract::queue::Delivered;
use ccaas_aws::site::S3Site;
use ccaas_aws::{
    DynamoDevices, DynamoTaskStore, KmsSealer, S3Artifacts, S3Builds, S3Logs, SqsTaskQueue,
};
use ccaas_domain::{Priority, SealedMessage, Status};
use ccaas_testkit::Emulator;
use proptest::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_task_store_keeps_the_task_store_contract() {
    let emu = Emulator::private();
    let store = DynamoTaskStore::new(emu.dynamodb(), emu.var("CCAAS_TASKS_TABLE"));
    contract::task_store::run(&store).await;
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
    let store = DynamoTaskStore::new(emu.dynamodb(), emu.var("CCAAS_TASKS_TABLE"));
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
async fn the_sqs_queue_keeps_the_queue_contract() {
    let emu = Emulator::private();
    let (normal, high) = (emu.var("CCAAS_QUEUE_URL"), emu.var("CCAAS_HIGH_QUEUE_URL"));
    let queue = SqsTaskQueue::new(emu.sqs(), normal.clone(), high.clone());
    let sqs = emu.sqs();
    let receive = || {
        let (sqs, normal, high) = (sqs.clone(), normal.clone(), high.clone());
        async move {
            let mut got: Vec<Delivered> = Vec::new();
            for (url, priority) in [(high, Priority::High), (normal, Priority::Normal)] {
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
                    .send()
                    .await
                    .expect("receive");
                for m in out.messages() {
                    let body: SealedMessage =
                        serde_json::from_str(m.body().unwrap_or("")).expect("a task message");
                    let group = m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                        .cloned()
                        .unwrap_or_default();
                    got.push((body, group, priority));
                    // Deleted at once, so the group's next message is delivered.
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(m.receipt_handle().unwrap_or(""))
                        .send()
                        .await
                        .expect("delete");
                }
            }
            got
        }
    };
    contract::queue::run(&queue, receive, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kms_sealer_keeps_the_sealer_contract() {
    let emu = Emulator::private();
    let sealer = KmsSealer::new(emu.kms(), emu.var("CCAAS_KMS_KEY"));
    contract::sealer::run(&sealer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_logs_keep_the_log_store_contract() {
    let emu = Emulator::private();
    contract::logs::run(&S3Logs::new(emu.s3(), emu.var("CCAAS_BUCKET"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_artifacts_keep_the_artifact_store_contract() {
    let emu = Emulator::private();
    contract::artifacts::run(&S3Artifacts::new(emu.s3(), emu.var("CCAAS_BUCKET"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_devices_table_keeps_the_session_store_and_host_key_pins_contracts() {
    let emu = Emulator::private();
    let devices = DynamoDevices::new(emu.dynamodb(), emu.var("CCAAS_DEVICES_TABLE"));
    contract::sessions::run(&devices).await;
    contract::pins::run(&devices).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_builds_keep_the_build_store_contract() {
    let emu = Emulator::private();
    contract::builds::run(&S3Builds::new(emu.s3(), emu.var("CCAAS_BUCKET"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_site_keeps_the_report_site_contract() {
    let emu = Emulator::private();
    contract::site::run(&S3Site::new(emu.s3(), emu.var("CCAAS_BUCKET")), 1001).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_site_stores_each_object_with_its_content_type_and_cache_control() {
    use ccaas_app::ports::ReportSite;
    let emu = Emulator::private();
    let site = S3Site::new(emu.s3(), emu.var("CCAAS_BUCKET"));
    site.put(
        "reports/x/a.css",
        b"p{}".to_vec(),
        "text/css",
        "public, max-age=300",
    )
    .await
    .unwrap();
    let o = emu
        .s3()
        .get_object()
        .bucket(emu.var("CCAAS_BUCKET"))
        .key("reports/x/a.css")
        .send()
        .await
        .unwrap();
    assert_eq!(o.content_type(), Some("text/css"));
    assert_eq!(o.cache_control(), Some("public, max-age=300"));
    assert_eq!(o.body.collect().await.unwrap().to_vec(), b"p{}");
}
