//! The submit Lambda: the v1 task API behind API Gateway. A thin main over [`ccaas_submit`]:
//! the same axum router `ccaas-local` serves, run by lambda_http.

use std::sync::Arc;

use ccaas_submit::{ApiState, Auth, router, wire, wire_devices, wire_impacts, wire_search};
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ccaas_aws::init_tracing();
    let config = ccaas_submit::Config::from_env()?;
    let sdk = ccaas_aws::sdk_config(config.stack.aws_timeout).await;
    let state = Arc::new(ApiState {
        api: wire(&config, &sdk),
        devices: wire_devices(&config, &sdk),
        impacts: wire_impacts(&config, &sdk),
        search: wire_search(&config, &sdk)?,
        auth: Auth::from_config(&config),
        metrics: ccaas_submit::stdout_metrics(),
    });
    lambda_http::run(router(state)).await
}
