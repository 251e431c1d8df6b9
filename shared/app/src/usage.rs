//! Usage history: which counters a task's creation and its terminal write add to (so the
//! store writes them in the same atomic write as the task, and a write that loses its
//! condition counts nothing), the coverage point of a succeeded end task, and the
//! `GET /v1/usage` and `GET /v1/usage/coverage` answers assembled from what
//! [`UsageStore`](crate::ports::UsageStore) reads.
//!
//! Layout (the same in every store): a counter item is keyed by its series,
//! `<interval>#<by>` (`day#user`, `week#status`, ...) or `<interval>#failure`, and
//! `<period>#<group>` (`2026-11-30#alice`), so one range query per series reads a query's
//! buckets. Every counter of a task goes to the period of its creation (its id's time), so a
//! bucket's `requested` is never below its `succeeded + failed + cancelled`.

use std::collections::BTreeMap;

use ccaas_domain::usage::{
    By, CoverageQuery, CoverageSubject, DURATION_BINS, Interval, MAX_COVERAGE_POINTS, UsageQuery,
    bin_name, bin_of, quantile,
};
use ccaas_domain::{CANCELLED, Status, Task, TaskId, TaskType};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ports::{UsageStore, device_key};

/// The most counter items one series query reads; past it the answer is `truncated`.
pub const MAX_COUNTER_ROWS: usize = 20_000;
/// The longest failure code or group kept in a counter key; longer ones are cut.
const MAX_GROUP_LEN: usize = 256;

/// The counter attributes of a bucket.
pub const REQUESTED: &str = "requested";
/// Tasks that succeeded.
pub const SUCCEEDED: &str = "succeeded";
/// Tasks that failed (cancellations excepted).
pub const FAILED: &str = "failed";
/// Tasks cancelled while pending.
pub const CANCELLED_FIELD: &str = "cancelled";
/// A failure item's counter.
pub const COUNT: &str = "count";
/// The `by=status` group of tasks not finished yet.
pub const OPEN: &str = "open";

/// The series of `by` at `interval`: the hash key of its counter items.
pub fn series(interval: Interval, by: By) -> String {
    format!("{}#{}", interval.as_str(), by.as_str())
}

/// The series of the failure codes at `interval`.
pub fn failure_series(interval: Interval) -> String {
    format!("{}#failure", interval.as_str())
}

/// The hash key of a subject's coverage points: `cov#device#<host:port>` or
/// `cov#build#<build id>`.
pub fn coverage_key(subject: &CoverageSubject) -> String {
    match subject {
        CoverageSubject::Device(k) => format!("cov#device#{k}"),
        CoverageSubject::Build(b) => format!("cov#build#{b}"),
    }
}

/// One atomic ADD on a counter item, created by the first ADD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterAdd {
    /// The item's series ([`series`], [`failure_series`]).
    pub series: String,
    /// The item's `<period>#<group>`.
    pub sk: String,
    /// `(attribute, delta)` pairs, each attribute once.
    pub adds: Vec<(String, i64)>,
}

/// One counter item read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterRow {
    /// The period's first day, `YYYY-MM-DD`.
    pub period: String,
    /// The group (a user, a device, a type, a status or a failure code).
    pub group: String,
    /// Its counters by attribute name.
    pub values: BTreeMap<String, i64>,
}

impl CounterRow {
    /// Splits a sort key `<period>#<group>` (periods are 10 characters); `None` otherwise.
    pub fn from_sk(sk: &str, values: BTreeMap<String, i64>) -> Option<CounterRow> {
        let (period, group) = (sk.get(..10)?, sk.get(11..)?);
        (sk.as_bytes().get(10) == Some(&b'#')).then(|| CounterRow {
            period: period.to_owned(),
            group: group.to_owned(),
            values,
        })
    }

    fn get(&self, attr: &str) -> u64 {
        self.values.get(attr).copied().unwrap_or(0).max(0) as u64
    }
}

/// What a series query read: its items in `(period, group)` order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterRows {
    /// The items.
    pub rows: Vec<CounterRow>,
    /// Whether the range held more than the query read.
    pub truncated: bool,
}

