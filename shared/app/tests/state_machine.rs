//! R5: the state machine under concurrent writers. Each writer reads the task and tries a
//! transition with a conditional write; whatever the interleaving, only allowed transitions
//! land, each successful write bumps the version by one, and terminal states stay terminal.

use ccaas_app::memory::{MemoryLogs, MemoryQueue, MemorySealer, MemoryStore};
use ccaas_app::{Api, Caller, TaskStore};
use ccaas_domain::Status;
use proptest::prelude::*;

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Pending),
        Just(Status::Running),
        Just(Status::Succeeded),
        Just(Status::Failed)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn concurrent_writers_only_make_allowed_transitions(
        plans in prop::collection::vec(prop::collection::vec(status(), 1..8), 2..8)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
        rt.block_on(async move {
            let store = MemoryStore::default();
            let api = Api { store: store.clone(), queue: MemoryQueue::default(), sealer: MemorySealer::default(), logs: MemoryLogs::default(), base_url: String::new() };
            let body = r#"{"type":"code-coverage-end","data":{"device":{"host":"h","username":"u","password":"p"},"modules":["tmm"]}}"#;
            api.submit(&Caller::Anonymous, None, body.as_bytes()).await.unwrap();
            let id = store.all()[0].id.clone();

            let mut handles = Vec::new();
            for plan in plans {
                let store = store.clone();
                let id = id.clone();
                handles.push(tokio::spawn(async move {
                    let mut landed = Vec::new();
                    for to in plan {
                        tokio::task::yield_now().await;
                        let cur = store.get(&id).await.unwrap().unwrap();
                        let mut next = cur.clone();
                        next.status = to;
                        next.version = cur.version + 1;
                        tokio::task::yield_now().await;
                        // Writers follow the rule, as the worker does; the conditional write
                        // must keep the history consistent however they interleave.
                        if !cur.status.can_become(to) {
                            continue;
                        }
                        if store.write_status(&next, (cur.status, cur.version)).await.is_ok() {
                            landed.push((cur.status, to, next.version));
                        }
                    }
                    landed
                }));
            }
            let mut all = Vec::new();
            for h in handles {
                all.extend(h.await.unwrap());
            }
            all.sort_by_key(|(_, _, v)| *v);
            // Versions 1..=n, each exactly once: no lost or doubled write.
            for (i, (_, _, v)) in all.iter().enumerate() {
                prop_assert_eq!(*v, i as u64 + 1);
            }
            // Each landed write starts where the previous one ended, and is allowed.
            let mut at = Status::Pending;
            for (from, to, _) in &all {
                prop_assert_eq!(*from, at);
                prop_assert!(from.can_become(*to));
                prop_assert!(!from.is_terminal());
                at = *to;
            }
            let fin = store.get(&id).await.unwrap().unwrap();
            prop_assert_eq!(fin.status, at);
            prop_assert_eq!(fin.version, all.len() as u64);
            Ok(())
        })?;
    }
}
