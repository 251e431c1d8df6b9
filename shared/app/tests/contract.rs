//! The port contract suites (`ccaas_app::contract`) on the in-memory twins. The same suites
//! run on the AWS adapters against the emulator in `shared/aws/tests/contract.rs`.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ccaas_app::contract;
use ccaas_app::memory::{
    MemoryArtifacts, MemoryBuilds, MemoryIndexFiles, MemoryLogs, MemoryMailer, MemoryPins,
    MemoryQueue, MemorySealer, MemorySearch, MemorySessions, MemorySite, MemoryStore,
};

#[tokio::test]
async fn the_mailer_twin_keeps_the_mailer_contract() {
    let mailer = MemoryMailer::default();
    contract::mailer::run(&mailer, "alice@example.com").await;
    assert_eq!(mailer.calls().len(), 2, "both tries are recorded");
}

#[tokio::test]
async fn the_task_store_twin_keeps_the_task_store_contract() {
    contract::task_store::run(&MemoryStore::default()).await;
}

#[tokio::test]
async fn the_task_store_twin_keeps_the_usage_store_contract() {
    contract::usage::run(&MemoryStore::default()).await;
}

#[tokio::test]
async fn the_queue_twin_keeps_the_queue_contract() {
    let queue = MemoryQueue::default();
    let taken = std::sync::Mutex::new(0usize);
    let receive = || {
        let delivered = queue.delivered();
        let mut n = taken.lock().unwrap();
        let fresh = delivered[*n..].to_vec();
        *n = delivered.len();
        async move { fresh }
    };
    contract::queue::run(&queue, receive, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_sealer_twin_keeps_the_sealer_contract() {
    contract::sealer::run(&MemorySealer::default()).await;
}

#[tokio::test]
async fn the_log_twin_keeps_the_log_store_contract() {
    contract::logs::run(&MemoryLogs::default()).await;
}

#[tokio::test]
async fn the_artifact_twin_keeps_the_artifact_store_contract() {
    contract::artifacts::run(&MemoryArtifacts::default()).await;
}

#[tokio::test]
async fn the_sessions_twin_keeps_the_session_store_contract() {
    contract::sessions::run(&MemorySessions::default()).await;
}

#[tokio::test]
async fn the_pins_twin_keeps_the_host_key_pins_contract() {
    contract::pins::run(&MemoryPins::default()).await;
    // The sessions twin holds the pins too, as the devices table does.
    contract::pins::run(&MemorySessions::default()).await;
}

#[tokio::test]
async fn the_builds_twin_keeps_the_build_store_contract() {
    contract::builds::run(&MemoryBuilds::default()).await;
}

#[tokio::test]
async fn the_site_twin_keeps_the_report_site_contract() {
    contract::site::run(&MemorySite::default(), 1001).await;
}

#[tokio::test]
async fn the_indexes_twin_keeps_the_index_store_contract() {
    contract::indexes::run(&ccaas_app::memory::MemoryIndexes::default()).await;
}

#[tokio::test]
async fn the_search_twin_keeps_the_task_search_contract() {
    contract::search::run(&MemorySearch::default()).await;
}

#[tokio::test]
async fn the_index_files_twin_keeps_the_index_files_contract() {
    contract::index_files::run(&MemoryIndexFiles::default(), 5).await;
}
