//! The task worker: takes one queue message through the task's life under a lease.

use ccaas_domain::{Channel, Notified, Status, Task, TaskError};
use tracing::{info, warn};

use crate::envelope::{self, OpenError};
use crate::metrics::{Event, Metrics};
use crate::ports::{
    Mailer, NoMailer, NoNotifier, Notification, Notifier, NotifyError, RunError, Sealer,
    TaskRunner, TaskStore,
};
use crate::{Clock, Error, RetryPolicy};

/// How much longer than the notifier's own budget a notification claim is held, so a slow
/// but live sender is never overtaken.
const CLAIM_MARGIN_SECS: u64 = 30;

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// How long a `running` task is held before another delivery may take it over. Set it to
    /// the processor's timeout: a worker that is still alive never loses its lease.
    pub lease_secs: u64,
    /// The queues' `maxReceiveCount`, a backstop: on that delivery a retryable failure
    /// becomes final even inside the retry window, since the queue will not deliver again.
    pub max_receives: u32,
    /// How long transient failures are retried, and how far apart.
    pub retry: RetryPolicy,
    /// Where leases, status writes and notification claims read the time.
    pub clock: Clock,
    /// The devices tasks may reach (`CCAAS_DEVICE_ALLOW`), checked again on every delivery:
    /// a message queued before the list changed is failed `device_not_allowed` unrun.
    pub allow: ccaas_domain::DeviceAllow,
    /// Where the worker's metrics go (`QueueWaitMs`, `TasksFinished`, `TaskDurationMs`,
    /// `DeviceErrors`, `ReportLines`; [`crate::metrics`]); nowhere by default.
    pub metrics: Metrics,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease_secs: 900,
            max_receives: 16,
            retry: RetryPolicy::default(),
            clock: Clock::System,
            allow: ccaas_domain::DeviceAllow::any(),
            metrics: Metrics::default(),
        }
    }
}

/// What to do with the message after [`Worker::handle`].
#[derive(Debug)]
pub enum Disposition {
    /// Delete the message: the task reached a terminal state (now or before).
    Ack,
    /// Leave the message for redelivery (a batch item failure), with the reason.
    Retry(RetryReason),
}

