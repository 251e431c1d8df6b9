//! The notifier twin: records every notification, and fails on demand.

use std::sync::{Arc, Mutex};

use super::lock;
use crate::ports::{Notification, Notifier, NotifyError};

/// A notifier that records every notification. `fail(true)` makes each call fail as a dead
/// webhook would (after its attempts), still recording the try.
#[derive(Clone, Default)]
pub struct MemoryNotifier {
    inner: Arc<Mutex<NotifierState>>,
}

#[derive(Default)]
struct NotifierState {
    calls: Vec<Notification>,
    fail: bool,
}

impl MemoryNotifier {
    /// Makes later calls fail (or succeed again).
    pub fn fail(&self, fail: bool) {
        lock(&self.inner).fail = fail;
    }

    /// Every notification tried, in order.
    pub fn calls(&self) -> Vec<Notification> {
        lock(&self.inner).calls.clone()
    }
}

impl Notifier for MemoryNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let mut s = lock(&self.inner);
        s.calls.push(n.clone());
        if s.fail {
            return Err(NotifyError {
                attempts: 4,
                message: "the webhook answered HTTP 503".into(),
            });
        }
        Ok(())
    }

    fn budget(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
}
