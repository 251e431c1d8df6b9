//! `GET /v1/tasks` query parameters, validated.

use crate::device::{DeviceHost, DeviceKey};
use crate::submission::{FieldError, check_user};
use crate::task::{Status, TaskType};
use crate::time::{DayEnd, parse_rfc3339};

/// The largest page.
pub const MAX_LIMIT: usize = 100;
/// The page size when none is given.
pub const DEFAULT_LIMIT: usize = 25;
/// The longest date range of a list query (`from` to `to`), in days.
pub const MAX_RANGE_DAYS: u64 = 366;

/// A validated list query. Behind the `openapi` feature it also gives the OpenAPI document the
/// query parameters of `GET /v1/tasks`, all optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct ListQuery {
    /// Only tasks in this status.
    pub status: Option<Status>,
    /// Only tasks of this user.
    #[cfg_attr(feature = "openapi", param(value_type = Option<crate::openapi::UserName>))]
    pub user: Option<String>,
    /// Only tasks of this type.
    #[cfg_attr(feature = "openapi", param(rename = "type"))]
    pub task_type: Option<TaskType>,
    /// Only tasks on this device: `host:port` (`[v6]:port` for IPv6), or a host alone for
    /// every port of it. Any spelling of the host is taken (`127.1:22` is `127.0.0.1:22`).
    #[cfg_attr(feature = "openapi", param(value_type = Option<crate::openapi::DeviceFilter>))]
    pub device: Option<String>,
    /// The device's port, when `device` named one (parsed out of `device`; no parameter of
    /// its own).
    #[cfg_attr(feature = "openapi", param(ignore))]
    pub port: Option<u16>,
    /// Only tasks created at or after this instant: an RFC 3339 date-time, or a date alone
    /// (its first millisecond, UTC). With `to`, at most 366 days before it.
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime))]
    pub from: Option<u64>,
    /// Only tasks created at or before this instant: an RFC 3339 date-time, or a date alone
    /// (its last millisecond, UTC). Not before `from`.
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime))]
    pub to: Option<u64>,
    /// Page size: 1 to 100 (`MAX_LIMIT`), 25 by default.
    #[cfg_attr(
        feature = "openapi",
        param(required = false, minimum = 1, maximum = 100, default = 25)
    )]
    pub limit: usize,
    /// The cursor of the previous page (its `next`).
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 2048))]
    pub next: Option<String>,
}

impl ListQuery {
    /// The query's filters as one string, which stores bind their cursors to: a cursor made
    /// for other filters is refused rather than continued under the new ones.
    ///
    /// A query without a port or a date range gives the key it gave before they existed, so
    /// a cursor handed out by the previous release still works during a canary deployment.
    pub fn filters_key(&self) -> String {
        let mut key = format!(
            "{}/{}/{}/{}",
            self.status.map(|s| s.as_str()).unwrap_or(""),
            self.user.as_deref().unwrap_or(""),
            self.task_type.map(|t| t.as_str()).unwrap_or(""),
            self.device.as_deref().unwrap_or("")
        );
        if let Some(p) = self.port {
            key.push_str(&format!(":{p}"));
        }
        if self.from.is_some() || self.to.is_some() {
            let end = |t: Option<u64>| t.map(|t| t.to_string()).unwrap_or_default();
            key.push_str(&format!("/{}-{}", end(self.from), end(self.to)));
        }
        key
    }