/// Why a message is left for redelivery.
#[derive(Debug, thiserror::Error)]
pub enum RetryReason {
    /// Another delivery holds the task's lease.
    #[error("another worker holds the lease until {0}")]
    LeaseHeld(u64),
    /// An earlier task of the same device, on the other queue, is still open: it goes first.
    #[error("waiting for the device's earlier task {0}")]
    Waiting(ccaas_domain::TaskId),
    /// The device work failed in a way that may pass.
    #[error("retryable failure: {0}")]
    Run(#[source] RunError),
    /// The store did not answer or a write raced.
    #[error("store: {0}")]
    Store(#[source] Error),
    /// The sealer did not answer, so the device access could not be opened.
    #[error("sealer: {0}")]
    Sealer(#[source] Error),
    /// The message body is not a task message.
    #[error("unreadable message: {0}")]
    Poison(String),
}

/// The worker over a store, a runner, a sealer, a webhook notifier and a mailer.
#[derive(Clone, Debug)]
pub struct Worker<S, R, K, N = NoNotifier, M = NoMailer> {
    /// Where tasks live.
    pub store: S,
    /// What does the device work.
    pub runner: R,
    /// Opens the device access of each message.
    pub sealer: K,
    /// Sends a finished task's webhook notification.
    pub notifier: N,
    /// Sends a finished task's email notice.
    pub mailer: M,
    /// Lease and retry settings.
    pub config: WorkerConfig,
}

impl<S: TaskStore, R: TaskRunner, K: Sealer, N: Notifier, M: Mailer> Worker<S, R, K, N, M> {
    /// Handles the body of queue message `message_id` on its `receive_count`-th delivery.
    /// Never panics on any body.
    ///
    /// Order of side effects: the pending→running write (with a lease) comes before any device
    /// work, so a duplicate delivery finds the lease and does no work twice; the terminal write
    /// comes after the work, so a crash in between leaves a lease that expires and a message
    /// that is redelivered, never a lost task. The seal is opened only for a task that still
    /// has work, and before the lease is taken, so a sealer outage holds nothing.
    pub async fn handle(&self, message_id: &str, body: &str, receive_count: u32) -> Disposition {
        let (id, parsed) = match envelope::parse(body) {
            Ok(p) => p,
            Err(why) => return self.poison(body, receive_count, why).await,
        };
        let task = match self.store.get(&id).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                warn!(task_id = %id, "message for an unknown task; dropping it");
                return Disposition::Ack;
            }
            Err(e) => return Disposition::Retry(RetryReason::Store(e)),
        };
        let last = receive_count >= self.config.max_receives;
        let now = self.config.clock.now_ms();
        if task.status.is_terminal() {
            info!(task_id = %id, status = task.status.as_str(), "duplicate delivery of a finished task");
            // A delivery that crashed between the terminal write and its notifications left
            // them unclaimed or their claims expired: this delivery sends them.
            return self.notify(&task, last).await;
        }

        // A task without a device (a merge) carries no sealed access: nothing to open, no
        // device to check or to keep in order.
        let device = if task.task_type.needs_device() {
            let message = match envelope::open_parsed(&self.sealer, parsed).await {
                Ok(m) => m,
                Err(OpenError::Unavailable(e)) => {
                    if last || !self.retrying(&task, now) {
                        // The window is over (or no later delivery will come): fail the task
                        // rather than leave it pending.
                        let why = format!(
                            "the key service did not answer for {} s; submit again",
                            self.config.retry.window.as_secs()
                        );
                        let _ = self.fail_unworkable(task, "key_unavailable", &why).await;
                    } else if task.status == Status::Pending && task.retry_since.is_none() {
                        // Only a pending task: a running one belongs to its lease holder, whose
                        // conditional writes a version bump here would make fail.
                        let mut next = task.advance(Status::Pending, now);
                        next.retry_since = Some(now);
                        if let Err(we) = self
                            .store
                            .write_status(&next, (task.status, task.version))
                            .await
                        {
                            warn!(task_id = %id, error = %we, "could not record the first transient failure");
                        }
                    }
                    return Disposition::Retry(RetryReason::Sealer(e));
                }
                Err(OpenError::Unreadable(why)) => {
                    return self.poison(body, receive_count, why).await;
                }
            };

            if !self
                .config
                .allow
                .allows(&message.device.host, message.device.port)
            {
                // Defence in depth: the submit check ran against the list of its day.
                warn!(task_id = %id, "device not in the allow-list; failing the task unrun");
                let why = "this device (address and port) is not in the service's allow-list";
                return match self.fail_unworkable(task, "device_not_allowed", why).await {
                    Ok(()) => Disposition::Ack,
                    Err(e) => Disposition::Retry(RetryReason::Store(e)),
                };
            }
            Some(message.device)
        } else {
            None
        };

        if task.status == Status::Pending && !last && device.is_some() {
            // FIFO order holds within one queue; a task of this device submitted earlier on
            // the other queue goes first (docs/api.md, "Priority and order"). On the last
            // delivery the task runs anyway: waiting on is no longer possible.
            match self
                .store
                .earlier_open(&task.device, task.port, &task.id, task.queue())
                .await
            {
                Ok(None) => {}
                Ok(Some(first)) => {
                    info!(task_id = %id, earlier = %first, "waiting for the device's earlier task on the other queue");
                    return Disposition::Retry(RetryReason::Waiting(first));
                }
                Err(e) => return Disposition::Retry(RetryReason::Store(e)),
            }
        }

        let was_pending = task.status == Status::Pending;
        let running = match self.take(task, message_id, now).await {
            Ok(Some(t)) => t,
            Ok(None) => return Disposition::Ack,
            Err(d) => return d,
        };
        if was_pending {
            let queue_wait_ms = now.saturating_sub(running.id.unix_ms());
            self.config
                .metrics
                .record(Event::Taken { queue_wait_ms }, now);
        }

        let ran = match &device {
            Some(d) => self.runner.run(&running, d).await,
            None => self.runner.run_without_device(&running).await,
        };
        if let Err(e) = &ran {
            let code = e.code.clone();
            let now = self.config.clock.now_ms();
            self.config.metrics.record(Event::DeviceError { code }, now);
        }
        match ran {
            Ok(result) => self.finish(&running, Ok(result), last).await,
            Err(e) if !e.retryable => self.finish(&running, Err(e), last).await,
            Err(e) if last => {
                // The last delivery: record the failure, and still report it so SQS moves the
                // message to the DLQ for inspection.
                warn!(task_id = %id, error = %e, "retries exhausted: the queue's last delivery");
                let _ = self.finish(&running, Err(e.clone()), true).await;
                Disposition::Retry(RetryReason::Run(e))
            }
            Err(e) if !self.retrying(&running, self.config.clock.now_ms()) => {
                warn!(task_id = %id, error = %e, window_secs = self.config.retry.window.as_secs(), "retries exhausted: the retry window is over");
                self.finish(&running, Err(e), last).await
            }
            Err(e) => {
                // Release the lease so the redelivery can take the task over at once, and
                // record when the failures began: the retry window counts from there.
                let now = self.config.clock.now_ms();
                let mut next = running.advance(Status::Running, now);
                next.lease_until = Some(now / 1000);
                next.retry_since = Some(running.retry_since.unwrap_or(now));
                if let Err(we) = self
                    .store
                    .write_status(&next, (Status::Running, running.version))
                    .await
                {
                    warn!(task_id = %id, error = %we, "could not release the lease");
                }
                Disposition::Retry(RetryReason::Run(e))
            }
        }
    }

    /// Whether a transient failure of `task` at `now_ms` may still be retried: inside the
    /// window that its first recorded transient failure opened (this one, if none was).
    fn retrying(&self, task: &Task, now_ms: u64) -> bool {
        self.config
            .retry
            .within(task.retry_since.unwrap_or(now_ms), now_ms)
    }

    /// How long the message of a [`Disposition::Retry`] for `reason`, on its
    /// `receive_count`-th delivery, should wait before it comes back. A held lease is waited
    /// out (at most a lease); an unreadable message comes back after the first delay, so it
    /// reaches the dead-letter queue soon; every other reason backs off
    /// ([`RetryPolicy::backoff`]).
    pub fn retry_after(&self, reason: &RetryReason, receive_count: u32) -> std::time::Duration {
        use std::time::Duration;
        let retry = &self.config.retry;
        match reason {
            RetryReason::LeaseHeld(until) => {
                let left = until.saturating_sub(self.config.clock.now_ms() / 1000);
                let lease = Duration::from_secs(self.config.lease_secs).max(retry.delay);
                Duration::from_secs(left).clamp(retry.delay, lease)
            }
            RetryReason::Poison(_) => retry.delay,
            RetryReason::Waiting(_)
            | RetryReason::Run(_)
            | RetryReason::Store(_)
            | RetryReason::Sealer(_) => retry.backoff(receive_count),
        }
    }

    /// Takes the task under a lease held by `message_id`: `Ok(None)` when it is already
    /// terminal. A lease that has not expired is refused unless this same message holds it:
    /// then its earlier delivery has ended (see [`Task::lease_holder`]), for instance with a
    /// terminal write the store refused, and waiting out the lease would only delay the task.
    async fn take(
        &self,
        task: Task,
        message_id: &str,
        now: u64,
    ) -> Result<Option<Task>, Disposition> {
        let now_s = now / 1000;
        match task.status {
            Status::Succeeded | Status::Failed => {
                info!(task_id = %task.id, status = task.status.as_str(), "duplicate delivery of a finished task");
                return Ok(None);
            }
            Status::Running => {
                let until = task.lease_until.unwrap_or(0);
                let ours =
                    !message_id.is_empty() && task.lease_holder.as_deref() == Some(message_id);
                if until > now_s && !ours {
                    return Err(Disposition::Retry(RetryReason::LeaseHeld(until)));
                }
                if ours {
                    info!(task_id = %task.id, "taking over the lease this message's earlier delivery left");
                } else {
                    info!(task_id = %task.id, "taking over an expired lease");
                }
            }
            Status::Pending => {}
        }
        let mut next = task.advance(Status::Running, now);
        next.lease_until = Some(now_s + self.config.lease_secs);
        next.lease_holder = Some(message_id.to_owned());
        // The run's start, kept across takeovers: a duration counts the whole run.
        next.started = Some(task.started.unwrap_or(now));
        match self
            .store
            .write_status(&next, (task.status, task.version))
            .await
        {
            Ok(()) => Ok(Some(next)),
            // Someone else moved it first: their delivery owns it now.
            Err(Error::Conflict) => Err(Disposition::Retry(RetryReason::LeaseHeld(now_s))),
            Err(e) => Err(Disposition::Retry(RetryReason::Store(e))),
        }
    }

    /// Writes the terminal state, then sends the notifications.
    async fn finish(
        &self,
        running: &Task,
        outcome: Result<serde_json::Value, RunError>,
        last: bool,
    ) -> Disposition {
        let mut next = match &outcome {
            Ok(_) => running.advance(Status::Succeeded, self.config.clock.now_ms()),
            Err(_) => running.advance(Status::Failed, self.config.clock.now_ms()),
        };
        next.lease_until = None;
        next.lease_holder = None;
        match outcome {
            Ok(result) => {
                next.result = Some(result);
            }
            Err(e) => {
                next.error = Some(TaskError {
                    code: e.code,
                    message: e.message,
                });
            }
        }
        match self
            .store
            .write_status(&next, (Status::Running, running.version))
            .await
        {
            Ok(()) => {
                info!(task_id = %next.id, status = next.status.as_str(), "task finished");
                self.finished(&next);
                // Why after the write: the status is final whatever a notification does, and
                // only a delivery that sees the task terminal may claim one.
                self.notify(&next, last).await
            }
            Err(e) => Disposition::Retry(RetryReason::Store(e)),
        }
    }

    /// Records the metrics of a terminal write this worker made: `TasksFinished` and
    /// `TaskDurationMs` (from creation), and `ReportLines` of a published report.
    fn finished(&self, task: &Task) {
        let now = self.config.clock.now_ms();
        self.config.metrics.record(
            Event::Finished {
                task_type: task.task_type.as_str(),
                status: task.status.as_str(),
                duration_ms: now.saturating_sub(task.id.unix_ms()),
            },
            now,
        );
        if let Some(lines) = task.result.as_ref().and_then(crate::metrics::report_lines) {
            self.config
                .metrics
                .record(Event::ReportLines { lines }, now);
        }
    }

    /// Sends a finished task's notifications, each channel it asked for (webhook, email) once:
    /// per channel, the delivery that wins the store's conditional claim sends (with retries
    /// inside the notifier or mailer), then records the outcome. A notification that fails
    /// is logged and recorded as `gave_up`; it never changes the task. Deliveries that lose a
    /// claim ack: that notification is done, or the claim's holder is sending it and its own
    /// message stays unacked until it has, so a crash of the holder is retried by that
    /// message's redelivery once the claim expires. A store outage on a claim retries the
    /// message (after the other channels had their turn).
    async fn notify(&self, task: &Task, last: bool) -> Disposition {
        let mut disposition = Disposition::Ack;
        for channel in Channel::ALL {
            // A recorded channel is done: no claim write for a duplicate delivery.
            if !task.wants(channel) || task.notified_on(channel).is_some() {
                continue;
            }
            if let Disposition::Retry(why) = self.notify_on(task, channel, last).await
                && matches!(disposition, Disposition::Ack)
            {
                disposition = Disposition::Retry(why);
            }
        }
        disposition
    }

    /// Claims, sends and records one channel's notification of `task`.
    async fn notify_on(&self, task: &Task, channel: Channel, last: bool) -> Disposition {
        let name = channel.as_str();
        let budget = match channel {
            Channel::Webhook => self.notifier.budget(),
            Channel::Email => self.mailer.budget(),
        };
        let now = self.config.clock.now_ms() / 1000;
        let until = now + budget.as_secs() + CLAIM_MARGIN_SECS;
        match self
            .store
            .claim_notification(&task.id, channel, now, until)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Disposition::Ack,
            Err(e) if last => {
                warn!(task_id = %task.id, channel = name, error = %e, "notification abandoned: the store is unavailable on the last delivery");
                return Disposition::Ack;
            }
            // The task is final; only the notification waits for the redelivery.
            Err(e) => return Disposition::Retry(RetryReason::Store(e)),
        }
        let sent: Result<(), NotifyError> = match channel {
            Channel::Webhook => {
                let Some(url) = task.webhook.as_deref() else {
                    return Disposition::Ack;
                };
                let notification = Notification {
                    url: url.to_string(),
                    delivery_id: task.id.to_string(),
                    body: crate::notify::payload(task),
                };
                self.notifier.notify(&notification).await
            }
            Channel::Email => self.mailer.send(&crate::notify::mail(task)).await,
        };
        let outcome = match sent {
            Ok(()) => {
                info!(task_id = %task.id, channel = name, "notification sent");
                Notified::Sent
            }
            Err(e) => {
                warn!(task_id = %task.id, channel = name, error = %e, "notification failed; the task keeps its status");
                Notified::GaveUp
            }
        };
        if let Err(e) = self.store.mark_notified(&task.id, channel, outcome).await {
            // The claim then expires; a later duplicate delivery may send it again (a webhook
            // receiver sees the same X-Ccaas-Delivery id).
            warn!(task_id = %task.id, channel = name, error = %e, "could not record the notification");
        }
        Disposition::Ack
    }

