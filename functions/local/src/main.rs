//! `ccaas-local`: the whole service in one process for local runs. It serves the HTTP API
//! through the submit function's own handler, polls the SQS queues (high first) into the
//! processor's own batch handler, serves the report site from S3 under `/site/`, and keeps
//! the search index of `GET /v1/search` (fed in process by every task change).
#![recursion_limit = "256"]

mod auth;
mod config;
mod console;
mod indexer;
mod poller;
mod server;

use std::sync::Arc;

use tokio::sync::watch;
use tracing::{error, info};

#[tokio::main]
async fn main() {
    ccaas_aws::init_tracing();
    let config = match config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ccaas-local: {e} (run `eval \"$(localstack/up)\"` first)");
            std::process::exit(2);
        }
    };
    let stack = &config.submit.stack;
    let sdk = ccaas_aws::sdk_config(stack.aws_timeout).await;
    let listener = match tokio::net::TcpListener::bind(&config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ccaas-local: cannot listen on {}: {e}", config.listen);
            std::process::exit(2);
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);

    let verifier = if config.submit.auth {
        match config::LocalAuth::from_env()
            .map_err(|e| e.to_string())
            .and_then(|s| {
                auth::Verifier::load(&s).map_err(|e| format!("{e}: {}", source_chain(&e)))
            }) {
            Ok(v) => {
                info!(verifier = ?v, "CCAAS_AUTH=jwt: bearer tokens are required");
                Some(v)
            }
            Err(e) => {
                eprintln!("ccaas-local: CCAAS_AUTH=jwt: {e}");
                std::process::exit(2);
            }
        }
    } else {
        None
    };
    let state = Arc::new(server::State {
        s3: ccaas_s3::client(&sdk),
        bucket: stack.bucket.clone(),
    });
    // The search index, and the feed of task changes that keeps it current: the API's and the
    // worker's task stores report to it.
    let (search_dir, temporary) = match &config.search_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("ccaas-local-search-{}", std::process::id())),
            true,
        ),
    };
    let index = match ccaas_search::TantivySearch::open(&search_dir) {
        Ok(i) => i,
        Err(e) => {
            eprintln!(
                "ccaas-local: search index {}: {e}: {}",
                search_dir.display(),
                source_chain(&e)
            );
            std::process::exit(2);
        }
    };
    info!(dir = %search_dir.display(), "search index open");
    let (changes, feed) = indexer::Changes::new();
    let api = ccaas_submit::wire(&config.submit, &sdk);
    let indexer = tokio::spawn(indexer::run(
        api.store.clone(),
        api.logs.clone(),
        index.clone(),
        feed,
        stop_rx.clone(),
    ));
    let api = ccaas_app::Api {
        store: indexer::Indexed {
            inner: api.store,
            changes: changes.clone(),
        },
        queue: api.queue,
        sealer: api.sealer,
        logs: api.logs,
        base_url: api.base_url,
        clock: api.clock,
        allow: api.allow,
        admins: api.admins,
        email: api.email,
    };
    let api = Arc::new(ccaas_submit::ApiState {
        search: ccaas_app::Search {
            index,
            base_url: api.base_url.clone(),
        },
        api,
        devices: ccaas_submit::wire_devices(&config.submit, &sdk),
        impacts: ccaas_submit::wire_impacts(&config.submit, &sdk),
        auth: ccaas_submit::Auth::from_config(&config.submit),
        // The same EMF lines as the functions print, in this process's log.
        metrics: ccaas_submit::stdout_metrics(),
    });
    let verifier = verifier.map(Arc::new);
    let worker = ccaas_processor::wire(&config.processor, &sdk);
    let worker = Arc::new(ccaas_app::Worker {
        store: indexer::Indexed {
            inner: worker.store,
            changes,
        },
        runner: worker.runner,
        sealer: worker.sealer,
        notifier: worker.notifier,
        mailer: worker.mailer,
        config: worker.config,
    });
    let concurrency = config.processor.device_concurrency;
    let sqs = ccaas_queue::sqs_client(&sdk);
    let queues = vec![stack.high_queue_url.clone(), stack.queue_url.clone()];
    let (retry_delay, lease_secs) = (config.processor.retry.delay, config.processor.lease_secs);
    let poller_stop = stop_rx.clone();
    let run_poller = config.local_worker;
    let poller = tokio::spawn(async move {
        if !run_poller {
            info!("CCAAS_LOCAL_WORKER=off: serving the API only");
            return;
        }
        poller::run(
            poller::Poller {
                sqs,
                queues,
                visibility: std::time::Duration::from_secs(lease_secs) + retry_delay,
                concurrency,
                worker,
            },
            poller_stop,
        )
        .await
    });
    info!(listen = %config.listen, "ccaas-local ready");
    println!("ccaas-local listening on http://{}", config.listen);

    let mut stop = stop_rx.clone();
    let served = axum::serve(listener, server::router(state, api, verifier))
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        });
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        let _ = stop_tx.send(true);
    });
    if let Err(e) = served.await {
        error!(error = %e, "server failed");
    }
    let _ = poller.await;
    let _ = indexer.await;
    if temporary {
        let _ = std::fs::remove_dir_all(&search_dir);
    }
}

/// The sources of an error, joined, for a one-line startup message.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut next = e.source();
    while let Some(s) = next {
        out.push(s.to_string());
        next = s.source();
    }
    out.join(": ")
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
