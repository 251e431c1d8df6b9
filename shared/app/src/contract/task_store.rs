//! The [`TaskStore`] contract: creation with idempotency records, conditional status writes,
//! newest-first paging without loss or repeat and cursors bound to their filters, date ranges,
//! device (host and port) filters and free totals, the notification claim, and (in [`concurrent_writers`]) the state machine under writers racing.

use super::{fail, fresh_id, fresh_token, ok, same};
use crate::Error;
use crate::ports::{Created, IdempotencyRecord, TaskStore};
use ccaas_domain::{
    Channel, Flush, ListQuery, ModuleName, Notified, Priority, Status, Task, TaskId, TaskType,
    rfc3339,
};

/// A pending task of `user`, as the submit use case stores it.
pub fn task(id: TaskId, user: &str) -> Task {
    let at = rfc3339(id.unix_ms());
    Task {
        id,
        name: Some("nightly suite".into()),
        user: user.into(),
        task_type: TaskType::CoverageEnd,
        priority: Priority::Normal,
        queue: None,
        status: Status::Pending,
        version: 0,
        created: at.clone(),
        updated: at,
        device: "127.0.0.1".into(),
        port: 22,
        modules: ["tmm", "mcpd"]
            .iter()
            .filter_map(|m| ModuleName::parse(m).ok())
            .collect(),
        session: None,
        flush: Flush::Signal,
        webhook: None,
        email: Vec::new(),
        lease_until: None,
        lease_holder: None,
        retry_since: None,
        started: None,
        admin: false,
        result: None,
        error: None,
        notified: None,
        merge: Vec::new(),
        notified_email: None,
    }
}

/// A task of `user` on device `host` (port 22) with an id made at `at_ms`, in `status`, on
/// `queue`.
fn on_device(host: &str, user: &str, at_ms: u64, status: Status, queue: Option<Priority>) -> Task {
    let mut t = task(
        TaskId::from_parts(at_ms, rand::random::<u128>() >> 48),
        user,
    );
    t.device = host.into();
    t.status = status;
    t.queue = queue;
    t
}

fn query(user: &str, limit: usize) -> ListQuery {
    ListQuery {
        user: Some(user.into()),
        limit,
        ..ListQuery::default()
    }
}

/// Runs every check (but [`concurrent_writers`]) on `store`.
pub async fn run<S: TaskStore>(store: &S) {
    create_and_get(store).await;
    idempotency(store).await;
    status_writes(store).await;
    paging(store).await;
    full_pages(store).await;
    cursors(store).await;
    date_ranges(store).await;
    device_filters(store).await;
    totals(store).await;
    notification_claims(store).await;
    open_queues(store).await;
    earlier_open(store).await;
}

async fn earlier_open<S: TaskStore>(store: &S) {
    let c = "a device's earlier open task in another queue is the oldest one before the given id";
    let host = format!("{}.example", fresh_token());
    let user = fresh_token();
    let base = crate::now_ms();
    let at = |k, status, queue| on_device(&host, &user, base + k, status, queue);
    let tasks = [
        at(0, Status::Failed, Some(Priority::High)),
        at(1, Status::Pending, None),
        at(2, Status::Running, Some(Priority::High)),
        at(3, Status::Pending, Some(Priority::High)),
        at(4, Status::Pending, None),
    ];
    for t in &tasks {
        ok(c, "create", store.create(t, None).await);
    }
    let mut other_port = at(5, Status::Pending, None);
    other_port.port = 2222;
    ok(c, "create", store.create(&other_port, None).await);
    let earlier = |before: usize, queue| store.earlier_open(&host, 22, &tasks[before].id, queue);
    same(
        c,
        "a high task waits for the oldest open normal one, not for a finished one",
        ok(c, "earlier_open", earlier(3, Priority::High).await),
        Some(tasks[1].id.clone()),
    );
    same(
        c,
        "a normal task waits for the oldest open high one",
        ok(c, "earlier_open", earlier(4, Priority::Normal).await),
        Some(tasks[2].id.clone()),
    );
    same(
        c,
        "nothing open before the first open task",
        ok(c, "earlier_open", earlier(1, Priority::Normal).await),
        None,
    );
    same(
        c,
        "a task on another port is another device",
        ok(
            c,
            "earlier_open",
            store
                .earlier_open(&host, 2222, &other_port.id, Priority::High)
                .await,
        ),
        None,
    );
}

