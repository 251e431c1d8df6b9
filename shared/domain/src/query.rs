//! `GET /v1/tasks` query parameters, validated.

use crate::device::DeviceHost;
use crate::submission::{FieldError, check_user};
use crate::task::{Status, TaskType};

/// The largest page.
pub const MAX_LIMIT: usize = 100;
/// The page size when none is given.
pub const DEFAULT_LIMIT: usize = 25;

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
    /// Only tasks on this device host.
    #[cfg_attr(feature = "openapi", param(value_type = Option<crate::openapi::HostName>))]
    pub device: Option<String>,
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
    pub fn filters_key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.status.map(|s| s.as_str()).unwrap_or(""),
            self.user.as_deref().unwrap_or(""),
            self.task_type.map(|t| t.as_str()).unwrap_or(""),
            self.device.as_deref().unwrap_or("")
        )
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
                        "must be code-coverage-start, code-coverage-end or code-coverage-discard",
                    )
                })?),
                "device" => {
                    // Canonical, as tasks store it: `127.1` finds the tasks of `127.0.0.1`.
                    let host = DeviceHost::parse(v)
                        .map_err(|_| bad("device", "must be a host name or IP"))?;
                    q.device = Some(host.to_string());
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
        Ok(q)
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
