//! The processor Lambda: SQS batches of task messages. A thin main over [`ccaas_processor`].
#![recursion_limit = "256"]

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ccaas_aws::init_tracing();
    let config = ccaas_aws::Config::from_env()?;
    if config.webhook_allow_loopback {
        // On Lambda, loopback is the Runtime API (and any extension): a webhook there could
        // post an invocation's response. The switch is for ccaas-local and tests only.
        return Err("CCAAS_WEBHOOK_ALLOW_LOOPBACK=on is refused on Lambda".into());
    }
    let clients = ccaas_aws::Clients::new(&config).await;
    let worker = Arc::new(ccaas_processor::wire(&config, &clients));
    let (clients, config) = (Arc::new(clients), Arc::new(config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (worker, clients, config) = (worker.clone(), clients.clone(), config.clone());
        async move {
            Ok::<SqsBatchResponse, Error>(
                ccaas_processor::handle_lambda_batch(&worker, event.payload, &clients, &config)
                    .await,
            )
        }
    }))
    .await
}
