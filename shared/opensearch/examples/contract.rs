//! The `TaskSearch` contract suite on a real OpenSearch: what CI would run with an OpenSearch
//! container (docs/design.md, "Moving to OpenSearch behind the same port"). This machine and CI
//! have no Docker, so it is run by hand:
//!
//! ```text
//! docker run -d -p 9200:9200 -e discovery.type=single-node \
//!   -e DISABLE_SECURITY_PLUGIN=true opensearchproject/opensearch:2
//! CCAAS_OPENSEARCH_URL=http://127.0.0.1:9200 cargo run -p ccaas-opensearch --example contract
//! ```

use ccaas_opensearch::{Auth, OpenSearchTasks};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CCAAS_OPENSEARCH_URL").map_err(
        |_| "set CCAAS_OPENSEARCH_URL to a loopback OpenSearch, e.g. http://127.0.0.1:9200",
    )?;
    let index = format!("ccaas-contract-{}", std::process::id());
    let search = OpenSearchTasks::new(&url, &index, Auth::None)?;
    ccaas_app::contract::search::run(&search).await;
    println!("the TaskSearch contract holds on {url} (index {index})");
    Ok(())
}
