//! The submit Lambda: the v1 task API behind API Gateway. A thin main over [`ccaas_submit`].

use std::sync::Arc;

use ccaas_submit::{handle, wire};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ccaas_aws::init_tracing();
    let config = ccaas_aws::Config::from_env()?;
    let clients = ccaas_aws::Clients::new(&config).await;
    let deps = Arc::new(wire(&config, &clients));
    lambda_http::run(service_fn(move |req| {
        let deps = deps.clone();
        async move { Ok::<_, Error>(handle(&deps, req).await) }
    }))
    .await
}
