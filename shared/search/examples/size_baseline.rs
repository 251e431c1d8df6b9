//! The baseline of the size measurement in docs/benchmarks.md ("Search"): what a binary holds
//! without tantivy (tokio's runtime, serde_json, the domain's query parser). Built with the
//! release profile beside `search_bench`; the difference of the two stripped binaries is what
//! tantivy adds. Prints a parsed query so nothing is optimised away.

#[tokio::main]
async fn main() {
    let q = std::env::args().nth(1).unwrap_or_default();
    let parsed = tokio::task::spawn_blocking(move || {
        ccaas_domain::SearchQuery::parse([("q", q.as_str())]).map(|s| s.key())
    })
    .await;
    println!("{}", serde_json::json!({ "key": format!("{parsed:?}") }));
}
