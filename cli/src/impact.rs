//! `ccaas impact`: which sessions ran the lines a changelist changes (`POST /v1/impact`).

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::task::{answer, bearer, fail, s_of};

/// Which test sessions ran the lines a diff changes, and which changed lines none ran.
#[derive(Debug, Args)]
pub struct ImpactArgs {
    /// The unified diff (`git diff`, `diff -u`); `-` reads it from standard input.
    #[arg(long, value_name = "FILE")]
    diff: PathBuf,
    /// The build whose sessions to read (default: the newest indexed build).
    #[arg(long)]
    build: Option<String>,
    /// Only sessions run on this device (`host:port`, or a host).
    #[arg(long)]
    device: Option<String>,
    /// Base URL of the ccaas API.
    #[arg(long, env = "CCAAS_API", default_value = "http://127.0.0.1:3000")]
    api: String,
    /// A file holding the bearer token (or `CCAAS_TOKEN`).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `ccaas impact`; the exit code.
pub fn run(args: ImpactArgs) -> i32 {
    match impact(&args) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

fn impact(args: &ImpactArgs) -> Result<(), String> {
    let mut diff = String::new();
    if args.diff.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut diff)
            .map_err(|e| format!("cannot read the diff from standard input: {e}"))?;
    } else {
        diff = std::fs::read_to_string(&args.diff)
            .map_err(|e| format!("cannot read the diff {}: {e}", args.diff.display()))?;
    }
    let headers = bearer(args.token_file.as_ref(), std::env::var("CCAAS_TOKEN").ok())?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .default_headers(headers)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut body = json!({ "diff": diff });
    if let Some(b) = &args.build {
        body["build"] = json!(b);
    }
    if let Some(d) = &args.device {
        body["device"] = json!(d);
    }
    let base = args.api.trim_end_matches('/');
    let r = client
        .post(format!("{base}/v1/impact"))
        .json(&body)
        .send()
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    let text = answer(r)?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("the API answered with non-JSON: {e}"))?;
    if args.json {
        println!("{v}");
    } else {
        print!("{}", table(&v));
    }
    Ok(())
}

/// The answer as text: a line of totals, a row per session, then the uncovered lines.
pub fn table(v: &Value) -> String {
    let mut out = String::new();
    let build = v["build"].as_str().unwrap_or("(no indexed build)");
    let sessions = v["sessions"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!(
        "build {build}: {} changed lines, {} sessions read, {} ran changed lines\n",
        v["changed_lines"],
        v["sessions_read"],
        sessions.len()
    ));
    if !sessions.is_empty() {
        out.push_str(&format!(
            "{:>5}  {:<26}  {:<26}  {:<16}  {}\n",
            "LINES", "SESSION", "TASK", "USER", "NAME"
        ));
        for s in &sessions {
            out.push_str(&format!(
                "{:>5}  {:<26}  {:<26}  {:<16}  {}\n",
                s["lines_hit"].as_u64().unwrap_or(0),
                s_of(&s["session"]),
                s_of(&s["task"]),
                s_of(&s["user"]),
                s["name"].as_str().unwrap_or("-")
            ));
        }
    }
    let uncovered = v["uncovered"].as_array().cloned().unwrap_or_default();
    if !uncovered.is_empty() {
        out.push_str("uncovered (instrumented, run by no session):\n");
        for u in &uncovered {
            let lines: Vec<u64> = u["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .collect();
            out.push_str(&format!("  {}: {}\n", s_of(&u["file"]), ranges(&lines)));
        }
    }
    out
}

/// `1, 3-5, 9` from ascending line numbers.
pub(crate) fn ranges(lines: &[u64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = lines[i];
        let mut end = start;
        while i + 1 < lines.len() && lines[i + 1] == end + 1 {
            i += 1;
            end = lines[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_runs_print_as_ranges() {
        assert_eq!(ranges(&[1, 3, 4, 5, 9]), "1, 3-5, 9");
        assert_eq!(ranges(&[]), "");
    }

    #[test]
    fn the_table_lists_sessions_and_uncovered_lines() {
        let v = json!({
            "build": "17.1.0-0.0.16", "changed_lines": 4, "sessions_read": 2,
            "sessions": [{"session": "S1", "task": "T1", "name": null, "user": "alice",
                "build": "17.1.0-0.0.16", "device": "h:22", "lines_hit": 2}],
            "uncovered": [{"file": "src/a.c", "lines": [7, 8]}]
        });
        let t = table(&v);
        assert!(t.starts_with("build 17.1.0-0.0.16: 4 changed lines, 2 sessions read, 1 ran"));
        assert!(t.contains("    2  S1"), "{t}");
        assert!(t.contains("  src/a.c: 7-8\n"), "{t}");
    }
}