    /// An unreadable body: retried until the DLQ takes it; on the last delivery the task it
    /// names (if any) is marked failed.
    async fn poison(&self, body: &str, receive_count: u32, why: String) -> Disposition {
        if receive_count >= self.config.max_receives
            && let Some(id) = envelope::task_id_of(body)
            && let Ok(Some(task)) = self.store.get(&id).await
        {
            let why = "the task's queue message could not be read";
            let _ = self.fail_unworkable(task, "bad_message", why).await;
        }
        Disposition::Retry(RetryReason::Poison(why))
    }

    /// On a message's last delivery, fails a task that no delivery could work on (and sends
    /// its notification). Best effort: the message still goes to the DLQ either way.
    async fn fail_unworkable(&self, task: Task, code: &str, message: &str) -> Result<(), Error> {
        if task.status.is_terminal() {
            return Ok(());
        }
        let mut next = task.advance(Status::Failed, self.config.clock.now_ms());
        next.lease_until = None;
        next.lease_holder = None;
        next.error = Some(TaskError {
            code: code.into(),
            message: message.into(),
        });
        match self
            .store
            .write_status(&next, (task.status, task.version))
            .await
        {
            Ok(()) => {
                self.finished(&next);
                let _ = self.notify(&next, true).await;
                Ok(())
            }
            // Another delivery moved the task first: it is theirs.
            Err(Error::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