async fn open_queues<S: TaskStore>(store: &S) {
    let c = "a device's open queue is its newest pending or running task's, on that port only";
    let host = format!("{}.example", fresh_token());
    let user = fresh_token();
    // Ids one millisecond apart, so their order is the order written here.
    let base = crate::now_ms();
    let at = |k, status, queue| on_device(&host, &user, base + k, status, queue);
    let open = |port| store.open_queue(&host, port);
    same(c, "no task yet", ok(c, "open_queue", open(22).await), None);
    let done = at(0, Status::Succeeded, Some(Priority::High));
    ok(c, "create", store.create(&done, None).await);
    same(
        c,
        "a finished task only",
        ok(c, "open_queue", open(22).await),
        None,
    );
    let pending = at(1, Status::Pending, None);
    ok(c, "create", store.create(&pending, None).await);
    same(
        c,
        "a pending task on its priority's queue",
        ok(c, "open_queue", open(22).await),
        Some(Priority::Normal),
    );
    let running = at(2, Status::Running, Some(Priority::High));
    ok(c, "create", store.create(&running, None).await);
    same(
        c,
        "the newest open task's queue",
        ok(c, "open_queue", open(22).await),
        Some(Priority::High),
    );
    same(
        c,
        "another port",
        ok(c, "open_queue", open(2222).await),
        None,
    );
    same(
        c,
        "the queue reads back",
        ok(c, "get", store.get(&running.id).await),
        Some(running.clone()),
    );
}

async fn create_and_get<S: TaskStore>(store: &S) {
    let c = "a created task reads back field for field and an unknown id is none";
    let t = task(fresh_id(), &fresh_token());
    same(
        c,
        "create",
        ok(c, "create", store.create(&t, None).await),
        Created::New,
    );
    same(
        c,
        "get",
        ok(c, "get", store.get(&t.id).await),
        Some(t.clone()),
    );
    same(
        c,
        "unknown",
        ok(c, "get", store.get(&fresh_id()).await),
        None,
    );

    let c = "creating an existing id is a conflict";
    match store.create(&t, None).await {
        Err(Error::Conflict) => {}
        r => fail(c, format!("got {r:?}")),
    }

    let c = "a merge task without a device reads back with its end tasks and finishes";
    let mut m = task(fresh_id(), &fresh_token());
    m.task_type = ccaas_domain::TaskType::CoverageMerge;
    m.device = String::new();
    m.port = 0;
    m.modules = Vec::new();
    m.merge = vec![fresh_id(), fresh_id()];
    same(
        c,
        "create",
        ok(c, "create", store.create(&m, None).await),
        Created::New,
    );
    same(
        c,
        "get",
        ok(c, "get", store.get(&m.id).await),
        Some(m.clone()),
    );
    let running = m.advance(Status::Running, 1);
    ok(
        c,
        "take",
        store.write_status(&running, (Status::Pending, 0)).await,
    );
    let mut done = running.advance(Status::Succeeded, 2);
    done.result = Some(serde_json::json!({"merged": m.merge}));
    ok(
        c,
        "finish",
        store.write_status(&done, (Status::Running, 1)).await,
    );
    same(
        c,
        "finished",
        ok(c, "get", store.get(&m.id).await),
        Some(done),
    );
}

async fn idempotency<S: TaskStore>(store: &S) {
    let c = "a second create under the same idempotency scope writes nothing";
    let user = fresh_token();
    let (a, b) = (task(fresh_id(), &user), task(fresh_id(), &user));
    let rec = IdempotencyRecord {
        scope: format!("{user}#key-1"),
        task_id: a.id.clone(),
        fingerprint: "f1".into(),
    };
    same(
        c,
        "first",
        ok(c, "create", store.create(&a, Some(&rec)).await),
        Created::New,
    );
    let again = IdempotencyRecord {
        task_id: b.id.clone(),
        ..rec.clone()
    };
    let second = store.create(&b, Some(&again)).await;
    same(c, "second", ok(c, "create", second), Created::KeyExists);
    same(c, "second task", ok(c, "get", store.get(&b.id).await), None);
    same(
        c,
        "record",
        ok(c, "idempotency", store.idempotency(&rec.scope).await),
        Some(rec),
    );
    let none = store.idempotency(&format!("{user}#key-2")).await;
    same(c, "other key", ok(c, "idempotency", none), None);
}

