//! After a batch: what becomes of each received message (deleted, or made visible again after
//! the retry delay, never past SQS's 12-hour visibility cap), and doing it. The one settle loop
//! of the Lambda ([`crate::handle_lambda_batch`]) and of `ccaas-local`'s poller.

use std::collections::HashSet;
use std::time::Duration;

use ccaas_queue::sqs::{MAX_VISIBILITY, delete_received, redeliver_after};
use tracing::warn;

/// One received message of a batch, as the settle loop needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The SQS message id (the batch item id).
    pub id: String,
    /// Its FIFO message group, if any.
    pub group: Option<String>,
    /// The queue it came from; `None` when the record names an unknown queue (it then keeps
    /// its visibility).
    pub queue_url: Option<String>,
    /// Its receipt handle.
    pub receipt: String,
}

/// What becomes of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Its task reached its final write: delete it.
    Delete,
    /// Make it visible again after this long (at most [`MAX_VISIBILITY`]).
    VisibleAfter(Duration),
}

/// When each failed message of a handled batch comes back: `(message id, visibility)` in the
/// order to apply them. In a FIFO group only the first failure (the message that ran) waits
/// out its delay (from `failed`); the group's later messages (failed unprocessed) get zero,
/// after it, so the group stays held by its head alone and keeps its order. Messages not in
/// `failed` are left out (they are deleted).
pub fn retry_plan(
    order: &[(String, Option<String>)],
    failed: &[(String, Duration)],
) -> Vec<(String, Duration)> {
    let mut held: HashSet<&String> = HashSet::new();
    let mut heads = Vec::new();
    let mut later = Vec::new();
    for (id, group) in order {
        let Some((_, delay)) = failed.iter().find(|(f, _)| f == id) else {
            continue;
        };
        match group {
            Some(g) if !held.insert(g) => later.push((id.clone(), Duration::ZERO)),
            _ => heads.push((id.clone(), *delay)),
        }
    }
    heads.extend(later);
    heads
}

/// The whole settle plan, in the order to apply it: the successes first (deleted, in batch
/// order) when `delete_successes` (on Lambda the service deletes them itself), then the
/// failures by [`retry_plan`], each delay capped at [`MAX_VISIBILITY`]. Why this order: a
/// failed message must not come back before the group's successes are gone, and (moto, unlike
/// SQS, hands out the last of several in-flight messages of a group first when they all come
/// back together) the group's head must come back first.
pub fn settle_plan(
    order: &[(String, Option<String>)],
    failed: &[(String, Duration)],
    delete_successes: bool,
) -> Vec<(String, Settle)> {
    let deletes = order
        .iter()
        .filter(|(id, _)| delete_successes && !failed.iter().any(|(f, _)| f == id))
        .map(|(id, _)| (id.clone(), Settle::Delete));
    let retries = retry_plan(order, failed)
        .into_iter()
        .map(|(id, after)| (id, Settle::VisibleAfter(after.min(MAX_VISIBILITY))));
    deletes.chain(retries).collect()
}

/// Applies [`settle_plan`] to `received`. A call that fails is logged and skipped: the message
/// then comes back after its whole visibility timeout, late but never lost. Never fails.
pub async fn settle(
    sqs: &aws_sdk_sqs::Client,
    received: &[Received],
    failed: &[(String, Duration)],
    delete_successes: bool,
) {
    let order: Vec<(String, Option<String>)> = received
        .iter()
        .map(|r| (r.id.clone(), r.group.clone()))
        .collect();
    for (id, what) in settle_plan(&order, failed, delete_successes) {
        let Some(r) = received.iter().find(|r| r.id == id) else {
            continue;
        };
        let Some(url) = r.queue_url.as_deref() else {
            warn!(message_id = %id, "a record from an unknown queue keeps its visibility");
            continue;
        };
        let done = match what {
            Settle::Delete => delete_received(sqs, url, &r.receipt).await,
            Settle::VisibleAfter(after) => redeliver_after(sqs, url, &r.receipt, after).await,
        };
        if let Err(e) = done {
            warn!(message_id = %id, error = %e, "could not settle a message; it will redeliver");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(ids: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        ids.iter()
            .map(|(id, g)| (id.to_string(), g.map(str::to_string)))
            .collect()
    }

    #[test]
    fn successes_are_deleted_first_and_only_when_asked() {
        let o = order(&[("0", Some("a")), ("1", Some("b")), ("2", Some("a"))]);
        let d = Duration::from_secs(30);
        let failed = vec![("0".to_string(), d), ("2".to_string(), d)];
        let local = settle_plan(&o, &failed, true);
        assert_eq!(
            local,
            [
                ("1".to_string(), Settle::Delete),
                ("0".to_string(), Settle::VisibleAfter(d)),
                ("2".to_string(), Settle::VisibleAfter(Duration::ZERO)),
            ]
        );
        let lambda = settle_plan(&o, &failed, false);
        assert_eq!(lambda, local[1..]);
    }

    #[test]
    fn a_retry_delay_past_twelve_hours_is_capped_at_the_sqs_limit() {
        let o = order(&[("0", None)]);
        let plan = settle_plan(&o, &[("0".into(), Duration::from_secs(100_000))], true);
        assert_eq!(
            plan,
            [(
                "0".to_string(),
                Settle::VisibleAfter(Duration::from_secs(43_200))
            )]
        );
    }
}
