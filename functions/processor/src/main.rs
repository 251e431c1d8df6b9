//! The processor Lambda: SQS batches of task messages. A thin main over [`ccaas_processor`].
#![recursion_limit = "256"]

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ccaas_aws::init_tracing();
    let config = ccaas_processor::Config::from_env()?;
    if config.webhook_allow_loopback {
        // On Lambda, loopback is the Runtime API (and any extension): a webhook there could
        // post an invocation's response. The switch is for ccaas-local and tests only.
        return Err("CCAAS_WEBHOOK_ALLOW_LOOPBACK=on is refused on Lambda".into());
    }
    // A killed invocation (timeout, crash) leaves its named scratch files in /tmp, which the
    // sandbox keeps: the ephemeral storage budget (docs/deploy.md) counts on their removal.
    let removed = ccaas_coverage::unpack::clear_stale_scratch(&std::env::temp_dir());
    if removed > 0 {
        tracing::warn!(
            removed,
            "removed scratch files a killed invocation left behind"
        );
    }
    let sdk = ccaas_aws::sdk_config(config.stack.aws_timeout).await;
    let worker = Arc::new(ccaas_processor::wire(&config, &sdk));
    let sqs = ccaas_queue::sqs_client(&sdk);
    let config = Arc::new(config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (worker, sqs, config) = (worker.clone(), sqs.clone(), config.clone());
        async move {
            Ok::<SqsBatchResponse, Error>(
                ccaas_processor::handle_lambda_batch(
                    &worker,
                    event.payload,
                    event.context.deadline,
                    &sqs,
                    &config,
                )
                .await,
            )
        }
    }))
    .await
}
