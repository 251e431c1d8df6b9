//! The processor Lambda's batch handler on a real queue (moto): a retryable failure comes back
//! after `CCAAS_RETRY_DELAY_SECS`, not after the queue's visibility timeout (5400 s), because
//! the handler shortens the failed message's visibility before it reports the failure.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use ccaas_app::Caller;
use ccaas_testkit::refused_port;
use common::Emulator;

#[tokio::test(flavor = "multi_thread")]
async fn a_retryable_failure_on_lambda_comes_back_after_the_retry_delay_not_the_visibility_timeout()
{
    let emu = Emulator::private();
    let env = ccaas_aws::Env::new(|k: &str| match k {
        "CCAAS_RETRY_DELAY_SECS" => Some("1".into()),
        "CCAAS_RETRY_WINDOW_SECS" => Some("600".into()),
        // The task gives no fingerprint: under the default `pinned` it would be refused
        // before connecting (permanent), and the connect's retryable refusal is the point.
        "CCAAS_HOST_KEY_POLICY" => Some("tofu".into()),
        _ => emu.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
    });
    let submit = ccaas_submit::Config::read(&env).expect("submit config");
    let config = ccaas_processor::Config::read(&env).expect("processor config");
    let sdk = emu.sdk_config().await;
    let api = ccaas_submit::wire(&submit, &sdk);
    let worker = ccaas_processor::wire(&config, &sdk);

    // A device nobody listens on (the port is held, never listening): connection refused, a
    // retryable failure.
    let (_held, port) = refused_port();
    let body = format!(
        r#"{{"type":"code-coverage-start","user":"retry","data":{{"device":{{"host":"127.0.0.1","port":{port},"username":"root","password":"pw"}},"modules":["tmm"]}}}}"#
    );
    let accepted = api
        .submit(&Caller::Anonymous, None, body.as_bytes())
        .await
        .expect("accepted");

    let sqs = emu.sqs();
    let queue = config.stack.queue_url.clone();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("an ARN");
    let receive = || async {
        sqs.receive_message()
            .queue_url(&queue)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive")
            .messages()
            .to_vec()
    };
    let got = receive().await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    let mut record = SqsMessage::default();
    record.message_id = m.message_id().map(str::to_string);
    record.receipt_handle = m.receipt_handle().map(str::to_string);
    record.body = m.body().map(str::to_string);
    record.event_source_arn = Some(arn);
    record.attributes = HashMap::from([
        ("ApproximateReceiveCount".to_string(), "1".to_string()),
        (
            "MessageGroupId".to_string(),
            format!("127.0.0.1:{port}").to_string(),
        ),
    ]);
    let mut event = SqsEvent::default();
    event.records.push(record);

    let response = ccaas_processor::handle_lambda_batch(
        &worker,
        event,
        ccaas_app::now_ms() + 600_000,
        &emu.sqs(),
        &config,
    )
    .await;
    assert_eq!(response.batch_item_failures.len(), 1, "a retryable failure");

    // Back within seconds (the retry delay is 1 s), as its second receive.
    let deadline = Instant::now() + Duration::from_secs(20);
    let again = loop {
        let got = receive().await;
        if let Some(m) = got.first() {
            break m.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the failed message did not come back"
        );
    };
    assert_eq!(again.body(), m.body());
    let count = again
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned();
    assert_eq!(count.as_deref(), Some("2"));
    let task = api.get(&accepted.view.id).await.expect("the task");
    assert_eq!(task.status, "running", "released for the retry: {task:?}");
}
