//! The [`UsageStore`] contract, through the [`TaskStore`] writes that keep it: a creation and
//! a terminal write count once in every grouping and interval, and never again when repeated
//! (an idempotent replay, a status write that loses its condition); failure codes, duration
//! bins and `by=status` moves; range reads in `(period, group)` order with a cap; coverage
//! points written once per end task, read oldest first within a range and a limit.
//!
//! Each run works on a random day between 1980 and 2019 with a fresh user, device and
//! failure code, so runs sharing a store (and a day, rarely) do not disturb each other's
//! user, device and failure rows.

use super::{fresh_token, ok, same};
use crate::Error;
use crate::ports::{Created, IdempotencyRecord, TaskStore, UsageStore};
use crate::usage::{self, CounterRow, Effects};
use ccaas_domain::usage::{By, Interval, UsageQuery, bin_name, bin_of, bin_upper_ms};
use ccaas_domain::{Status, Task, TaskError, TaskId, time::date_of_day};

const DAY_MS: u64 = 86_400_000;

/// Runs every check on `store`.
pub async fn run<S: TaskStore + UsageStore>(store: &S) {
    let day = 3_652 + rand::random::<u64>() % 14_600;
    counts_follow_transitions_once(store, day).await;
    ranges_are_ordered_and_capped(store, day).await;
    coverage_points(store, day).await;
}

/// A pending task of `user` on `host:22`, created `offset_ms` into day `day`.
fn task_on(day: u64, offset_ms: u64, user: &str, host: &str) -> Task {
    let id = TaskId::from_parts(day * DAY_MS + offset_ms, rand::random::<u128>() >> 48);
    let mut t = super::task_store::task(id, user);
    t.device = host.into();
    t
}

/// Moves `t` through `running` (started at `start_ms`) to `status` after `ran_ms`, as the
/// worker does. Returns the terminal task and the version it was written over.
async fn run_to<S: TaskStore>(
    store: &S,
    check: &str,
    t: &Task,
    status: Status,
    ran_ms: u64,
    error: Option<&str>,
) -> (Task, u64) {
    let start = t.id.unix_ms() + 1_000;
    let mut running = t.advance(Status::Running, start);
    running.started = Some(start);
    ok(
        check,
        "take",
        store.write_status(&running, (t.status, t.version)).await,
    );
    let mut done = running.advance(status, start + ran_ms);
    done.error = error.map(|c| TaskError {
        code: c.into(),
        message: "x".into(),
    });
    ok(
        check,
        "finish",
        store
            .write_status(&done, (Status::Running, running.version))
            .await,
    );
    (done, running.version)
}

/// The row of `group` in `series` on the period of `day`, if any.
async fn row<S: UsageStore>(
    store: &S,
    check: &str,
    interval: Interval,
    series: &str,
    day: u64,
    group: &str,
) -> Option<CounterRow> {
    let period = interval.period_of(day * DAY_MS);
    let rows = ok(
        check,
        "counters",
        store.counters(series, &period, &period, 10_000).await,
    );
    rows.rows.into_iter().find(|r| r.group == group)
}

fn value(r: &Option<CounterRow>, attr: &str) -> i64 {
    r.as_ref()
        .and_then(|r| r.values.get(attr).copied())
        .unwrap_or(0)
}