    /// Parses query parameters (already percent-decoded). Unknown parameters are an error,
    /// so a typo such as `stauts=` is not silently ignored.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldError> {
        let mut q = ListQuery {
            limit: DEFAULT_LIMIT,
            ..Default::default()
        };
        let bad = |field: &str, message: &str| FieldError {
            code: "invalid_field",
            field: field.to_owned(),
            message: message.to_owned(),
        };
        for (k, v) in params {
            match k {
                "status" => {
                    q.status = Some(Status::parse(v).ok_or_else(|| {
                        bad("status", "must be pending, running, succeeded or failed")
                    })?)
                }
                "user" => {
                    check_user(v)?;
                    q.user = Some(v.to_owned());
                }
                "type" => q.task_type = Some(TaskType::parse(v).ok_or_else(|| {
                    bad(
                        "type",
                        "must be code-coverage-start, code-coverage-end, code-coverage-discard or code-coverage-merge",
                    )
                })?),
                "device" => {
                    // Canonical, as tasks store it: `127.1:22` finds the tasks of
                    // `127.0.0.1:22`. A device key first (the devices table's, the message
                    // group's); else a host alone (every port).
                    let (host, port) = match DeviceKey::parse(v) {
                        Ok(k) => (k.host, Some(k.port)),
                        Err(_) => (
                            DeviceHost::parse(v).map_err(|_| {
                                bad(
                                    "device",
                                    "must be host:port ([address]:port for IPv6) or a host name or IP",
                                )
                            })?,
                            None,
                        ),
                    };
                    q.device = Some(host.to_string());
                    q.port = port;
                }
                "from" => {
                    q.from = Some(parse_rfc3339(v, DayEnd::Start).ok_or_else(|| {
                        bad("from", "must be an RFC 3339 date-time (2026-11-29T10:59:08Z) or date, 1970 to 9999")
                    })?)
                }
                "to" => {
                    q.to = Some(parse_rfc3339(v, DayEnd::End).ok_or_else(|| {
                        bad("to", "must be an RFC 3339 date-time (2026-11-29T10:59:08Z) or date, 1970 to 9999")
                    })?)
                }
                "limit" => {
                    q.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| bad("limit", "must be an integer from 1 to 100"))?
                }
                "next" => {
                    if v.is_empty() || v.len() > 2048 {
                        return Err(bad("next", "is not a cursor from this API"));
                    }
                    q.next = Some(v.to_owned());
                }
                other => {
                    let field: String = other
                        .chars()
                        .take(64)
                        .flat_map(char::escape_default)
                        .collect();
                    return Err(FieldError {
                        code: "unknown_field",
                        message: format!("{field} is not a known query parameter"),
                        field,
                    });
                }
            }
        }
        if let (Some(from), Some(to)) = (q.from, q.to) {
            if to < from {
                return Err(bad("to", "must not be before from"));
            }
            if to - from >= MAX_RANGE_DAYS * 86_400_000 {
                return Err(bad("to", "must be at most 366 days after from"));
            }
        }
        Ok(q)
    }

    /// The task ids a date range covers, as the inclusive bounds `(lowest, highest)` of the
    /// id order (ids begin with their creation time, so the range is an id range); `None` at
    /// an open end. Stores put it in the key condition of their query.
    pub fn id_range(&self) -> (Option<crate::TaskId>, Option<crate::TaskId>) {
        (
            self.from.map(|ms| crate::TaskId::from_parts(ms, 0)),
            self.to.map(|ms| crate::TaskId::from_parts(ms, u128::MAX)),
        )
    }
}

/// The query of `GET /v1/devices`: a page size and a cursor, with the rules (and messages) of
/// the task list's `limit` and `next`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct DeviceQuery {
    /// Page size: 1 to 100 (`MAX_LIMIT`), 25 by default.
    #[cfg_attr(
        feature = "openapi",
        param(required = false, minimum = 1, maximum = 100, default = 25)
    )]
    pub limit: usize,
    /// The cursor of the previous page (its `next`).
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 2048))]
    pub next: Option<String>,
}

