//! Usage history: the `GET /v1/usage` and `GET /v1/usage/coverage` queries, validated; the
//! periods buckets are keyed by (days, ISO weeks starting Monday); and the fixed log-scale
//! histogram of task durations whose bins are kept as counters.

use crate::build::BuildId;
use crate::device::DeviceKey;
use crate::id::TaskId;
use crate::submission::FieldError;
use crate::time::{DayEnd, date_of_day, parse_rfc3339};

/// One day, in milliseconds.
const DAY_MS: u64 = 86_400_000;
/// The longest range of a daily usage query, in days (both ends included).
pub const MAX_DAY_RANGE_DAYS: i64 = 366;
/// The longest range of a weekly usage query, in days (both ends included): three years.
pub const MAX_WEEK_RANGE_DAYS: i64 = 3 * 365 + 1;
/// The range of a usage query without `from`, in days before `to`.
pub const DEFAULT_RANGE_DAYS: i64 = 30;
/// The most coverage points one `GET /v1/usage/coverage` returns (the newest of the range).
pub const MAX_COVERAGE_POINTS: usize = 500;

/// What usage buckets are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum By {
    /// The task's user.
    User,
    /// The task's device, `host:port`.
    Device,
    /// The task's type (`code-coverage-start`, ...).
    Type,
    /// The task's status now: `open` (pending or running), `succeeded`, `failed`, `cancelled`.
    Status,
}

impl By {
    /// Every grouping.
    pub const ALL: [By; 4] = [By::User, By::Device, By::Type, By::Status];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            By::User => "user",
            By::Device => "device",
            By::Type => "type",
            By::Status => "status",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        By::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// How long a usage bucket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    /// One UTC day.
    Day,
    /// One ISO week, Monday to Sunday (UTC).
    Week,
}

impl Interval {
    /// Every interval.
    pub const ALL: [Interval; 2] = [Interval::Day, Interval::Week];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Interval::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// The first day (days after 1970-01-01) of the period holding day `day`: the day itself,
    /// or the Monday of its week.
    pub fn period_start(self, day: i64) -> i64 {
        match self {
            Interval::Day => day,
            // 1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Mondays.
            Interval::Week => day - (day + 3).rem_euclid(7),
        }
    }

    /// The period holding the instant `unix_ms`, as its first day's date (`2026-11-30`).
    pub fn period_of(self, unix_ms: u64) -> String {
        date_of_day(self.period_start(day_of(unix_ms)))
    }

    /// The longest range of a query at this interval, in days.
    pub fn max_range_days(self) -> i64 {
        match self {
            Interval::Day => MAX_DAY_RANGE_DAYS,
            Interval::Week => MAX_WEEK_RANGE_DAYS,
        }
    }
}

/// The day (after 1970-01-01) of the instant `unix_ms`.
pub fn day_of(unix_ms: u64) -> i64 {
    (unix_ms / DAY_MS) as i64
}

/// A validated `GET /v1/usage` query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageQuery {
    /// The first day of the range (days after 1970-01-01).
    pub from_day: i64,
    /// The last day of the range, included.
    pub to_day: i64,
    /// The grouping.
    pub by: By,
    /// The bucket length.
    pub interval: Interval,
}

