//! R5: the state machine under concurrent writers, on the task store twin (the same property
//! runs on the DynamoDB adapter in `shared/aws/tests/contract.rs`). Each writer reads the task
//! and tries a transition with a conditional write; whatever the interleaving, only allowed
//! transitions land, each successful write bumps the version by one, and terminal states stay
//! terminal.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::contract::task_store::concurrent_writers;
use ccaas_app::memory::MemoryStore;
use ccaas_domain::Status;
use proptest::prelude::*;

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn concurrent_writers_only_make_allowed_transitions(
        plans in prop::collection::vec(prop::collection::vec(status(), 1..8), 2..8)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
        rt.block_on(concurrent_writers(MemoryStore::default(), plans));
    }
}
