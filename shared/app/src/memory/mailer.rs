//! The mailer twin: records every mail, and fails on demand.

use std::sync::{Arc, Mutex};

use super::lock;
use crate::ports::{Mail, Mailer, NotifyError};

/// A mailer that records every mail it is asked to send. `fail(true)` makes each call fail as
/// a refusing mail service would, still recording the try.
#[derive(Clone, Default)]
pub struct MemoryMailer {
    inner: Arc<Mutex<MailerState>>,
}

#[derive(Default)]
struct MailerState {
    calls: Vec<Mail>,
    fail: bool,
}

impl MemoryMailer {
    /// Makes later calls fail (or succeed again).
    pub fn fail(&self, fail: bool) {
        lock(&self.inner).fail = fail;
    }

    /// Every mail tried, in order.
    pub fn calls(&self) -> Vec<Mail> {
        lock(&self.inner).calls.clone()
    }
}

impl Mailer for MemoryMailer {
    async fn send(&self, mail: &Mail) -> Result<(), NotifyError> {
        let mut s = lock(&self.inner);
        s.calls.push(mail.clone());
        if mail.to.is_empty() {
            return Err(NotifyError {
                attempts: 0,
                message: "the mail has no recipient".into(),
            });
        }
        if s.fail {
            return Err(NotifyError {
                attempts: 1,
                message: "the mail service refused the message: Email address not verified".into(),
            });
        }
        Ok(())
    }

    fn budget(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
}