async fn status_writes<S: TaskStore>(store: &S) {
    let c = "a status write lands only on the expected status and version";
    let t = task(fresh_id(), &fresh_token());
    ok(c, "create", store.create(&t, None).await);
    let mut running = t.advance(Status::Running, t.id.unix_ms() + 5);
    running.lease_until = Some(1_900_000_000);
    running.lease_holder = Some("message-1".into());
    running.retry_since = Some(t.id.unix_ms() + 3);
    ok(
        c,
        "pending→running",
        store.write_status(&running, (Status::Pending, 0)).await,
    );
    same(
        c,
        "running",
        ok(c, "get", store.get(&t.id).await),
        Some(running.clone()),
    );
    match store.write_status(&running, (Status::Pending, 0)).await {
        Err(Error::Conflict) => {}
        r => fail(c, format!("a stale write gave {r:?}")),
    }
    match store.write_status(&running, (Status::Running, 7)).await {
        Err(Error::Conflict) => {}
        r => fail(c, format!("a wrong version gave {r:?}")),
    }
    let mut done = running.advance(Status::Succeeded, t.id.unix_ms() + 9);
    done.lease_until = None;
    done.lease_holder = None;
    done.retry_since = None;
    done.result = Some(serde_json::json!({"summary": {"lines": {"covered": 3, "total": 4}}}));
    ok(
        c,
        "running→succeeded",
        store.write_status(&done, (Status::Running, 1)).await,
    );
    same(
        c,
        "succeeded",
        ok(c, "get", store.get(&t.id).await),
        Some(done),
    );
    let ghost = task(fresh_id(), "nobody");
    match store.write_status(&ghost, (Status::Pending, 0)).await {
        Err(Error::Conflict) => {}
        r => fail(c, format!("a write to an unknown task gave {r:?}")),
    }
}