/// A line coverage count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CoverageLines))]
pub struct Lines {
    /// Lines executed.
    pub hit: u64,
    /// Instrumented lines.
    pub total: u64,
    /// `hit / total` in percent, two decimals (0 for no lines).
    pub percent: f64,
}

/// One session's line coverage, written when its end task succeeds with a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoveragePoint {
    /// The end task.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::TaskId))]
    pub task: TaskId,
    /// The session (its start task's id), as the end task's `result.session` shows it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub session: Option<String>,
    /// The end task's label.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub name: Option<String>,
    /// The end task's user.
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::openapi::UserName))]
    pub user: String,
    /// The device, `host:port`.
    pub device: String,
    /// The device's build, as the end task's `result.build` shows it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub build: Option<String>,
    /// When the end task finished, RFC 3339 UTC.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub finished: String,
    /// The report's line coverage.
    pub lines: Lines,
}

/// What a task write adds to the usage history, written by the store in the same atomic
/// write as the task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    /// Counter ADDs, each on its own item.
    pub counters: Vec<CounterAdd>,
    /// Coverage points to put, by hash key ([`coverage_key`]).
    pub points: Vec<(String, CoveragePoint)>,
}

impl Effects {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.points.is_empty()
    }

    /// What creating `task` adds: `requested` once in each grouping and interval (`by=status`
    /// in the group `open`).
    pub fn of_create(task: &Task) -> Effects {
        let mut counters = Vec::new();
        for interval in Interval::ALL {
            let period = interval.period_of(task.id.unix_ms());
            for by in By::ALL {
                let group = match by {
                    By::Status => OPEN.to_owned(),
                    other => group_of(task, other),
                };
                counters.push(CounterAdd {
                    series: series(interval, by),
                    sk: format!("{period}#{group}"),
                    adds: vec![(REQUESTED.into(), 1)],
                });
            }
        }
        Effects {
            counters,
            points: Vec::new(),
        }
    }

    /// What the status write from `from` to `next` adds: nothing unless it ends the task.
    /// A terminal write adds its outcome (`succeeded`, `failed`, or `cancelled` for a failure
    /// with code `cancelled`) and its duration's histogram bin (when it ran) in each grouping
    /// and interval, moves it from `open` to its outcome under `by=status`, counts a failure's
    /// code, and gives a succeeded end task with a report its coverage points.
    pub fn of_status(from: Status, next: &Task) -> Effects {
        if from.is_terminal() || !next.status.is_terminal() {
            return Effects::default();
        }
        let outcome = outcome(next);
        let mut adds = vec![(outcome.to_owned(), 1)];
        if let Some(ms) = duration_ms(next) {
            adds.push((bin_name(bin_of(ms)), 1));
        }
        let mut counters = Vec::new();
        for interval in Interval::ALL {
            let period = interval.period_of(next.id.unix_ms());
            for by in By::ALL {
                if by == By::Status {
                    counters.push(CounterAdd {
                        series: series(interval, by),
                        sk: format!("{period}#{OPEN}"),
                        adds: vec![(REQUESTED.into(), -1)],
                    });
                    let mut moved = adds.clone();
                    moved.push((REQUESTED.into(), 1));
                    counters.push(CounterAdd {
                        series: series(interval, by),
                        sk: format!("{period}#{outcome}"),
                        adds: moved,
                    });
                } else {
                    counters.push(CounterAdd {
                        series: series(interval, by),
                        sk: format!("{period}#{}", group_of(next, by)),
                        adds: adds.clone(),
                    });
                }
            }
            if outcome == FAILED {
                let code = next.error.as_ref().map_or("unknown", |e| e.code.as_str());
                counters.push(CounterAdd {
                    series: failure_series(interval),
                    sk: format!("{period}#{}", cut(code)),
                    adds: vec![(COUNT.into(), 1)],
                });
            }
        }
        let points = coverage_point(next)
            .map(|p| {
                let mut keys = vec![format!("cov#device#{}", p.device)];
                if let Some(b) = p
                    .build
                    .as_deref()
                    .and_then(|b| ccaas_domain::BuildId::parse(b).ok())
                {
                    keys.push(coverage_key(&CoverageSubject::Build(b)));
                }
                keys.into_iter().map(|k| (k, p.clone())).collect()
            })
            .unwrap_or_default();
        Effects { counters, points }
    }
}