/// Five tasks: one succeeds (its terminal write repeated ten times), one fails with a fresh
/// code, one is cancelled, one runs on, one stays pending (its create replayed ten times).
async fn counts_follow_transitions_once<S: TaskStore + UsageStore>(store: &S, day: u64) {
    let check = "counts follow transitions once";
    let (user, host) = (format!("u{}", fresh_token()), format!("h{}", fresh_token()));
    let code = format!("code_{}", fresh_token());
    let tasks: Vec<Task> = (0..5)
        .map(|i| task_on(day, 3_600_000 + i * 1_000, &user, &host))
        .collect();
    for t in &tasks[..4] {
        same(
            check,
            "create",
            ok(check, "create", store.create(t, None).await),
            Created::New,
        );
    }
    let rec = IdempotencyRecord {
        scope: format!("{user}#k1"),
        task_id: tasks[4].id.clone(),
        fingerprint: "f".into(),
    };
    same(
        check,
        "first create",
        ok(check, "create", store.create(&tasks[4], Some(&rec)).await),
        Created::New,
    );
    for _ in 0..10 {
        let mut replay = task_on(day, 3_700_000, &user, &host);
        replay.user = user.clone();
        let r = ok(check, "replay", store.create(&replay, Some(&rec)).await);
        same(check, "replay", r, Created::KeyExists);
    }

    let (done, over) = run_to(store, check, &tasks[0], Status::Succeeded, 1_200, None).await;
    for _ in 0..10 {
        // A duplicate delivery's terminal write finds the version moved on.
        match store.write_status(&done, (Status::Running, over)).await {
            Err(Error::Conflict) => {}
            other => super::fail(check, format!("a repeated terminal write: {other:?}")),
        }
    }
    run_to(store, check, &tasks[1], Status::Failed, 5_100, Some(&code)).await;
    let mut cancelled = tasks[2].advance(Status::Failed, tasks[2].id.unix_ms() + 10);
    cancelled.error = Some(TaskError {
        code: ccaas_domain::CANCELLED.into(),
        message: "x".into(),
    });
    ok(
        check,
        "cancel",
        store.write_status(&cancelled, (Status::Pending, 0)).await,
    );
    let mut running = tasks[3].advance(Status::Running, tasks[3].id.unix_ms() + 10);
    running.started = Some(tasks[3].id.unix_ms() + 10);
    ok(
        check,
        "take",
        store.write_status(&running, (Status::Pending, 0)).await,
    );

    let device = crate::ports::device_key(&host, 22);
    for interval in Interval::ALL {
        for (by, group) in [(By::User, user.as_str()), (By::Device, device.as_str())] {
            let series = usage::series(interval, by);
            let r = row(store, check, interval, &series, day, group).await;
            let what = |a: &str| format!("{series} {a}");
            same(check, &what("requested"), value(&r, "requested"), 5);
            same(check, &what("succeeded"), value(&r, "succeeded"), 1);
            same(check, &what("failed"), value(&r, "failed"), 1);
            same(check, &what("cancelled"), value(&r, "cancelled"), 1);
            same(
                check,
                &what("1.2 s bin"),
                value(&r, &bin_name(bin_of(1_200))),
                1,
            );
            same(
                check,
                &what("5.1 s bin"),
                value(&r, &bin_name(bin_of(5_100))),
                1,
            );
        }
        let fails = usage::failure_series(interval);
        let r = row(store, check, interval, &fails, day, &code).await;
        same(check, "failure code count", value(&r, "count"), 1);
    }

    // The assembled answer: quantiles are bin bounds, the failure is listed.
    let from = date_of_day(day as i64);
    let q = ok(
        check,
        "query",
        UsageQuery::parse([("from", from.as_str()), ("to", from.as_str())], 0)
            .map_err(|e| e.message),
    );
    let view = ok(check, "usage", usage::usage(store, &q).await);
    let b = view
        .buckets
        .iter()
        .find(|b| b.group == user)
        .unwrap_or_else(|| super::fail(check, "no bucket for the user"));
    same(
        check,
        "bucket",
        (b.requested, b.succeeded, b.failed, b.cancelled),
        (5, 1, 1, 1),
    );
    let d = b
        .duration_ms
        .clone()
        .unwrap_or_else(|| super::fail(check, "no durations"));
    same(check, "p50", d.p50, bin_upper_ms(bin_of(1_200)));
    same(check, "p95", d.p95, bin_upper_ms(bin_of(5_100)));
    same(
        check,
        "failure listed",
        view.failures.iter().any(|f| f.code == code && f.count == 1),
        true,
    );
}

