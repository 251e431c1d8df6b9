//! The indexer Lambda: batches of the tasks table's DynamoDB stream into the search index on
//! the bucket. A thin main over [`ccaas_indexer`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ccaas_aws::init_tracing();
    let config = ccaas_indexer::Config::from_env()?;
    let sdk = ccaas_aws::sdk_config(config.stack.aws_timeout).await;
    let indexer = Arc::new(ccaas_indexer::wire(&config, &sdk)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let indexer = indexer.clone();
        async move {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or_default();
            ccaas_indexer::handle(&indexer, &event.payload, now_ms)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, cause = %std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default(), "batch failed; the stream retries it");
                    Error::from(e)
                })
        }
    }))
    .await
}