impl DeviceQuery {
    /// Parses query parameters (already percent-decoded); any other parameter than `limit`
    /// and `next` is an `unknown_field` error naming it.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldError> {
        let mut q = DeviceQuery {
            limit: DEFAULT_LIMIT,
            next: None,
        };
        for (k, v) in params {
            // The task list's filters are unknown here; its page rules are the same.
            let one = match k {
                "limit" | "next" => ListQuery::parse([(k, v)])?,
                other => {
                    let field: String = other
                        .chars()
                        .take(64)
                        .flat_map(char::escape_default)
                        .collect();
                    return Err(FieldError {
                        code: "unknown_field",
                        message: format!("{field} is not a known query parameter"),
                        field,
                    });
                }
            };
            match k {
                "limit" => q.limit = one.limit,
                _ => q.next = one.next,
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_query_takes_only_a_limit_and_a_cursor() {
        let q = DeviceQuery::parse([("limit", "7"), ("next", "abc")]).expect("valid");
        assert_eq!((q.limit, q.next.as_deref()), (7, Some("abc")));
        assert_eq!(DeviceQuery::parse([]).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(
            DeviceQuery::parse([("limit", "101")]).unwrap_err().field,
            "limit"
        );
        let e = DeviceQuery::parse([("user", "bob")]).unwrap_err();
        assert_eq!((e.code, e.field.as_str()), ("unknown_field", "user"));
        let e = DeviceQuery::parse([("stauts", "x")]).unwrap_err();
        assert_eq!((e.code, e.field.as_str()), ("unknown_field", "stauts"));
    }

    #[test]
    fn filters_and_limits_parse() {
        let q = ListQuery::parse([("status", "running"), ("user", "bob"), ("limit", "100")])
            .expect("valid");
        assert_eq!(q.status, Some(Status::Running));
        assert_eq!(q.user.as_deref(), Some("bob"));
        assert_eq!(q.limit, 100);
    }

    #[test]
    fn a_device_filter_takes_a_device_key_or_a_host_in_any_spelling() {
        let q = ListQuery::parse([("device", "127.1:2222")]).expect("valid");
        assert_eq!(
            (q.device.as_deref(), q.port),
            (Some("127.0.0.1"), Some(2222))
        );
        let q = ListQuery::parse([("device", "[FD00::1]:22")]).expect("valid");
        assert_eq!((q.device.as_deref(), q.port), (Some("fd00::1"), Some(22)));
        let q = ListQuery::parse([("device", "LOCALHOST.")]).expect("valid");
        assert_eq!((q.device.as_deref(), q.port), (Some("127.0.0.1"), None));
        let q = ListQuery::parse([("device", "Bigip.Lab.:830")]).expect("valid");
        assert_eq!(
            (q.device.as_deref(), q.port),
            (Some("bigip.lab"), Some(830))
        );
        let q = ListQuery::parse([("device", "::1")]).expect("valid");
        assert_eq!((q.device.as_deref(), q.port), (Some("::1"), None));
        for bad in ["127.0.0.1:0", "127.0.0.1:65536", "a b", "[::1]22", ""] {
            let e = ListQuery::parse([("device", bad)]).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_str()),
                ("invalid_field", "device"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_date_range_is_parsed_checked_and_bound_into_the_cursor_key() {
        let q = ListQuery::parse([("from", "2026-11-01"), ("to", "2026-11-30")]).expect("valid");
        assert_eq!(q.from, Some(1_793_491_200_000));
        assert_eq!(q.to, Some(1_793_491_200_000 + 30 * 86_400_000 - 1));
        let (lo, hi) = q.id_range();
        let (lo, hi) = (lo.expect("lo"), hi.expect("hi"));
        assert_eq!(
            (lo.unix_ms(), hi.unix_ms()),
            (q.from.unwrap(), q.to.unwrap())
        );
        assert!(lo < hi);
        assert_ne!(q.filters_key(), ListQuery::parse([]).unwrap().filters_key());
        assert_eq!(ListQuery::parse([]).unwrap().filters_key(), "///");
        for (params, field) in [
            (vec![("from", "yesterday")], "from"),
            (vec![("to", "2026-11-31")], "to"),
            (vec![("from", "2026-11-02"), ("to", "2026-11-01")], "to"),
            (vec![("from", "2025-01-01"), ("to", "2026-01-02")], "to"),
            (
                vec![
                    ("from", "2025-01-01T00:00:00Z"),
                    ("to", "2026-01-02T00:00:00Z"),
                ],
                "to",
            ),
        ] {
            let e = ListQuery::parse(params.clone()).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_str()),
                ("invalid_field", field),
                "{params:?}"
            );
        }
        // 366 days is the longest range (end of day included); one end alone is open.
        assert!(ListQuery::parse([("from", "2024-01-01"), ("to", "2024-12-31")]).is_ok());
        assert!(ListQuery::parse([("from", "2025-01-01"), ("to", "2026-01-01")]).is_ok());
        assert!(ListQuery::parse([("from", "1970-01-01")]).is_ok());
    }

    #[test]
    fn out_of_range_limits_and_unknown_parameters_are_named() {
        assert_eq!(
            ListQuery::parse([("limit", "101")]).unwrap_err().field,
            "limit"
        );
        assert_eq!(
            ListQuery::parse([("limit", "0")]).unwrap_err().field,
            "limit"
        );
        assert_eq!(
            ListQuery::parse([("stauts", "x")]).unwrap_err().field,
            "stauts"
        );
    }
}
