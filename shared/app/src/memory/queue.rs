//! The queue twin: records every message sent, with its group and priority.

use std::sync::{Arc, Mutex};

use ccaas_domain::{Priority, SealedMessage};

use super::{MemorySealer, down, lock};
use crate::Error;
use crate::ports::TaskQueue;

/// A queue that records what was sent. `fail_next(n)` makes the next n sends fail.
#[derive(Clone, Default)]
pub struct MemoryQueue {
    inner: Arc<Mutex<QueueState>>,
}

#[derive(Default)]
struct QueueState {
    sent: Vec<(SealedMessage, String, Priority)>,
    fail_next: usize,
}

impl MemoryQueue {
    /// Makes the next `n` sends fail as unavailable.
    pub fn fail_next(&self, n: usize) {
        lock(&self.inner).fail_next = n;
    }

    /// Everything sent so far, in order: the message, its group and its priority.
    pub fn sent(&self) -> Vec<(SealedMessage, String, Priority)> {
        lock(&self.inner).sent.clone()
    }

    /// What the queue delivers, in order: every message sent, but a repeat of a task id
    /// already sent only once (SQS FIFO deduplicates by task id within its 5-minute window;
    /// tests never run that long).
    pub fn delivered(&self) -> Vec<(SealedMessage, String, Priority)> {
        let q = lock(&self.inner);
        let mut seen = std::collections::BTreeSet::new();
        q.sent
            .iter()
            .filter(|(m, _, _)| seen.insert(m.task_id.clone()))
            .cloned()
            .collect()
    }

    /// The body of the `i`-th message sent, as the queue would deliver it.
    pub fn body(&self, i: usize) -> Option<String> {
        let q = lock(&self.inner);
        serde_json::to_string(&q.sent.get(i)?.0).ok()
    }

    /// The device access of the last message sent, opened with the twin `sealer`.
    pub fn last_device(&self, sealer: &MemorySealer) -> Option<ccaas_domain::DeviceAccess> {
        let (m, _, _) = lock(&self.inner).sent.last()?.clone();
        sealer.open_message(&m).ok().map(|m| m.device)
    }

    /// The body of the last message sent.
    pub fn last_body(&self) -> Option<String> {
        let n = lock(&self.inner).sent.len();
        self.body(n.checked_sub(1)?)
    }
}

impl TaskQueue for MemoryQueue {
    async fn enqueue(
        &self,
        message: &SealedMessage,
        group: &str,
        priority: Priority,
    ) -> Result<(), Error> {
        let mut q = lock(&self.inner);
        if q.fail_next > 0 {
            q.fail_next -= 1;
            return Err(down("task queue"));
        }
        q.sent.push((message.clone(), group.to_string(), priority));
        Ok(())
    }
}