impl UsageQuery {
    /// Parses query parameters (already percent-decoded): `from`, `to` (RFC 3339 date-times
    /// or dates; a date-time counts for its UTC day), `by` (default `user`) and `interval`
    /// (default `day`). Without `to` the range ends today (`now_ms`), or on `from`'s day if
    /// that is later; without `from` it starts 30 days before `to`. Errors: a [`FieldError`]
    /// naming the field: a malformed value, `to` before `from`, a range over 366 days (`day`)
    /// or three years (`week`), or an unknown parameter.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        now_ms: u64,
    ) -> Result<Self, FieldError> {
        let (mut from, mut to, mut by, mut interval) = (None, None, By::User, Interval::Day);
        for (k, v) in params {
            match k {
                "from" => from = Some(day_param("from", v)?),
                "to" => to = Some(day_param("to", v)?),
                "by" => {
                    by = By::parse(v)
                        .ok_or_else(|| bad("by", "must be user, device, type or status"))?
                }
                "interval" => {
                    interval =
                        Interval::parse(v).ok_or_else(|| bad("interval", "must be day or week"))?
                }
                other => return Err(unknown(other)),
            }
        }
        let to_day = to.unwrap_or_else(|| day_of(now_ms).max(from.unwrap_or(i64::MIN)));
        let from_day = from.unwrap_or(to_day - DEFAULT_RANGE_DAYS);
        // The field to blame: the one the caller gave (`to` when both were given).
        let blame = if to.is_some() || from.is_none() {
            "to"
        } else {
            "from"
        };
        if to_day < from_day {
            return Err(bad("to", "must not be before from"));
        }
        let max = interval.max_range_days();
        if to_day - from_day + 1 > max {
            return Err(bad(
                blame,
                &format!(
                    "the range is at most {max} days with interval={}",
                    interval.as_str()
                ),
            ));
        }
        Ok(UsageQuery {
            from_day,
            to_day,
            by,
            interval,
        })
    }

    /// The first period of the range (its first day's date).
    pub fn first_period(&self) -> String {
        date_of_day(self.interval.period_start(self.from_day))
    }

    /// The last period of the range (its first day's date).
    pub fn last_period(&self) -> String {
        date_of_day(self.interval.period_start(self.to_day))
    }
}

/// Whose coverage points a `GET /v1/usage/coverage` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoverageSubject {
    /// A device's sessions.
    Device(DeviceKey),
    /// A build's sessions, on any device.
    Build(BuildId),
}

/// A validated `GET /v1/usage/coverage` query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverageQuery {
    /// The device or the build.
    pub subject: CoverageSubject,
    /// Only sessions whose end task was created at or after this instant (Unix ms).
    pub from: Option<u64>,
    /// Only sessions whose end task was created at or before this instant (Unix ms).
    pub to: Option<u64>,
}

impl CoverageQuery {
    /// Parses query parameters: exactly one of `device` (`host:port`) and `build`, and
    /// optional `from` and `to` (RFC 3339 date-times, or dates: the first and last
    /// millisecond of the day). Errors: a [`FieldError`] naming the field.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldError> {
        let (mut subject, mut from, mut to) = (None, None, None);
        for (k, v) in params {
            let next = match k {
                "device" => Some(CoverageSubject::Device(DeviceKey::parse(v).map_err(
                    |_| bad("device", "must be host:port ([address]:port for IPv6)"),
                )?)),
                "build" => Some(CoverageSubject::Build(BuildId::parse(v)?)),
                "from" => {
                    from = Some(instant("from", v, DayEnd::Start)?);
                    None
                }
                "to" => {
                    to = Some(instant("to", v, DayEnd::End)?);
                    None
                }
                other => return Err(unknown(other)),
            };
            if let Some(s) = next {
                if subject.is_some() {
                    return Err(bad(k, "give exactly one of device and build"));
                }
                subject = Some(s);
            }
        }
        let subject = subject.ok_or_else(|| FieldError {
            code: "missing_field",
            field: "device".into(),
            message: "give exactly one of device and build".into(),
        })?;
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            return Err(bad("to", "must not be before from"));
        }
        Ok(CoverageQuery { subject, from, to })
    }

    /// The end task ids the range covers, inclusive (`None` at an open end).
    pub fn id_range(&self) -> (Option<TaskId>, Option<TaskId>) {
        (
            self.from.map(|ms| TaskId::from_parts(ms, 0)),
            self.to.map(|ms| TaskId::from_parts(ms, u128::MAX)),
        )
    }
}

