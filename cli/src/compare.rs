//! `ccaas compare`: the lines a head session newly covered and lost against a base session
//! (`GET /v1/compare`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::impact::ranges;
use crate::task::{answer, bearer, fail, s_of};

/// The most pages the table follows (500 files each): 50,000 changed files.
const MAX_PAGES: usize = 100;

/// Compare two sessions' coverage: per file, the lines the head newly covered and lost.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The base: a succeeded code-coverage-end task's id.
    base: String,
    /// The head: a succeeded code-coverage-end task's id, of a session of the same build.
    head: String,
    /// Base URL of the ccaas API.
    #[arg(long, env = "CCAAS_API", default_value = "http://127.0.0.1:3000")]
    api: String,
    /// A file holding the bearer token (or `CCAAS_TOKEN`).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print the API's JSON (one page: `--limit` files after `--cursor`) instead of a table
    /// of every changed file.
    #[arg(long)]
    json: bool,
    /// Files per page (1 to 500).
    #[arg(long, default_value_t = 500)]
    limit: u32,
    /// With `--json`: the page after this cursor (the previous page's `next`).
    #[arg(long)]
    cursor: Option<String>,
}

/// Runs `ccaas compare`; the exit code.
pub fn run(args: CompareArgs) -> i32 {
    match compare(&args) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

fn compare(args: &CompareArgs) -> Result<(), String> {
    let headers = bearer(args.token_file.as_ref(), std::env::var("CCAAS_TOKEN").ok())?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .default_headers(headers)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let base = args.api.trim_end_matches('/');
    let page = |cursor: Option<&str>| -> Result<Value, String> {
        let mut q = vec![
            ("base", args.base.clone()),
            ("head", args.head.clone()),
            ("limit", args.limit.to_string()),
        ];
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        let mut url = reqwest::Url::parse(&format!("{base}/v1/compare"))
            .map_err(|e| format!("{base} is not a URL: {e}"))?;
        url.query_pairs_mut().extend_pairs(&q);
        let r = client
            .get(url)
            .send()
            .map_err(|e| format!("cannot reach {base}: {e}"))?;
        let text = answer(r)?;
        serde_json::from_str(&text).map_err(|e| format!("the API answered with non-JSON: {e}"))
    };
    if args.json {
        println!("{}", page(args.cursor.as_deref())?);
        return Ok(());
    }
    let first = page(args.cursor.as_deref())?;
    print!("{}", header(&first));
    let mut v = first;
    for _ in 0..MAX_PAGES {
        print!("{}", rows(&v));
        match v["next"].as_str() {
            Some(next) => v = page(Some(next))?,
            None => return Ok(()),
        }
    }
    println!(
        "(more files: rerun with --json --cursor {})",
        s_of(&v["next"])
    );
    Ok(())
}

fn side(name: &str, s: &Value) -> String {
    let l = &s["lines"];
    format!(
        "{name:<5} {}  {:>7.2}%  {}/{} lines  {}  {}\n",
        s_of(&s["task"]),
        l["percent"].as_f64().unwrap_or(0.0),
        l["covered"],
        l["total"],
        s_of(&s["user"]),
        s["name"].as_str().unwrap_or("-")
    )
}

/// Both sides, the delta, and the column titles.
pub fn header(v: &Value) -> String {
    let d = &v["delta"];
    let mut out = format!("build {}\n", s_of(&v["base"]["build"]));
    out.push_str(&side("base", &v["base"]));
    out.push_str(&side("head", &v["head"]));
    out.push_str(&format!(
        "delta {:+.2}%  {:+} lines covered: {} newly covered, {} lost, in {} files\n",
        d["percent"].as_f64().unwrap_or(0.0),
        d["covered"].as_i64().unwrap_or(0),
        d["newly_covered"],
        d["lost"],
        d["files_changed"]
    ));
    if d["files_changed"].as_u64().unwrap_or(0) > 0 {
        out.push_str(&format!("{:>6}  {:>6}  {}\n", "NEW", "LOST", "FILE"));
    }
    out
}

/// A row per changed file, with the line numbers under it.
pub fn rows(v: &Value) -> String {
    let mut out = String::new();
    let lines = |f: &Value, k: &str| -> Vec<u64> {
        f[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect()
    };
    for f in v["files"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:>6}  {:>6}  {}\n",
            f["newly_covered_count"].as_u64().unwrap_or(0),
            f["lost_count"].as_u64().unwrap_or(0),
            s_of(&f["file"])
        ));
        for (label, key, count) in [
            ("+", "newly_covered", "newly_covered_count"),
            ("-", "lost", "lost_count"),
        ] {
            let l = lines(f, key);
            if l.is_empty() {
                continue;
            }
            let cut = if (l.len() as u64) < f[count].as_u64().unwrap_or(0) {
                " ..."
            } else {
                ""
            };
            out.push_str(&format!("          {label} {}{cut}\n", ranges(&l)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_shows_both_sides_the_delta_and_each_files_lines() {
        let side = |t: &str, c: u64| {
            json!({"task": t, "session": "S", "build": "17.1.0-0.0.16", "name": null,
                "user": "alice", "device": "h:22",
                "lines": {"covered": c, "total": 10, "percent": c as f64 * 10.0}})
        };
        let v = json!({
            "base": side("01B", 4), "head": side("01H", 5),
            "delta": {"covered": 1, "total": 0, "percent": 10.0, "newly_covered": 3,
                "lost": 2, "files_changed": 1},
            "files": [{"file": "src/a.c", "newly_covered": [3, 4, 5], "newly_covered_count": 3,
                "lost": [1], "lost_count": 2, "base": {"covered": 4, "total": 10, "percent": 40.0},
                "head": {"covered": 5, "total": 10, "percent": 50.0}}],
            "lines_truncated": true, "next": null
        });
        let h = header(&v);
        assert!(
            h.contains("base  01B    40.00%  4/10 lines  alice  -"),
            "{h}"
        );
        assert!(
            h.contains("delta +10.00%  +1 lines covered: 3 newly covered, 2 lost, in 1 files"),
            "{h}"
        );
        let r = rows(&v);
        assert!(r.contains("     3       2  src/a.c\n"), "{r}");
        assert!(r.contains("          + 3-5\n"), "{r}");
        assert!(r.contains("          - 1 ...\n"), "{r}");
    }
}
