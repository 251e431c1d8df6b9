//! The port contract suites (`ccaas_app::contract`) on the SQS queue and the KMS sealer, each against its own
//! private emulator (moto_server through `localstack/up`). The same suites run on the
//! in-memory twins in `shared/app/tests/contract.rs`, so a twin and its adapter cannot drift.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use ccaas_app::contract;
use ccaas_app::contract::queue::Delivered;
use ccaas_domain::{Priority, SealedMessage};
use ccaas_queue::{KmsSealer, SqsTaskQueue};
use ccaas_testkit::Emulator;

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