/// The outcome counter of a terminal task.
fn outcome(task: &Task) -> &'static str {
    match task.status {
        Status::Succeeded => SUCCEEDED,
        _ if task.error.as_ref().is_some_and(|e| e.code == CANCELLED) => CANCELLED_FIELD,
        _ => FAILED,
    }
}

/// How long a finished task ran: from its first `running` write to its terminal write.
/// `None` for a task that never ran.
pub fn duration_ms(task: &Task) -> Option<u64> {
    let started = task.started?;
    let ended =
        ccaas_domain::time::parse_rfc3339(&task.updated, ccaas_domain::time::DayEnd::Start)?;
    Some(ended.saturating_sub(started))
}

fn cut(s: &str) -> &str {
    match s.char_indices().nth(MAX_GROUP_LEN) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The task's group under `by` (not `by=status`, whose group changes with the task).
fn group_of(task: &Task, by: By) -> String {
    match by {
        By::User => cut(&task.user).to_owned(),
        By::Device => device_key(&task.device, task.port),
        By::Type => task.task_type.as_str().to_owned(),
        By::Status => task.status.as_str().to_owned(),
    }
}

/// The coverage point of a succeeded end task whose result has a report
/// (`summary.lines`); `None` otherwise.
pub fn coverage_point(task: &Task) -> Option<CoveragePoint> {
    if task.status != Status::Succeeded || task.task_type != TaskType::CoverageEnd {
        return None;
    }
    let result = task.result.as_ref()?;
    let lines = result.pointer("/summary/lines")?;
    let hit = lines.get("covered")?.as_u64()?;
    let total = lines.get("total")?.as_u64()?;
    let percent = if total == 0 {
        0.0
    } else {
        (hit as f64 * 10_000.0 / total as f64).round() / 100.0
    };
    let text = |k: &str| {
        result
            .get(k)
            .and_then(serde_json::Value::as_str)
            .map(|s| cut(s).to_owned())
    };
    Some(CoveragePoint {
        task: task.id.clone(),
        session: text("session"),
        name: task.name.clone(),
        user: task.user.clone(),
        device: device_key(&task.device, task.port),
        build: text("build"),
        finished: task.updated.clone(),
        lines: Lines {
            hit,
            total,
            percent,
        },
    })
}

/// Duration quantiles of a bucket, in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Durations {
    /// The median: the upper bound of the histogram bin holding it (at most 19 % above the
    /// true value).
    pub p50: u64,
    /// The 95th percentile, likewise.
    pub p95: u64,
}

/// One bucket of `GET /v1/usage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = UsageBucket))]
pub struct Bucket {
    /// The group's value: a user, a device `host:port`, a task type, or a status (`open`,
    /// `succeeded`, `failed`, `cancelled`).
    pub group: String,
    /// The period's first day (a Monday for weeks), `YYYY-MM-DD`.
    pub period: String,
    /// Tasks created in the period (for `by=status`: those now in the group).
    pub requested: u64,
    /// Of those, how many succeeded.
    pub succeeded: u64,
    /// Of those, how many failed (cancellations not counted).
    pub failed: u64,
    /// Of those, how many were cancelled while pending.
    pub cancelled: u64,
    /// Run time (first `running` to the terminal write) of the finished tasks that ran;
    /// null when none did.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub duration_ms: Option<Durations>,
}

/// A failure code's count in a period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = UsageFailure))]
pub struct Failure {
    /// The task error code.
    pub code: String,
    /// The period's first day, `YYYY-MM-DD`.
    pub period: String,
    /// Failed tasks created in the period with this code.
    pub count: u64,
}

