//! The SES adapter of [`ccaas_app::Mailer`]: one SES v2 `SendEmail` per notice, a simple
//! message with a plain-text and an HTML part, from the service's own sender address
//! (`CCAAS_MAIL_FROM`, an identity verified in SES). SES builds the MIME message itself, so
//! no header is written here; the recipients are plain addresses checked at submission.

use std::time::Duration;

use aws_sdk_sesv2::error::ProvideErrorMetadata;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use ccaas_app::{Mail, Mailer, NotifyError};
use tracing::debug;

/// An SES v2 client from the process's shared SDK configuration ([`ccaas_aws::sdk_config`]).
pub fn client(sdk: &ccaas_aws::SdkConfig) -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(sdk)
}

/// Sends email notices through SES.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    budget: Duration,
}

impl SesMailer {
    /// A mailer sending from `from` (a verified SES identity, or an address of a verified
    /// domain). `budget` is the SDK's operation timeout (`CCAAS_AWS_TIMEOUT_SECS`), which
    /// bounds one send, its retries included.
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>, budget: Duration) -> Self {
        SesMailer {
            client,
            from: from.into(),
            budget,
        }
    }

    /// The sender address.
    pub fn from_address(&self) -> &str {
        &self.from
    }
}

/// UTF-8 text for a subject or body part. Errors only when the SDK's builder does (it needs
/// the data, which is always given).
fn content(data: &str) -> Result<Content, NotifyError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| NotifyError {
            attempts: 0,
            message: format!("the mail could not be built: {e}"),
        })
}

impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<(), NotifyError> {
        if mail.to.is_empty() {
            return Err(NotifyError {
                attempts: 0,
                message: "the mail has no recipient".into(),
            });
        }
        let message = Message::builder()
            .subject(content(&mail.subject)?)
            .body(
                Body::builder()
                    .text(content(&mail.text)?)
                    .html(content(&mail.html)?)
                    .build(),
            )
            .build();
        let r = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(mail.to.clone()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match r {
            Ok(out) => {
                debug!(task_id = %mail.delivery_id, message_id = out.message_id().unwrap_or_default(), "SES accepted the mail");
                Ok(())
            }
            Err(e) => {
                // The service's code and message (MessageRejected: "Email address is not
                // verified", throttling, ...) say what to fix; they hold no credential.
                let why = match (e.code(), e.message()) {
                    (Some(code), Some(msg)) => format!("{code}: {msg}"),
                    (Some(code), None) => code.to_string(),
                    _ => format!(
                        "{}",
                        ccaas_aws::AwsError::sdk("ses:SendEmail", e).into_app("mail service")
                    ),
                };
                Err(NotifyError {
                    attempts: 1,
                    message: format!("SES did not send the mail: {why}"),
                })
            }
        }
    }

    fn budget(&self) -> Duration {
        self.budget
    }
}
