//! The task API use cases against the in-memory twins.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::memory::{MemoryLogs, MemoryQueue, MemorySealer, MemoryStore};
use ccaas_app::{Api, Caller, Error};

fn api() -> Api<MemoryStore, MemoryQueue, MemoryLogs, MemorySealer> {
    Api {
        store: MemoryStore::default(),
        queue: MemoryQueue::default(),
        sealer: MemorySealer::default(),
        logs: MemoryLogs::default(),
        base_url: "http://api".into(),
        clock: ccaas_app::Clock::manual(1_764_417_300_000),
        allow: Default::default(),
        admins: Default::default(),
        email: false,
    }
}

const START: &str = r#"{"type":"code-coverage-start","user":"alice","priority":"high","data":{"device":{"host":"127.0.0.1","username":"root","password":"canary-pw-77"},"modules":["tmm"]}}"#;

#[tokio::test]
async fn a_valid_task_is_stored_pending_and_queued_once_with_its_credentials_sealed() {
    let api = api();
    let acc = api
        .submit(&Caller::Anonymous, None, START.as_bytes())
        .await
        .expect("accepted");
    assert_eq!(acc.view.status, "pending");
    assert_eq!(
        acc.view.selflink,
        format!("http://api/v1/tasks/{}", acc.view.id)
    );
    let sent = api.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.task_id.as_str(), acc.view.id);
    assert_eq!(
        sent[0].1, "127.0.0.1:22",
        "one device's tasks share a group"
    );
    assert_eq!(sent[0].2, ccaas_domain::Priority::High);
    let body = api.queue.body(0).unwrap();
    assert!(!body.contains("canary-pw-77"), "{body}");
    let opened = api.sealer.open_message(&sent[0].0).unwrap();
    match opened.device.credential {
        ccaas_domain::Credential::Password(p) => assert_eq!(p.expose(), "canary-pw-77"),
        other => panic!("{other:?}"),
    }
    let stored = api.store.all();
    assert_eq!(stored.len(), 1);
    assert!(
        !serde_json::to_string(&stored[0])
            .unwrap()
            .contains("canary-pw-77")
    );
}

