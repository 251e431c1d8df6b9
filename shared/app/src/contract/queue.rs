//! The [`TaskQueue`] contract: a message reaches its priority's queue in its group, a repeat of
//! the same task id is delivered once, and one group's messages keep their order.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{fail, fresh_id, fresh_token, ok, same};
use crate::ports::TaskQueue;
use ccaas_domain::{Priority, SealedMessage};

/// One delivered message: the message, its group and the priority of the queue it came from.
pub type Delivered = (SealedMessage, String, Priority);

/// Runs every check on `queue`. `receive` takes (and removes) what the queue delivers now;
/// the suite calls it until what it sent has arrived or `within` has passed.
pub async fn run<Q, R, F>(queue: &Q, receive: R, within: Duration)
where
    Q: TaskQueue,
    R: Fn() -> F,
    F: Future<Output = Vec<Delivered>>,
{
    let c = "messages keep their group's order, their priority, and a repeat is delivered once";
    let (g1, g2) = (
        format!("{}:22", fresh_token()),
        format!("{}:22", fresh_token()),
    );
    let msg = |_: ()| SealedMessage {
        task_id: fresh_id(),
        sealed_device: format!("sealed-{}", fresh_token()),
    };
    let (m1, m2, m3) = (msg(()), msg(()), msg(()));
    ok(
        c,
        "enqueue m1",
        queue.enqueue(&m1, &g1, Priority::Normal).await,
    );
    ok(
        c,
        "enqueue m2",
        queue.enqueue(&m2, &g1, Priority::Normal).await,
    );
    ok(
        c,
        "enqueue m3",
        queue.enqueue(&m3, &g2, Priority::High).await,
    );
    ok(
        c,
        "enqueue m1 again",
        queue.enqueue(&m1, &g1, Priority::Normal).await,
    );
    let ours = [&m1.task_id, &m2.task_id, &m3.task_id];
    let mut got: Vec<Delivered> = Vec::new();
    let deadline = Instant::now() + within;
    // Poll until the three distinct messages are in and one more receive finds no repeat.
    loop {
        let batch = receive().await;
        let empty = batch.is_empty();
        got.extend(batch.into_iter().filter(|d| ours.contains(&&d.0.task_id)));
        let distinct = {
            let mut ids: Vec<_> = got.iter().map(|d| d.0.task_id.clone()).collect();
            ids.sort();
            ids.dedup();
            ids.len()
        };
        if distinct == 3 && empty {
            break;
        }
        if Instant::now() > deadline {
            fail(c, format!("within {within:?} got {got:?}"));
        }
    }
    same(c, "deliveries", got.len(), 3);
    let find = |id| match got.iter().position(|d| &d.0.task_id == id) {
        Some(i) => i,
        None => fail(c, "a message was not delivered"),
    };
    if find(&m1.task_id) > find(&m2.task_id) {
        fail(c, "m2 came before m1 in their group");
    }
    same(
        c,
        "m1",
        got[find(&m1.task_id)].clone(),
        (m1.clone(), g1.clone(), Priority::Normal),
    );
    same(
        c,
        "m2",
        got[find(&m2.task_id)].clone(),
        (m2.clone(), g1, Priority::Normal),
    );
    same(
        c,
        "m3",
        got[find(&m3.task_id)].clone(),
        (m3.clone(), g2, Priority::High),
    );
}