/// The body of `GET /v1/usage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Usage))]
pub struct UsageView {
    /// The range's first day, `YYYY-MM-DD`.
    pub from: String,
    /// The range's last day (included), `YYYY-MM-DD`.
    pub to: String,
    /// The grouping: `user`, `device`, `type` or `status`.
    pub by: &'static str,
    /// `day` or `week`.
    pub interval: &'static str,
    /// The buckets with any count, by period then group.
    pub buckets: Vec<Bucket>,
    /// Failures by code and period, whatever the grouping.
    pub failures: Vec<Failure>,
    /// Whether the range held more than 20,000 buckets (or failure rows) and the latest
    /// periods were left out: ask for a shorter range or weeks.
    pub truncated: bool,
}

/// The body of `GET /v1/usage/coverage`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CoverageTrend))]
pub struct CoverageView {
    /// The sessions' coverage, oldest first (by end task), at most the newest 500 of the
    /// range.
    pub points: Vec<CoveragePoint>,
    /// Whether the range held more than 500 points (the oldest were left out).
    pub truncated: bool,
}

/// Answers a usage query from the store's counters. Read-only: one series query for the
/// buckets and one for the failures. Errors: [`Error::Unavailable`], [`Error::Corrupt`].
pub async fn usage<S: UsageStore>(store: &S, q: &UsageQuery) -> Result<UsageView, Error> {
    let (first, last) = (q.first_period(), q.last_period());
    let rows = store
        .counters(&series(q.interval, q.by), &first, &last, MAX_COUNTER_ROWS)
        .await?;
    let fails = store
        .counters(&failure_series(q.interval), &first, &last, MAX_COUNTER_ROWS)
        .await?;
    let mut buckets: Vec<Bucket> = rows
        .rows
        .iter()
        .map(|r| {
            let bins: Vec<(usize, u64)> = (0..DURATION_BINS)
                .map(|k| (k, r.get(&bin_name(k))))
                .filter(|(_, n)| *n > 0)
                .collect();
            Bucket {
                group: r.group.clone(),
                period: r.period.clone(),
                requested: r.get(REQUESTED),
                succeeded: r.get(SUCCEEDED),
                failed: r.get(FAILED),
                cancelled: r.get(CANCELLED_FIELD),
                duration_ms: quantile(&bins, 0.5)
                    .zip(quantile(&bins, 0.95))
                    .map(|(p50, p95)| Durations { p50, p95 }),
            }
        })
        .filter(|b| b.requested + b.succeeded + b.failed + b.cancelled > 0)
        .collect();
    buckets.sort_by(|a, b| (&a.period, &a.group).cmp(&(&b.period, &b.group)));
    let mut failures: Vec<Failure> = fails
        .rows
        .iter()
        .map(|r| Failure {
            code: r.group.clone(),
            period: r.period.clone(),
            count: r.get(COUNT),
        })
        .filter(|f| f.count > 0)
        .collect();
    failures.sort_by(|a, b| (&a.period, &a.code).cmp(&(&b.period, &b.code)));
    Ok(UsageView {
        from: ccaas_domain::time::date_of_day(q.from_day),
        to: ccaas_domain::time::date_of_day(q.to_day),
        by: q.by.as_str(),
        interval: q.interval.as_str(),
        buckets,
        failures,
        truncated: rows.truncated || fails.truncated,
    })
}