#[tokio::test]
async fn a_verified_caller_overrides_the_user_in_the_body() {
    let api = api();
    let acc = api
        .submit(&Caller::Verified("carol".into()), None, START.as_bytes())
        .await
        .expect("accepted");
    assert_eq!(api.get(&acc.view.id).await.expect("found").user, "carol");
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_return_the_same_task() {
    let api = api();
    let first = api
        .submit(&Caller::Anonymous, Some("k-1"), START.as_bytes())
        .await
        .expect("ok");
    for _ in 0..4 {
        let again = api
            .submit(&Caller::Anonymous, Some("k-1"), START.as_bytes())
            .await
            .expect("ok");
        assert_eq!(again.view.id, first.view.id);
        assert!(again.replayed);
    }
    assert_eq!(api.store.len(), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_with_another_body_is_a_conflict() {
    let api = api();
    api.submit(&Caller::Anonymous, Some("k-2"), START.as_bytes())
        .await
        .expect("ok");
    let other = START.replace("\"tmm\"", "\"mcpd\"");
    let e = api
        .submit(&Caller::Anonymous, Some("k-2"), other.as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::IdempotencyConflict), "{e:?}");
    assert_eq!(api.store.len(), 1);
}

#[tokio::test]
async fn a_crash_between_the_store_write_and_the_send_is_healed_by_the_retry() {
    let api = api();
    api.queue.fail_next(1);
    let e = api
        .submit(&Caller::Anonymous, Some("k-3"), START.as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert_eq!(api.queue.sent().len(), 0);
    assert_eq!(
        api.store.len(),
        1,
        "the task was written before the send failed"
    );
    let retry = api
        .submit(&Caller::Anonymous, Some("k-3"), START.as_bytes())
        .await
        .expect("ok");
    assert_eq!(api.queue.sent().len(), 1);
    assert_eq!(api.queue.sent()[0].0.task_id.as_str(), retry.view.id);
    assert_eq!(api.store.len(), 1);
}

#[tokio::test]
async fn without_a_key_an_unsent_task_is_marked_failed_not_left_pending() {
    let api = api();
    api.queue.fail_next(1);
    api.submit(&Caller::Anonymous, None, START.as_bytes())
        .await
        .unwrap_err();
    let t = &api.store.all()[0];
    assert_eq!(t.status, ccaas_domain::Status::Failed);
    assert_eq!(t.error.as_ref().unwrap().code, "enqueue_failed");
}

#[tokio::test]
async fn an_unavailable_store_is_reported_as_unavailable() {
    let api = api();
    api.store.set_down(true);
    let e = api
        .submit(&Caller::Anonymous, None, START.as_bytes())
        .await
        .unwrap_err();
    assert!(e.is_retryable() && matches!(e, Error::Unavailable { .. }));
    assert!(matches!(
        api.get("01ARZ3NDEKTSV4RRFFQ69G5FAV").await,
        Err(Error::Unavailable { .. })
    ));
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_the_same_not_found() {
    let api = api();
    assert!(matches!(
        api.get("01ARZ3NDEKTSV4RRFFQ69G5FAV").await,
        Err(Error::NotFound)
    ));
    assert!(matches!(api.get("../../etc").await, Err(Error::NotFound)));
    assert!(matches!(api.log("nope").await, Err(Error::NotFound)));
}

#[tokio::test]
async fn the_log_is_empty_until_one_is_written() {
    let api = api();
    let acc = api
        .submit(&Caller::Anonymous, None, START.as_bytes())
        .await
        .expect("ok");
    assert_eq!(api.log(&acc.view.id).await.expect("log"), Vec::<u8>::new());
}

#[tokio::test]
async fn paging_returns_every_task_once_newest_first() {
    let api = api();
    let mut ids = Vec::new();
    for _ in 0..23 {
        ids.push(
            api.submit(&Caller::Anonymous, None, START.as_bytes())
                .await
                .unwrap()
                .view
                .id,
        );
        // Each task a millisecond later: ids (ULIDs) order by their millisecond.
        api.clock.advance(1);
    }
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut params = vec![("limit", "5".to_string())];
        if let Some(n) = &next {
            params.push(("next", n.clone()));
        }
        let page = api
            .list(params.iter().map(|(k, v)| (*k, v.as_str())))
            .await
            .expect("page");
        assert!(page.count <= 5);
        seen.extend(page.collection.into_iter().map(|i| i.id));
        match page.next {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn with_the_key_service_down_a_submit_is_unavailable_and_writes_nothing() {
    let api = api();
    api.sealer.fail_next(1);
    let e = api
        .submit(&Caller::Anonymous, None, START.as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e}");
    assert!(api.store.all().is_empty());
    assert!(api.queue.sent().is_empty());
}

fn start_on(host: &str, port: u16) -> String {
    format!(
        r#"{{"type":"code-coverage-start","user":"alice","data":{{"device":{{"host":"{host}","port":{port},"username":"root","password":"pw"}},"modules":["tmm"]}}}}"#
    )
}

fn allowing(list: &str) -> Api<MemoryStore, MemoryQueue, MemoryLogs, MemorySealer> {
    Api {
        allow: ccaas_domain::DeviceAllow::parse(list).unwrap(),
        ..api()
    }
}

fn with_admins(list: &str) -> Api<MemoryStore, MemoryQueue, MemoryLogs, MemorySealer> {
    Api {
        admins: ccaas_app::Admins::parse(list).unwrap(),
        ..api()
    }
}

#[tokio::test]
async fn a_device_outside_the_allow_list_is_refused_before_anything_is_sealed_stored_or_queued() {
    let api = allowing("127.0.0.0/8:2200-2299, [::1]:22");
    // The sealer fails the next call: a refusal that sealed first would show as 503.
    api.sealer.fail_next(1);
    for (host, port) in [
        ("10.0.0.1", 22),
        ("127.0.0.1", 22),
        ("127.0.0.1", 2300),
        ("::1", 2222),
        ("localhost", 2300),
        ("bigip.lab.example", 22),
    ] {
        let body = start_on(host, port);
        for key in [None, Some("k-1")] {
            match api.submit(&Caller::Anonymous, key, body.as_bytes()).await {
                Err(Error::Refused(f)) => {
                    assert_eq!(f.code, "device_not_allowed", "{host}:{port}");
                    assert_eq!(f.field, "data.device.host");
                }
                other => panic!("{host}:{port}: {other:?}"),
            }
        }
    }
    assert!(api.store.is_empty());
    assert!(api.queue.sent().is_empty());
    // Inside the list (any spelling) it is accepted, now that the sealer answers again.
    api.sealer.fail_next(0);
    for (host, port) in [
        ("127.0.0.1", 2222),
        ("0x7f.1", 2299),
        ("LocalHost.", 2200),
        ("[::1]", 22),
    ] {
        api.submit(&Caller::Anonymous, None, start_on(host, port).as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{host}:{port}: {e:?}"));
    }
    assert_eq!(api.store.len(), 4);
}

#[tokio::test]
async fn every_spelling_of_one_address_is_one_device_with_one_message_group() {
    let api = api();
    for host in [
        "127.0.0.1",
        "127.1",
        "0x7f.1",
        "::ffff:127.0.0.1",
        "2130706433",
        "127.0.0.1.",
        "LOCALHOST",
    ] {
        api.submit(&Caller::Anonymous, None, start_on(host, 2222).as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{host}: {e:?}"));
    }
    let groups: Vec<String> = api.queue.sent().into_iter().map(|s| s.1).collect();
    assert_eq!(groups, vec!["127.0.0.1:2222".to_string(); 7]);
    assert!(api.store.all().iter().all(|t| t.device == "127.0.0.1"));
    // The sealed access carries the canonical host, so the worker connects to it.
    let opened = api.sealer.open_message(&api.queue.sent()[1].0).unwrap();
    assert_eq!(opened.device.host.to_string(), "127.0.0.1");
    // IPv6 keys are bracketed, and names are lower-cased without a trailing dot.
    api.submit(
        &Caller::Anonymous,
        None,
        start_on("FD00::0001", 22).as_bytes(),
    )
    .await
    .unwrap();
    api.submit(
        &Caller::Anonymous,
        None,
        start_on("BigIP.Lab.", 22).as_bytes(),
    )
    .await
    .unwrap();
    let sent = api.queue.sent();
    assert_eq!(sent[7].1, "[fd00::1]:22");
    assert_eq!(sent[8].1, "bigip.lab:22");
    // A list query by any spelling finds the canonical device's tasks.
    let page = api.list([("device", "127.1")]).await.unwrap();
    assert_eq!(page.count, 7);
}

#[tokio::test]
async fn only_an_admin_drops_a_pin_and_dropping_is_idempotent() {
    use ccaas_app::memory::MemoryPins;
    use ccaas_app::ports::HostKeyPins;
    let devices = ccaas_app::Devices {
        sessions: MemoryPins::new(),
        base_url: String::new(),
    };
    let pins = &devices.sessions;
    pins.pin("127.0.0.1", 22, "SHA256:a").await.unwrap();
    let admins = ccaas_app::Admins::parse("root-admin").unwrap();
    let mallory = Caller::Verified("mallory".into());
    match devices.drop_pin(&mallory, &admins, "127.0.0.1:22").await {
        Err(Error::Refused(f)) => assert_eq!(f.code, "forbidden"),
        other => panic!("{other:?}"),
    }
    assert!(pins.pinned("127.0.0.1", 22).await.unwrap().is_some());
    let admin = Caller::Verified("root-admin".into());
    let v = devices.drop_pin(&admin, &admins, "127.1:22").await.unwrap();
    assert_eq!((v.device.as_str(), v.dropped), ("127.0.0.1:22", true));
    assert!(pins.pinned("127.0.0.1", 22).await.unwrap().is_none());
    let v = devices
        .drop_pin(&admin, &admins, "127.0.0.1:22")
        .await
        .unwrap();
    assert!(!v.dropped);
    match devices.drop_pin(&admin, &admins, "127.0.0.1").await {
        Err(Error::Invalid(f)) => assert_eq!(f.field, "device"),
        other => panic!("{other:?}"),
    }
    // Auth off: no identities, any caller may (docs/api.md names the risk).
    let v = devices
        .drop_pin(&Caller::Anonymous, &admins, "[::1]:22")
        .await
        .unwrap();
    assert_eq!((v.device.as_str(), v.dropped), ("[::1]:22", false));
}

fn verified(user: &str) -> Caller {
    Caller::Verified(user.into())
}

#[tokio::test]
async fn cancelling_a_pending_task_fails_it_as_cancelled_and_a_repeat_returns_it_again() {
    let api = api();
    let id = api
        .submit(&Caller::Anonymous, None, START.as_bytes())
        .await
        .unwrap()
        .view
        .id;
    api.clock.advance(1_000);
    let v = api
        .cancel(&Caller::Anonymous, &id)
        .await
        .expect("cancelled");
    assert_eq!(v.status, "failed");
    let e = v.error.expect("an error");
    assert_eq!(e.code, "cancelled");
    assert_eq!(v.updated, "2025-11-29T11:55:01.000Z");
    let again = api
        .cancel(&Caller::Anonymous, &id)
        .await
        .expect("idempotent");
    assert_eq!(again.updated, v.updated, "the repeat wrote nothing");
    assert_eq!(api.store.status_writes(), 1);
}

#[tokio::test]
async fn a_task_that_runs_or_has_finished_cannot_be_cancelled_and_the_error_names_its_status() {
    use ccaas_app::TaskStore;
    use ccaas_domain::{Status, TaskId};
    let api = api();
    let id = api
        .submit(&Caller::Anonymous, None, START.as_bytes())
        .await
        .unwrap()
        .view
        .id;
    let task = api
        .store
        .get(&TaskId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let running = task.advance(Status::Running, 1);
    api.store
        .write_status(&running, (Status::Pending, 0))
        .await
        .unwrap();
    match api.cancel(&Caller::Anonymous, &id).await {
        Err(Error::NotPending(Status::Running)) => {}
        other => panic!("expected NotPending(Running), got {other:?}"),
    }
    let done = running.advance(Status::Succeeded, 2);
    api.store
        .write_status(&done, (Status::Running, 1))
        .await
        .unwrap();
    match api.cancel(&Caller::Anonymous, &id).await {
        Err(Error::NotPending(Status::Succeeded)) => {}
        other => panic!("expected NotPending(Succeeded), got {other:?}"),
    }
    for unknown in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-an-id"] {
        assert!(matches!(
            api.cancel(&Caller::Anonymous, unknown).await,
            Err(Error::NotFound)
        ));
    }
}

#[tokio::test]
async fn with_auth_on_only_the_tasks_user_or_an_admin_may_cancel_it() {
    let api = with_admins("root-admin, ops");
    let submit = || async {
        api.submit(&verified("alice"), None, START.as_bytes())
            .await
            .unwrap()
            .view
            .id
    };
    let (a, b) = (submit().await, submit().await);
    match api.cancel(&verified("bob"), &a).await {
        Err(Error::Forbidden(why)) => assert!(why.contains("alice"), "{why}"),
        other => panic!("bob cancelled alice's task: {other:?}"),
    }
    assert_eq!(api.get(&a).await.unwrap().status, "pending");
    assert_eq!(
        api.cancel(&verified("alice"), &a).await.unwrap().status,
        "failed"
    );
    assert_eq!(
        api.cancel(&verified("ops"), &b).await.unwrap().status,
        "failed"
    );
}

#[test]
fn only_a_verified_caller_named_in_the_admin_list_is_an_admin() {
    let admins = ccaas_app::Admins::parse("ops,root@lab").unwrap();
    assert!(verified("ops").is_admin(&admins));
    assert!(verified("root@lab").is_admin(&admins));
    assert!(!verified("alice").is_admin(&admins));
    assert!(
        !Caller::Anonymous.is_admin(&admins),
        "no identity, no admin"
    );
    assert!(!verified("ops").is_admin(&ccaas_app::Admins::default()));
    assert!(verified("alice").may_act_for("alice", &admins));
    assert!(!verified("bob").may_act_for("alice", &admins));
    assert!(verified("ops").may_act_for("alice", &admins));
    assert!(Caller::Anonymous.may_act_for("alice", &admins));
    assert_eq!(
        ccaas_app::Admins::parse("ops,a b").unwrap_err().field,
        "user"
    );
}

#[tokio::test]
async fn a_task_remembers_whether_an_admin_submitted_it() {
    let api = with_admins("ops");
    for (caller, admin) in [
        (verified("ops"), true),
        (verified("alice"), false),
        (Caller::Anonymous, false),
    ] {
        let id = api
            .submit(&caller, None, START.as_bytes())
            .await
            .unwrap()
            .view
            .id;
        let t = api
            .store
            .all()
            .into_iter()
            .find(|t| t.id.as_str() == id)
            .unwrap();
        assert_eq!(t.admin, admin, "{caller:?}");
    }
}

#[tokio::test]
async fn the_device_list_shows_each_open_session_with_its_owner_page_by_page() {
    use ccaas_app::{DeviceSession, Devices, SessionStore};
    use ccaas_domain::TaskId;
    let sessions = ccaas_app::memory::MemorySessions::default();
    for (i, owner) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let s = DeviceSession {
            id: TaskId::from_parts(1_764_417_300_000 + i as u64, 7),
            modules: vec!["tmm".into()],
            facts: serde_json::json!({}),
            opened: format!("2025-11-29T11:55:0{i}.000Z"),
            opened_ms: None,
            owner: Some(owner.into()),
            took_over: None,
        };
        sessions.open(&format!("10.0.0.{i}:22"), &s).await.unwrap();
    }
    let devices = Devices {
        sessions,
        base_url: "http://api".into(),
    };
    let first = devices.list([("limit", "2")]).await.unwrap();
    assert_eq!(first.count, 2);
    let row = serde_json::to_value(&first.collection[0]).unwrap();
    assert_eq!(row["device"], "10.0.0.0:22");
    assert_eq!(row["owner"], "alice");
    assert_eq!(row["since"], "2025-11-29T11:55:00.000Z");
    assert_eq!(row["modules"], serde_json::json!(["tmm"]));
    assert_eq!(
        row["selflink"],
        format!("http://api/v1/tasks/{}", row["session"].as_str().unwrap())
    );
    let next = first.next.expect("a second page");
    let second = devices.list([("next", next.as_str())]).await.unwrap();
    assert_eq!(second.count, 1);
    assert_eq!(second.collection[0].owner.as_deref(), Some("carol"));
    assert_eq!(second.next, None);
    for (params, field) in [
        (vec![("limit", "0")], "limit"),
        (vec![("user", "bob")], "user"),
        (vec![("next", "garbage")], "next"),
    ] {
        match devices.list(params).await {
            Err(Error::Invalid(f)) => assert_eq!(f.field, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

fn on_port(ty: &str, priority: &str, port: u16) -> String {
    format!(
        r#"{{"type":"{ty}","user":"alice","priority":"{priority}","data":{{"device":{{"host":"127.0.0.1","port":{port},"username":"root","password":"pw"}},"modules":["tmm"]}}}}"#
    )
}

#[tokio::test]
async fn a_high_priority_task_joins_the_queue_of_its_devices_open_tasks_and_keeps_their_order() {
    use ccaas_app::TaskStore;
    use ccaas_domain::{Priority, Status};
    let api = api();
    let submit = |body: String| {
        let api = &api;
        async move {
            api.submit(&Caller::Anonymous, None, body.as_bytes())
                .await
                .expect("accepted")
        }
    };
    submit(on_port("code-coverage-start", "normal", 2222)).await;
    // The end asks for high, but the device's start is still open on the normal queue: on
    // the high queue the end would run first and find no session.
    let end = submit(on_port("code-coverage-end", "high", 2222)).await;
    // Another device has nothing open: its high task takes the high queue.
    submit(on_port("code-coverage-start", "high", 2223)).await;
    let queues: Vec<Priority> = api.queue.sent().iter().map(|s| s.2).collect();
    assert_eq!(queues, [Priority::Normal, Priority::Normal, Priority::High]);
    let stored = api
        .store
        .get(&ccaas_domain::TaskId::parse(&end.view.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.priority,
        Priority::High,
        "what was asked stays recorded"
    );
    assert_eq!(stored.queue(), Priority::Normal);

    // Once the device's tasks are finished, its next high task takes the high queue.
    for t in api.store.all().into_iter().filter(|t| t.port == 2222) {
        let done = t.advance(Status::Failed, 1_764_417_300_001);
        api.store
            .write_status(&done, (t.status, t.version))
            .await
            .unwrap();
    }
    submit(on_port("code-coverage-end", "high", 2222)).await;
    assert_eq!(api.queue.sent()[3].2, Priority::High);
}

#[tokio::test]
async fn tasks_submitted_in_one_millisecond_sort_in_submission_order() {
    // The manual clock does not move: all 50 tasks share one millisecond.
    let api = api();
    let mut ids = Vec::new();
    for _ in 0..50 {
        let acc = api
            .submit(&Caller::Anonymous, None, START.as_bytes())
            .await
            .unwrap();
        ids.push(acc.view.id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

const WITH_EMAIL: &str = r#"{"type":"code-coverage-start","user":"alice","notify":{"email":["alice@example.com"]},"data":{"device":{"host":"127.0.0.1","username":"root","password":"pw"},"modules":["tmm"]}}"#;

#[tokio::test]
async fn notify_email_on_a_service_without_a_sender_is_refused_email_disabled_and_nothing_is_stored()
 {
    let api = api();
    match api
        .submit(&Caller::Anonymous, None, WITH_EMAIL.as_bytes())
        .await
    {
        Err(Error::Invalid(f)) => {
            assert_eq!(
                (f.code, f.field.as_str()),
                ("email_disabled", "notify.email")
            );
            assert!(f.message.contains("CCAAS_MAIL_FROM"), "{}", f.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(api.store.all().is_empty() && api.queue.sent().is_empty());
}

#[tokio::test]
async fn notify_email_on_a_service_with_a_sender_is_stored_with_the_task() {
    let api = Api {
        email: true,
        ..api()
    };
    api.submit(&Caller::Anonymous, None, WITH_EMAIL.as_bytes())
        .await
        .expect("accepted");
    assert_eq!(api.store.all()[0].email, ["alice@example.com"]);
}

const END: &str = r#"{"type":"code-coverage-end","user":"alice","data":{"device":{"host":"127.0.0.1","username":"root","password":"canary-pw-77"},"modules":["tmm"]}}"#;

/// An end task taken to `status` (running or succeeded, with `build` in its result).
async fn end_task(
    api: &Api<MemoryStore, MemoryQueue, MemoryLogs, MemorySealer>,
    status: ccaas_domain::Status,
    build: &str,
) -> String {
    use ccaas_app::TaskStore;
    use ccaas_domain::Status;
    let acc = api
        .submit(&Caller::Anonymous, None, END.as_bytes())
        .await
        .unwrap();
    let id = ccaas_domain::TaskId::parse(&acc.view.id).unwrap();
    let t = api.store.get(&id).await.unwrap().unwrap();
    let running = t.advance(Status::Running, 1);
    api.store
        .write_status(&running, (Status::Pending, 0))
        .await
        .unwrap();
    if status == Status::Succeeded {
        let mut done = running.advance(Status::Succeeded, 2);
        done.result = Some(serde_json::json!({"build": build, "link": "x"}));
        api.store
            .write_status(&done, (Status::Running, 1))
            .await
            .unwrap();
    }
    acc.view.id
}

fn merge_body(ids: &[&str]) -> String {
    serde_json::json!({"type": "code-coverage-merge", "name": "both", "data": {"tasks": ids}})
        .to_string()
}

#[tokio::test]
async fn a_merge_of_succeeded_ends_of_one_build_is_queued_alone_with_nothing_sealed() {
    use ccaas_domain::Status;
    let api = api();
    let a = end_task(&api, Status::Succeeded, "17.1.0-0.0.16").await;
    let b = end_task(&api, Status::Succeeded, "17.1.0-0.0.16").await;
    let before = api.queue.sent().len();
    let acc = api
        .submit(&Caller::Anonymous, None, merge_body(&[&a, &b]).as_bytes())
        .await
        .expect("accepted");
    assert_eq!(acc.view.task_type, "code-coverage-merge");
    let sent = api.queue.sent();
    assert_eq!(sent.len(), before + 1);
    let (msg, group, _) = sent.last().unwrap();
    assert_eq!(msg.task_id.as_str(), acc.view.id);
    assert_eq!(
        msg.sealed_device, "",
        "a merge has no device access to seal"
    );
    assert_eq!(*group, format!("merge:{}", acc.view.id));
    let view = api.get(&acc.view.id).await.unwrap();
    assert_eq!(view.tasks, Some(vec![a, b]));
    assert_eq!((view.device.as_str(), view.port), ("", 0));
    assert!(view.modules.is_empty());
}

#[tokio::test]
async fn a_merge_naming_a_missing_unfinished_or_non_end_task_is_unprocessable_naming_its_index() {
    use ccaas_domain::Status;
    let api = api();
    let a = end_task(&api, Status::Succeeded, "17.1.0-0.0.16").await;
    let running = end_task(&api, Status::Running, "").await;
    let start = api
        .submit(&Caller::Anonymous, None, START.as_bytes())
        .await
        .unwrap()
        .view
        .id;
    let missing = "01JD0000000000000000000009";
    for (other, says) in [
        (running.as_str(), "is running"),
        (start.as_str(), "is a code-coverage-start"),
        (missing, "does not exist"),
    ] {
        let sent = api.queue.sent().len();
        match api
            .submit(
                &Caller::Anonymous,
                None,
                merge_body(&[&a, other]).as_bytes(),
            )
            .await
        {
            Err(Error::Unprocessable(f)) => {
                assert_eq!(
                    (f.code, f.field.as_str()),
                    ("not_mergeable", "data.tasks[1]")
                );
                assert!(f.message.contains(says), "{}", f.message);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(api.queue.sent().len(), sent, "nothing is queued");
    }
}

#[tokio::test]
async fn a_merge_of_two_builds_is_refused_mixed_builds_naming_each_task_and_build() {
    use ccaas_domain::Status;
    let api = api();
    let a = end_task(&api, Status::Succeeded, "17.1.0-0.0.16").await;
    let b = end_task(&api, Status::Succeeded, "17.1.0-0.0.16").await;
    let c = end_task(&api, Status::Succeeded, "17.5.0-0.0.3").await;
    let stored = api.store.len();
    match api
        .submit(
            &Caller::Anonymous,
            None,
            merge_body(&[&a, &b, &c]).as_bytes(),
        )
        .await
    {
        Err(Error::Unprocessable(f)) => {
            assert_eq!((f.code, f.field.as_str()), ("mixed_builds", "data.tasks"));
            assert!(
                f.message
                    .contains(&format!("17.1.0-0.0.16 ({a}, {b}); 17.5.0-0.0.3 ({c})")),
                "{}",
                f.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(api.store.len(), stored, "nothing is stored");
}