fn bad(field: &str, message: &str) -> FieldError {
    FieldError {
        code: "invalid_field",
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

fn unknown(name: &str) -> FieldError {
    let field: String = name
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    FieldError {
        code: "unknown_field",
        message: format!("{field} is not a known query parameter"),
        field,
    }
}

fn instant(field: &str, v: &str, end: DayEnd) -> Result<u64, FieldError> {
    parse_rfc3339(v, end).ok_or_else(|| {
        bad(
            field,
            "must be an RFC 3339 date-time (2026-11-29T10:59:08Z) or date, 1970 to 9999",
        )
    })
}

fn day_param(field: &str, v: &str) -> Result<i64, FieldError> {
    instant(field, v, DayEnd::Start).map(day_of)
}

/// How many bins the duration histogram has.
pub const DURATION_BINS: usize = 80;

/// The upper bound of histogram bin `k`, in milliseconds: 100 ms times 2^(k/4), rounded, so
/// each bin's bound is 2^(1/4) (about 1.19) times the previous one's; bin 79's is 24.6 hours.
/// Bin 0 takes every duration up to 100 ms; the last bin also takes every duration past its
/// bound.
pub fn bin_upper_ms(k: usize) -> u64 {
    let k = k.min(DURATION_BINS - 1);
    (100.0 * 2f64.powf(k as f64 / 4.0)).round() as u64
}

/// The bin of a duration: the first whose upper bound is at least `ms` (the last bin for
/// anything longer).
pub fn bin_of(ms: u64) -> usize {
    (0..DURATION_BINS)
        .find(|&k| ms <= bin_upper_ms(k))
        .unwrap_or(DURATION_BINS - 1)
}

/// The name of bin `k`'s counter attribute: `d00` to `d79`.
pub fn bin_name(k: usize) -> String {
    format!("d{k:02}")
}

/// The `q` quantile (0 < q ≤ 1) of a histogram given as `(bin, count)` pairs, as the upper
/// bound of the bin that holds it: never below the true value, and at most 2^(1/4) times it
/// (19 % over) for durations between 100 ms and 24.6 hours. `None` when it counts nothing.
pub fn quantile(bins: &[(usize, u64)], q: f64) -> Option<u64> {
    let mut sorted: Vec<(usize, u64)> = bins.iter().copied().filter(|(_, n)| *n > 0).collect();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (k, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(bin_upper_ms(k));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEC_5_2026: u64 = 1_796_428_800_000 + 12 * 3_600_000;

    #[test]
    fn a_query_defaults_to_the_last_30_days_by_user_and_day() {
        let q = UsageQuery::parse([], DEC_5_2026).expect("valid");
        assert_eq!((q.by, q.interval), (By::User, Interval::Day));
        assert_eq!(date_of_day(q.to_day), "2026-12-05");
        assert_eq!(date_of_day(q.from_day), "2026-11-05");
        assert_eq!(q.first_period(), "2026-11-05");
    }

    #[test]
    fn weeks_start_on_monday_and_days_on_their_own_date() {
        // 2026-12-05 is a Saturday; its week began on Monday 2026-11-30.
        assert_eq!(Interval::Week.period_of(DEC_5_2026), "2026-11-30");
        assert_eq!(Interval::Day.period_of(DEC_5_2026), "2026-12-05");
        // A Monday is its own week's start; a Sunday belongs to the Monday before.
        assert_eq!(
            Interval::Week.period_of(DEC_5_2026 - 5 * DAY_MS),
            "2026-11-30"
        );
        assert_eq!(Interval::Week.period_of(DEC_5_2026 + DAY_MS), "2026-11-30");
        assert_eq!(
            Interval::Week.period_of(DEC_5_2026 + 2 * DAY_MS),
            "2026-12-07"
        );
        assert_eq!(Interval::Week.period_of(0), "1969-12-29");
    }

    #[test]
    fn bad_values_ranges_and_unknown_parameters_name_their_field() {
        let now = DEC_5_2026;
        for (params, code, field) in [
            (vec![("from", "yesterday")], "invalid_field", "from"),
            (vec![("to", "2026-02-30")], "invalid_field", "to"),
            (vec![("by", "team")], "invalid_field", "by"),
            (vec![("interval", "month")], "invalid_field", "interval"),
            (
                vec![("from", "2026-12-02"), ("to", "2026-12-01")],
                "invalid_field",
                "to",
            ),
            (
                vec![("from", "2025-01-01"), ("to", "2026-01-02")],
                "invalid_field",
                "to",
            ),
            (vec![("from", "2020-01-01")], "invalid_field", "from"),
            (
                vec![("from", "2020-01-01"), ("interval", "week")],
                "invalid_field",
                "from",
            ),
            (vec![("stauts", "x")], "unknown_field", "stauts"),
        ] {
            let e = UsageQuery::parse(params.clone(), now).unwrap_err();
            assert_eq!((e.code, e.field.as_str()), (code, field), "{params:?}");
        }
        // The limits themselves are fine: 366 days daily, three years weekly.
        assert!(UsageQuery::parse([("from", "2024-01-01"), ("to", "2024-12-31")], now).is_ok());
        let weekly = [
            ("from", "2023-12-06"),
            ("to", "2026-12-05"),
            ("interval", "week"),
        ];
        assert!(UsageQuery::parse(weekly, now).is_ok());
        // A date-time counts for its day; a future `from` alone is a one-day range.
        let q = UsageQuery::parse([("from", "2026-12-01T23:59:59Z")], now).expect("valid");
        assert_eq!(date_of_day(q.from_day), "2026-12-01");
        let q = UsageQuery::parse([("from", "2027-01-01")], now).expect("valid");
        assert_eq!(q.from_day, q.to_day);
    }

    #[test]
    fn a_coverage_query_takes_exactly_one_subject() {
        let q = CoverageQuery::parse([("device", "127.1:2222")]).expect("valid");
        assert_eq!(
            q.subject,
            CoverageSubject::Device(DeviceKey::parse("127.0.0.1:2222").unwrap())
        );
        let q = CoverageQuery::parse([("build", "17.1.0-0.0.16"), ("from", "2026-12-01")])
            .expect("valid");
        assert!(matches!(q.subject, CoverageSubject::Build(_)));
        assert!(q.id_range().0.is_some() && q.id_range().1.is_none());
        for (params, field) in [
            (vec![], "device"),
            (vec![("device", "h:22"), ("build", "1-2")], "build"),
            (vec![("device", "h")], "device"),
            (vec![("build", "..")], "build"),
            (vec![("device", "h:22"), ("from", "x")], "from"),
            (
                vec![
                    ("device", "h:22"),
                    ("from", "2026-12-02"),
                    ("to", "2026-12-01"),
                ],
                "to",
            ),
            (vec![("device", "h:22"), ("limit", "3")], "limit"),
        ] {
            let e = CoverageQuery::parse(params.clone()).unwrap_err();
            assert_eq!(e.field, field, "{params:?}");
        }
    }

    #[test]
    fn a_duration_lands_in_the_bin_whose_bound_is_at_most_19_percent_above_it() {
        assert_eq!(bin_of(0), 0);
        assert_eq!(bin_of(100), 0);
        assert_eq!(bin_of(101), 1);
        assert_eq!(bin_of(u64::MAX), DURATION_BINS - 1);
        for ms in [150, 999, 1_200, 5_100, 60_000, 3_600_000, 86_400_000] {
            let up = bin_upper_ms(bin_of(ms));
            assert!(
                up >= ms && (up as f64) <= ms as f64 * 1.19 + 1.0,
                "{ms} -> {up}"
            );
        }
        assert_eq!(bin_name(7), "d07");
    }

    #[test]
    fn quantiles_are_the_upper_bound_of_the_bin_that_holds_them() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[(3, 0)], 0.5), None);
        // 10 durations: 9 of about 1 s, one of about a minute.
        let bins = [(bin_of(60_000), 1), (bin_of(1_000), 9)];
        assert_eq!(quantile(&bins, 0.5), Some(bin_upper_ms(bin_of(1_000))));
        assert_eq!(quantile(&bins, 0.9), Some(bin_upper_ms(bin_of(1_000))));
        assert_eq!(quantile(&bins, 0.95), Some(bin_upper_ms(bin_of(60_000))));
    }
}
