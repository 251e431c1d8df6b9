//! The submit Lambda: the v1 task API behind API Gateway. A thin main over [`ccaas_submit`].

use std::sync::Arc;

use ccaas_submit::{Auth, handle, wire};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ccaas_aws::init_tracing();
    let config = ccaas_aws::Config::from_env()?;
    let clients = ccaas_aws::Clients::new(&config).await;
    let deps = Arc::new(wire(&config, &clients));
    let auth = Arc::new(Auth::from_config(&config));
    lambda_http::run(service_fn(move |req| {
        let deps = deps.clone();
        let auth = auth.clone();
        async move { Ok::<_, Error>(handle(&deps, &auth, req).await) }
    }))
    .await
}