/// Answers a coverage query: the newest 500 points of the range, oldest first. Read-only.
/// Errors: [`Error::Unavailable`], [`Error::Corrupt`].
pub async fn coverage<S: UsageStore>(store: &S, q: &CoverageQuery) -> Result<CoverageView, Error> {
    let (lo, hi) = q.id_range();
    let mut points = store
        .coverage_points(
            &coverage_key(&q.subject),
            lo.as_ref(),
            hi.as_ref(),
            MAX_COVERAGE_POINTS + 1,
        )
        .await?;
    let truncated = points.len() > MAX_COVERAGE_POINTS;
    if truncated {
        points.remove(0);
    }
    Ok(CoverageView { points, truncated })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccaas_domain::TaskError;

    fn finished(status: Status, code: Option<&str>, ran_ms: Option<u64>) -> Task {
        let id = TaskId::from_parts(1_796_428_800_000, 7);
        let mut t = crate::contract::task_store::task(id, "alice");
        let end = 1_796_428_800_000 + 60_000;
        t.status = status;
        t.updated = ccaas_domain::rfc3339(end);
        t.started = ran_ms.map(|d| end - d);
        t.error = code.map(|c| TaskError {
            code: c.into(),
            message: "x".into(),
        });
        t
    }

    #[test]
    fn a_creation_counts_once_per_grouping_and_interval() {
        let t = finished(Status::Pending, None, None);
        let e = Effects::of_create(&t);
        assert_eq!(e.counters.len(), 8);
        let keys: std::collections::BTreeSet<_> =
            e.counters.iter().map(|c| (&c.series, &c.sk)).collect();
        assert_eq!(keys.len(), 8, "each item once");
        assert!(
            e.counters
                .iter()
                .any(|c| c.series == "week#user" && c.sk == "2026-11-30#alice")
        );
        assert!(
            e.counters
                .iter()
                .any(|c| c.series == "day#status" && c.sk == "2026-12-05#open")
        );
        assert!(
            e.counters
                .iter()
                .any(|c| c.series == "day#device" && c.sk == "2026-12-05#127.0.0.1:22")
        );
    }

    #[test]
    fn only_a_terminal_write_from_an_open_status_counts() {
        let ok = finished(Status::Succeeded, None, Some(1_200));
        assert!(Effects::of_status(Status::Succeeded, &ok).is_empty());
        assert!(
            Effects::of_status(Status::Pending, &finished(Status::Running, None, None)).is_empty()
        );
        let e = Effects::of_status(Status::Running, &ok);
        // 3 groupings + open/outcome for status, in 2 intervals; no failure item.
        assert_eq!(e.counters.len(), 10);
        let user = e
            .counters
            .iter()
            .find(|c| c.series == "day#user")
            .expect("user item");
        assert_eq!(
            user.adds,
            vec![("succeeded".into(), 1), (bin_name(bin_of(1_200)), 1)]
        );
    }

    #[test]
    fn a_failure_counts_its_code_and_a_cancellation_is_no_failure() {
        let e = Effects::of_status(
            Status::Running,
            &finished(Status::Failed, Some("unreachable"), Some(5)),
        );
        assert!(
            e.counters
                .iter()
                .any(|c| c.series == "week#failure" && c.sk == "2026-11-30#unreachable")
        );
        let e = Effects::of_status(
            Status::Pending,
            &finished(Status::Failed, Some(CANCELLED), None),
        );
        assert!(e.counters.iter().all(|c| !c.series.ends_with("#failure")));
        let status = e
            .counters
            .iter()
            .find(|c| c.series == "day#status" && c.sk.ends_with("#cancelled"))
            .expect("moved to cancelled");
        assert_eq!(
            status.adds,
            vec![("cancelled".into(), 1), ("requested".into(), 1)]
        );
    }

    #[test]
    fn a_succeeded_end_task_with_a_report_makes_a_point_for_its_device_and_build() {
        let mut t = finished(Status::Succeeded, None, Some(1_000));
        t.result = Some(serde_json::json!({
            "summary": {"lines": {"covered": 3, "total": 8, "percent": 37.5}},
            "session": "01M8KGNN77WZXS3YCVX8M82WG8", "build": "17.1.0-0.0.16",
        }));
        let e = Effects::of_status(Status::Running, &t);
        let keys: Vec<&str> = e.points.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["cov#device#127.0.0.1:22", "cov#build#17.1.0-0.0.16"]);
        let p = &e.points[0].1;
        assert_eq!((p.lines.hit, p.lines.total, p.lines.percent), (3, 8, 37.5));
        t.task_type = TaskType::CoverageStart;
        assert!(Effects::of_status(Status::Running, &t).points.is_empty());
    }

    #[test]
    fn a_sort_key_splits_into_period_and_group() {
        let r = CounterRow::from_sk("2026-11-30#[fd00::1]:22", BTreeMap::new()).expect("splits");
        assert_eq!(
            (r.period.as_str(), r.group.as_str()),
            ("2026-11-30", "[fd00::1]:22")
        );
        assert!(CounterRow::from_sk("2026-11-30", BTreeMap::new()).is_none());
        assert!(CounterRow::from_sk("2026-11-30xalice", BTreeMap::new()).is_none());
    }
}
