//! `ccaas usage`: the usage history (`GET /v1/usage`) as a table, or the API's JSON.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

use crate::task::{connect, fail, path_segment, s_of};

/// What `ccaas usage` asks for.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Base URL of the ccaas API.
    #[arg(long, env = "CCAAS_API", default_value = "http://127.0.0.1:3000")]
    api: String,
    /// A file holding the bearer token (or set `CCAAS_TOKEN`); with auth on, an admin's.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The first day (RFC 3339 date); default: 30 days before `--to`.
    #[arg(long)]
    from: Option<String>,
    /// The last day, included; default: today.
    #[arg(long)]
    to: Option<String>,
    /// Group by `user`, `device`, `type` or `status`.
    #[arg(long, default_value = "user", value_parser = ["user", "device", "type", "status"])]
    by: String,
    /// Buckets of a `day` or a `week` (Monday first).
    #[arg(long, default_value = "day", value_parser = ["day", "week"])]
    interval: String,
}

/// Runs `ccaas usage` and returns the process exit code.
pub fn run(args: UsageArgs) -> i32 {
    let api = match connect(&args.api, args.token_file.as_ref(), args.json) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let mut q = vec![
        format!("by={}", path_segment(&args.by)),
        format!("interval={}", path_segment(&args.interval)),
    ];
    for (k, v) in [("from", &args.from), ("to", &args.to)] {
        if let Some(v) = v {
            q.push(format!("{k}={}", path_segment(v)));
        }
    }
    match api.get(&format!("/v1/usage?{}", q.join("&"))) {
        Ok(v) if api.json => {
            println!("{v}");
            0
        }
        Ok(v) => {
            print!("{}", table(&v));
            0
        }
        Err(e) => fail(&e),
    }
}

/// A duration for people: `850 ms`, `1.2 s`, `3.5 min`; `-` when absent.
fn duration(v: &Value) -> String {
    match v.as_u64() {
        None => "-".into(),
        Some(ms) if ms < 1_000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1e3),
        Some(ms) => format!("{:.1} min", ms as f64 / 6e4),
    }
}

/// The usage answer as text: a header line, one row per bucket, then the failures by code.
fn table(v: &Value) -> String {
    let by = s_of(&v["by"]);
    let mut out = format!(
        "usage {} to {}, by {by}, per {}\n",
        s_of(&v["from"]),
        s_of(&v["to"]),
        s_of(&v["interval"])
    );
    let buckets = v["buckets"].as_array().cloned().unwrap_or_default();
    let width = buckets
        .iter()
        .map(|b| s_of(&b["group"]).len())
        .chain([by.len()])
        .max()
        .unwrap_or(5);
    out.push_str(&format!(
        "{:<10}  {:<width$}  {:>9}  {:>9}  {:>6}  {:>9}  {:>9}  {:>9}\n",
        "period", by, "requested", "succeeded", "failed", "cancelled", "p50", "p95"
    ));
    for b in &buckets {
        out.push_str(&format!(
            "{:<10}  {:<width$}  {:>9}  {:>9}  {:>6}  {:>9}  {:>9}  {:>9}\n",
            s_of(&b["period"]),
            s_of(&b["group"]),
            b["requested"].to_string(),
            b["succeeded"].to_string(),
            b["failed"].to_string(),
            b["cancelled"].to_string(),
            duration(&b["duration_ms"]["p50"]),
            duration(&b["duration_ms"]["p95"]),
        ));
    }
    if buckets.is_empty() {
        out.push_str("(no tasks in the range)\n");
    }
    let failures = v["failures"].as_array().cloned().unwrap_or_default();
    if !failures.is_empty() {
        out.push_str("failures:\n");
        for f in &failures {
            out.push_str(&format!(
                "{:<10}  {}  {}\n",
                s_of(&f["period"]),
                s_of(&f["code"]),
                f["count"]
            ));
        }
    }
    if v["truncated"] == Value::Bool(true) {
        out.push_str("(truncated: ask for a shorter range or --interval week)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_usage_table_has_a_row_per_bucket_and_lists_failures_by_code() {
        let v = json!({
            "from": "2026-11-05", "to": "2026-12-05", "by": "user", "interval": "day",
            "buckets": [
                {"group": "alice", "period": "2026-12-01", "requested": 3, "succeeded": 2,
                 "failed": 1, "cancelled": 0, "duration_ms": {"p50": 1189, "p95": 95_000}},
                {"group": "bob", "period": "2026-12-01", "requested": 1, "succeeded": 0,
                 "failed": 0, "cancelled": 1, "duration_ms": null},
            ],
            "failures": [{"code": "unreachable", "period": "2026-12-01", "count": 1}],
            "truncated": false,
        });
        let t = table(&v);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "usage 2026-11-05 to 2026-12-05, by user, per day");
        assert!(lines[1].starts_with("period      user   requested"), "{t}");
        assert!(
            lines[2].starts_with(
                "2026-12-01  alice          3          2       1          0      1.2 s    1.6 min"
            ),
            "{t}"
        );
        assert!(
            lines[3].contains("bob") && lines[3].ends_with("-          -"),
            "{t}"
        );
        assert_eq!(lines[4], "failures:");
        assert_eq!(lines[5], "2026-12-01  unreachable  1");
        assert!(!t.contains("truncated"));
    }

    #[test]
    fn an_empty_range_says_so() {
        let v = json!({"from": "a", "to": "b", "by": "status", "interval": "week",
            "buckets": [], "failures": [], "truncated": true});
        let t = table(&v);
        assert!(t.contains("(no tasks in the range)"), "{t}");
        assert!(t.contains("truncated"), "{t}");
    }
}