async fn paging<S: TaskStore>(store: &S) {
    let c = "pages are newest first with no task lost or repeated";
    let user = fresh_token();
    let base = crate::now_ms();
    let mut ids = Vec::new();
    for i in 0..7u64 {
        let t = task(
            TaskId::from_parts(base + i, rand::random::<u128>() >> 48),
            &user,
        );
        ok(c, "create", store.create(&t, None).await);
        ids.push(t.id);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut q = query(&user, 3);
    let mut pages = 0;
    loop {
        let page = ok(c, "list", store.list(&q).await);
        pages += 1;
        if page.tasks.len() > 3 {
            fail(c, format!("a page of {} for limit 3", page.tasks.len()));
        }
        seen.extend(page.tasks.into_iter().map(|t| t.id));
        match page.next {
            Some(n) if pages < 10 => q.next = Some(n),
            Some(_) => fail(c, "more than 10 pages for 7 tasks"),
            None => break,
        }
    }
    same(c, "ids", seen, ids.clone());

    let c = "a status filter lists only its tasks, newest first";
    for id in [&ids[1], &ids[4]] {
        let Some(t) = ok(c, "get", store.get(id).await) else {
            fail(c, "a created task is gone")
        };
        let next = t.advance(Status::Running, base + 100);
        ok(
            c,
            "write",
            store.write_status(&next, (Status::Pending, 0)).await,
        );
    }
    let q = ListQuery {
        status: Some(Status::Running),
        ..query(&user, 25)
    };
    let page = ok(c, "list", store.list(&q).await);
    let got: Vec<TaskId> = page.tasks.iter().map(|t| t.id.clone()).collect();
    same(c, "running", got, vec![ids[1].clone(), ids[4].clone()]);
    same(c, "no next page", page.next, None);
}

/// A page of the largest limit that holds every match has no next page: the store must
/// read one row past the page to know, even at the limit where its rounds are largest.
async fn full_pages<S: TaskStore>(store: &S) {
    let c = "a page of the largest limit holding every match ends the listing";
    let user = fresh_token();
    let base = crate::now_ms();
    for i in 0..ccaas_domain::MAX_LIMIT as u64 {
        let t = task(
            TaskId::from_parts(base + i, rand::random::<u128>() >> 48),
            &user,
        );
        ok(c, "create", store.create(&t, None).await);
    }
    let page = ok(
        c,
        "list",
        store.list(&query(&user, ccaas_domain::MAX_LIMIT)).await,
    );
    same(c, "tasks", page.tasks.len(), ccaas_domain::MAX_LIMIT);
    same(c, "next", page.next, None);
}

async fn cursors<S: TaskStore>(store: &S) {
    let c = "a cursor works only with the filters it was made for";
    let user = fresh_token();
    let base = crate::now_ms();
    for i in 0..3u64 {
        let t = task(
            TaskId::from_parts(base + i, rand::random::<u128>() >> 48),
            &user,
        );
        ok(c, "create", store.create(&t, None).await);
    }
    let page = ok(c, "list", store.list(&query(&user, 1)).await);
    let Some(cursor) = page.next else {
        fail(c, "no cursor after a full page of 1")
    };
    let mut q = query(&user, 1);
    q.next = Some(cursor.clone());
    ok(c, "the same filters", store.list(&q).await);
    let mut other = query(&fresh_token(), 1);
    other.next = Some(cursor.clone());
    match store.list(&other).await {
        Err(Error::Invalid(e)) if e.field == "next" => {}
        r => fail(c, format!("another user's filter gave {r:?}")),
    }
    let mut other = query(&user, 1);
    other.status = Some(Status::Pending);
    other.next = Some(cursor);
    match store.list(&other).await {
        Err(Error::Invalid(e)) if e.field == "next" => {}
        r => fail(c, format!("an added status filter gave {r:?}")),
    }
    let mut junk = query(&user, 1);
    junk.next = Some("not-a-cursor".into());
    match store.list(&junk).await {
        Err(Error::Invalid(e)) if e.field == "next" => {}
        r => fail(c, format!("a junk cursor gave {r:?}")),
    }
}

/// Creates a task of `user` made at `ms` on `host:port`, returning its id.
async fn made_at<S: TaskStore>(
    store: &S,
    c: &str,
    user: &str,
    ms: u64,
    host: &str,
    port: u16,
) -> TaskId {
    let mut t = task(TaskId::from_parts(ms, rand::random::<u128>() >> 48), user);
    t.device = host.into();
    t.port = port;
    ok(c, "create", store.create(&t, None).await);
    t.id
}

/// Every id a query lists, page after page (at most 20 pages).
async fn all_pages<S: TaskStore>(store: &S, c: &str, mut q: ListQuery) -> Vec<TaskId> {
    let mut seen = Vec::new();
    for _ in 0..20 {
        let page = ok(c, "list", store.list(&q).await);
        seen.extend(page.tasks.into_iter().map(|t| t.id));
        match page.next {
            Some(n) => q.next = Some(n),
            None => return seen,
        }
    }
    fail(c, "more than 20 pages")
}

async fn date_ranges<S: TaskStore>(store: &S) {
    let c = "a date range lists the tasks created inside it, ends included, page by page";
    let user = fresh_token();
    let day = 86_400_000;
    let base = crate::now_ms() - 10 * day;
    let mut ids = Vec::new();
    for d in 0..6u64 {
        ids.push(made_at(store, c, &user, base + d * day, "127.0.0.1", 22).await);
    }
    // Days 1 to 4, both ends exact to the millisecond.
    let q = ListQuery {
        from: Some(base + day),
        to: Some(base + 4 * day),
        ..query(&user, 2)
    };
    let want: Vec<TaskId> = ids[1..=4].iter().rev().cloned().collect();
    same(c, "ids", all_pages(store, c, q.clone()).await, want);
    let q = ListQuery {
        from: Some(base + 4 * day + 1),
        ..query(&user, 25)
    };
    same(
        c,
        "from alone",
        all_pages(store, c, q).await,
        vec![ids[5].clone()],
    );
    let q = ListQuery {
        to: Some(base + day - 1),
        ..query(&user, 25)
    };
    same(
        c,
        "to alone",
        all_pages(store, c, q).await,
        vec![ids[0].clone()],
    );

    let c = "a cursor made without a date range does not continue a ranged query";
    let page = ok(c, "list", store.list(&query(&user, 1)).await);
    let mut ranged = ListQuery {
        from: Some(base),
        ..query(&user, 1)
    };
    ranged.next = page.next;
    match store.list(&ranged).await {
        Err(Error::Invalid(e)) if e.field == "next" => {}
        r => fail(c, format!("gave {r:?}")),
    }
}

async fn device_filters<S: TaskStore>(store: &S) {
    let c = "a device filter with a port lists that device only; a host alone, all its ports";
    let user = fresh_token();
    let host = format!("{}.example", fresh_token());
    let base = crate::now_ms();
    let a = made_at(store, c, &user, base, &host, 22).await;
    let b = made_at(store, c, &user, base + 1, &host, 2222).await;
    let c2 = made_at(store, c, &user, base + 2, &host, 22).await;
    let on = |port: Option<u16>| ListQuery {
        device: Some(host.clone()),
        port,
        limit: 1,
        ..ListQuery::default()
    };
    same(
        c,
        "port 22",
        all_pages(store, c, on(Some(22))).await,
        vec![c2.clone(), a.clone()],
    );
    same(
        c,
        "port 2222",
        all_pages(store, c, on(Some(2222))).await,
        vec![b.clone()],
    );
    same(
        c,
        "port 830",
        all_pages(store, c, on(Some(830))).await,
        vec![],
    );
    same(
        c,
        "the host",
        all_pages(store, c, on(None)).await,
        vec![c2, b, a],
    );
}

async fn totals<S: TaskStore>(store: &S) {
    let c = "a total is given on a first page that holds every match, and only there";
    let user = fresh_token();
    let base = crate::now_ms();
    for i in 0..3u64 {
        made_at(store, c, &user, base + i, "127.0.0.1", 22).await;
    }
    let whole = ok(c, "list", store.list(&query(&user, 3)).await);
    same(
        c,
        "a page of all 3",
        (whole.tasks.len(), whole.next.is_none(), whole.total),
        (3, true, Some(3)),
    );
    let whole = ok(c, "list", store.list(&query(&user, 25)).await);
    same(c, "a page of 25", whole.total, Some(3));
    let first = ok(c, "list", store.list(&query(&user, 2)).await);
    same(c, "a first page with a next", first.total, None);
    let mut q = query(&user, 2);
    q.next = first.next;
    let last = ok(c, "list", store.list(&q).await);
    same(
        c,
        "a last page after a cursor",
        (last.tasks.len(), last.total),
        (1, None),
    );
    let none = ok(c, "list", store.list(&query(&fresh_token(), 5)).await);
    same(c, "no match", (none.tasks.len(), none.total), (0, Some(0)));
}

async fn notification_claims<S: TaskStore>(store: &S) {
    let c = "a notification is claimed only on a terminal task, once at a time, until recorded";
    let mut t = task(fresh_id(), &fresh_token());
    t.webhook = Some("https://hooks.example/T/B/x".into());
    t.email = vec!["alice@example.com".into()];
    ok(c, "create", store.create(&t, None).await);
    let now = 1_800_000_000;
    for channel in Channel::ALL {
        same(
            c,
            "pending",
            ok(
                c,
                "claim",
                store
                    .claim_notification(&t.id, channel, now, now + 60)
                    .await,
            ),
            false,
        );
    }
    let done = t.advance(Status::Failed, t.id.unix_ms() + 1);
    ok(
        c,
        "write",
        store.write_status(&done, (Status::Pending, 0)).await,
    );
    let claim = |at: u64| store.claim_notification(&t.id, Channel::Webhook, at, at + 60);
    same(c, "first claim", ok(c, "claim", claim(now).await), true);
    same(
        c,
        "held claim",
        ok(c, "claim", claim(now + 30).await),
        false,
    );
    same(
        c,
        "expired claim",
        ok(c, "claim", claim(now + 61).await),
        true,
    );
    ok(
        c,
        "mark",
        store
            .mark_notified(&t.id, Channel::Webhook, Notified::Sent)
            .await,
    );
    same(
        c,
        "after the record",
        ok(c, "claim", claim(now + 500).await),
        false,
    );
    let got = ok(c, "get", store.get(&t.id).await);
    same(
        c,
        "recorded outcome",
        got.as_ref().and_then(|t| t.notified),
        Some(Notified::Sent),
    );
    same(
        c,
        "the other channel is not recorded",
        got.as_ref().and_then(|t| t.notified_email),
        None,
    );

    let c = "each channel has its own claim and its own record";
    let mail = |at: u64| store.claim_notification(&t.id, Channel::Email, at, at + 60);
    same(
        c,
        "email after the webhook's record",
        ok(c, "claim", mail(now + 500).await),
        true,
    );
    same(c, "held", ok(c, "claim", mail(now + 501).await), false);
    ok(
        c,
        "mark",
        store
            .mark_notified(&t.id, Channel::Email, Notified::GaveUp)
            .await,
    );
    same(c, "after", ok(c, "claim", mail(now + 900).await), false);
    let got = ok(c, "get", store.get(&t.id).await);
    same(
        c,
        "both outcomes",
        got.as_ref().map(|t| (t.notified, t.notified_email)),
        Some((Some(Notified::Sent), Some(Notified::GaveUp))),
    );
    let other = task(fresh_id(), &fresh_token());
    ok(c, "create", store.create(&other, None).await);
    let other = other.advance(Status::Failed, other.id.unix_ms() + 1);
    ok(
        c,
        "write",
        store.write_status(&other, (Status::Pending, 0)).await,
    );
    let held = store.claim_notification(&other.id, Channel::Email, now, now + 60);
    same(c, "email first", ok(c, "claim", held.await), true);
    let hook = store.claim_notification(&other.id, Channel::Webhook, now, now + 60);
    same(
        c,
        "a held email claim leaves the webhook free",
        ok(c, "claim", hook.await),
        true,
    );

    let c = "a status write keeps the recorded notification";
    let again = done.advance(Status::Failed, t.id.unix_ms() + 2);
    ok(
        c,
        "write",
        store.write_status(&again, (Status::Failed, 1)).await,
    );
    let got = ok(c, "get", store.get(&t.id).await);
    same(
        c,
        "outcomes",
        got.as_ref().map(|t| (t.notified, t.notified_email)),
        Some((Some(Notified::Sent), Some(Notified::GaveUp))),
    );
    for channel in Channel::ALL {
        let unknown = store
            .claim_notification(&fresh_id(), channel, now, now + 60)
            .await;
        same(c, "unknown task", ok(c, "claim", unknown), false);
    }
}

/// R5, the state machine under concurrent writers: each plan is one writer that reads the task
/// and tries, in turn, a conditional write to each status it lists (when the state machine
/// allows it). Whatever the interleaving, the landed writes have versions 1..=n, each once,
/// chain from `pending`, and the stored task is the last one. Writers run as tokio tasks on the
/// caller's runtime.
pub async fn concurrent_writers<S>(store: S, plans: Vec<Vec<Status>>)
where
    S: TaskStore + Clone + 'static,
{
    let c = "concurrent writers only make allowed transitions";
    let t = task(fresh_id(), &fresh_token());
    ok(c, "create", store.create(&t, None).await);
    let mut handles = Vec::new();
    for plan in plans {
        let (store, id) = (store.clone(), t.id.clone());
        handles.push(tokio::spawn(async move {
            let mut landed = Vec::new();
            for to in plan {
                tokio::task::yield_now().await;
                let Ok(Some(cur)) = store.get(&id).await else {
                    continue;
                };
                tokio::task::yield_now().await;
                // Writers follow the rule, as the worker does; the conditional write must keep
                // the history consistent however they interleave.
                if !cur.status.can_become(to) {
                    continue;
                }
                let next = cur.advance(to, cur.id.unix_ms() + 1);
                if store
                    .write_status(&next, (cur.status, cur.version))
                    .await
                    .is_ok()
                {
                    landed.push((cur.status, to, next.version));
                }
            }
            landed
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(ok(c, "writer", h.await));
    }
    all.sort_by_key(|(_, _, v)| *v);
    for (i, (_, _, v)) in all.iter().enumerate() {
        same(c, "versions 1..=n, each once", *v, i as u64 + 1);
    }
    let mut at = Status::Pending;
    for (from, to, _) in &all {
        same(c, "each write starts where the last ended", *from, at);
        if !from.can_become(*to) || from.is_terminal() {
            fail(c, format!("{from:?} → {to:?} landed"));
        }
        at = *to;
    }
    let Some(fin) = ok(c, "get", store.get(&t.id).await) else {
        fail(c, "the task is gone")
    };
    same(c, "final status", fin.status, at);
    same(c, "final version", fin.version, all.len() as u64);
}