/// Rows come in `(period, group)` order, only inside the range, and a cap truncates.
async fn ranges_are_ordered_and_capped<S: TaskStore + UsageStore>(store: &S, day: u64) {
    let check = "ranges are ordered and capped";
    let users = [format!("a{}", fresh_token()), format!("b{}", fresh_token())];
    // Two users on day+1 and day+2, one task each, and one on day+3 outside the range.
    for d in [day + 1, day + 2] {
        for u in &users {
            ok(
                check,
                "create",
                store.create(&task_on(d, 5, u, "h"), None).await,
            );
        }
    }
    ok(
        check,
        "create",
        store
            .create(&task_on(day + 3, 5, &users[0], "h"), None)
            .await,
    );
    let (first, last) = (date_of_day(day as i64 + 1), date_of_day(day as i64 + 2));
    let series = usage::series(Interval::Day, By::User);
    let rows = ok(
        check,
        "counters",
        store.counters(&series, &first, &last, 10_000).await,
    );
    let ours: Vec<(String, String)> = rows
        .rows
        .iter()
        .filter(|r| users.contains(&r.group))
        .map(|r| (r.period.clone(), r.group.clone()))
        .collect();
    let want = vec![
        (first.clone(), users[0].clone()),
        (first.clone(), users[1].clone()),
        (last.clone(), users[0].clone()),
        (last.clone(), users[1].clone()),
    ];
    same(check, "rows in order, day+3 left out", ours, want);
    same(check, "not truncated", rows.truncated, false);
    let capped = ok(
        check,
        "counters",
        store.counters(&series, &first, &last, 1).await,
    );
    same(check, "capped rows", capped.rows.len(), 1);
    same(check, "truncated", capped.truncated, true);
}

/// A succeeded end task with a report writes one point per subject, once.
async fn coverage_points<S: TaskStore + UsageStore>(store: &S, day: u64) {
    let check = "coverage points";
    let host = format!("c{}", fresh_token());
    let build = format!("17.1.0-{}", fresh_token());
    let mut ids = Vec::new();
    for i in 0..3u64 {
        let t = task_on(day, 7_200_000 + i * 60_000, "carol", &host);
        ok(check, "create", store.create(&t, None).await);
        let start = t.id.unix_ms() + 1_000;
        let mut running = t.advance(Status::Running, start);
        running.started = Some(start);
        ok(
            check,
            "take",
            store.write_status(&running, (Status::Pending, 0)).await,
        );
        let mut done = running.advance(Status::Succeeded, start + 2_000);
        done.result = Some(serde_json::json!({
            "summary": {"lines": {"covered": 10 + i, "total": 20, "percent": 50.0}},
            "session": format!("S{i}"), "build": build,
        }));
        let effects = Effects::of_status(Status::Running, &done);
        same(check, "two subjects", effects.points.len(), 2);
        ok(
            check,
            "finish",
            store
                .write_status(&done, (Status::Running, running.version))
                .await,
        );
        // The redelivery's write loses and writes no second point.
        let again = store
            .write_status(&done, (Status::Running, running.version))
            .await;
        same(
            check,
            "redelivery loses",
            matches!(again, Err(Error::Conflict)),
            true,
        );
        ids.push(t.id);
    }
    let device = format!("cov#device#{}", crate::ports::device_key(&host, 22));
    let all = ok(
        check,
        "points",
        store.coverage_points(&device, None, None, 10).await,
    );
    let hits: Vec<u64> = all.iter().map(|p| p.lines.hit).collect();
    same(check, "oldest first, once each", hits, vec![10, 11, 12]);
    same(check, "session", all[0].session.as_deref(), Some("S0"));
    same(check, "user", all[0].user.as_str(), "carol");
    same(check, "percent", all[2].lines.percent, 60.0);
    let by_build = ok(
        check,
        "points",
        store
            .coverage_points(&format!("cov#build#{build}"), None, None, 10)
            .await,
    );
    same(check, "by build", by_build.len(), 3);
    let newest = ok(
        check,
        "points",
        store.coverage_points(&device, None, None, 2).await,
    );
    let hits: Vec<u64> = newest.iter().map(|p| p.lines.hit).collect();
    same(check, "the newest two", hits, vec![11, 12]);
    let ranged = ok(
        check,
        "points",
        store
            .coverage_points(&device, Some(&ids[1]), Some(&ids[1]), 10)
            .await,
    );
    same(check, "a range of one", ranged.len(), 1);
    same(check, "its task", ranged[0].task.clone(), ids[1].clone());
}
