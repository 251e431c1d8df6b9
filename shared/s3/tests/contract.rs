//! The port contract suites (`ccaas_app::contract`) on the S3 adapters, each against its own
//! private emulator (moto_server through `localstack/up`). The same suites run on the
//! in-memory twins in `shared/app/tests/contract.rs`, so a twin and its adapter cannot drift.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::contract;
use ccaas_s3::{S3Artifacts, S3Builds, S3IndexFiles, S3Logs, S3Site};
use ccaas_testkit::Emulator;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_indexes_keep_the_index_store_contract() {
    let emu = Emulator::private();
    contract::indexes::run(&ccaas_s3::S3Indexes::new(emu.s3(), emu.var("CCAAS_BUCKET"))).await;
}

#[tokio::test]
async fn s3_index_files_keep_the_index_files_contract() {
    let emu = Emulator::private();
    // More than one page of ListObjectsV2 (1,000 keys).
    contract::index_files::run(&S3IndexFiles::new(emu.s3(), emu.var("CCAAS_BUCKET")), 1001).await;
}
