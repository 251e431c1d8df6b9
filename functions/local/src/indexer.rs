//! The search indexer of `ccaas-local`, in process: the tasks table's changes as the API and
//! the worker make them. [`Indexed`] wraps the task store and, after each successful create,
//! status write or notification record, sends the task id to a bounded channel; [`run`]
//! indexes every existing task at startup (through `TaskStore::list`), then batches the ids it
//! receives (up to [`BATCH_WINDOW`]), reads each task and its log, and upserts them. On AWS the
//! same changes come from the table's DynamoDB stream (docs/design.md, "Search").

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ccaas_app::ports::{IdempotencyRecord, Page, SearchDoc};
use ccaas_app::usage::{CounterRows, CoveragePoint};
use ccaas_app::{Created, Error, LogStore, TaskSearch, TaskStore, UsageStore};
use ccaas_domain::{Channel, ListQuery, Notified, Priority, Status, Task, TaskId};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// How long the indexer gathers ids after the first before it writes them as one commit.
pub const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// The most ids one commit takes.
const BATCH_MAX: usize = 256;
/// How many ids wait at most; past that the indexer is told to index everything again.
pub const CHANNEL: usize = 4096;
/// How long a failed batch waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The sending side: where [`Indexed`] reports changed tasks.
#[derive(Clone, Debug)]
pub struct Changes {
    tx: mpsc::Sender<TaskId>,
    /// Set when an id could not be queued (the channel was full): the indexer then indexes
    /// every task again, so nothing is lost for good.
    overflow: Arc<AtomicBool>,
}

impl Changes {
    /// A change feed and the receiving side [`run`] takes.
    pub fn new() -> (Changes, Feed) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let overflow = Arc::new(AtomicBool::new(false));
        (
            Changes {
                tx,
                overflow: overflow.clone(),
            },
            Feed { rx, overflow },
        )
    }

    fn changed(&self, id: &TaskId) {
        if self.tx.try_send(id.clone()).is_err() {
            self.overflow.store(true, Ordering::SeqCst);
        }
    }
}

/// The receiving side of [`Changes`].
#[derive(Debug)]
pub struct Feed {
    rx: mpsc::Receiver<TaskId>,
    overflow: Arc<AtomicBool>,
}

/// A task store that reports every task it changed to the indexer. Reads pass through.
#[derive(Clone, Debug)]
pub struct Indexed<S> {
    /// The store.
    pub inner: S,
    /// Where changes go.
    pub changes: Changes,
}

impl<S: TaskStore> TaskStore for Indexed<S> {
    async fn open_queue(&self, host: &str, port: u16) -> Result<Option<Priority>, Error> {
        self.inner.open_queue(host, port).await
    }

    async fn earlier_open(
        &self,
        host: &str,
        port: u16,
        before: &TaskId,
        queue: Priority,
    ) -> Result<Option<TaskId>, Error> {
        self.inner.earlier_open(host, port, before, queue).await
    }

    async fn create(
        &self,
        task: &Task,
        idem: Option<&IdempotencyRecord>,
    ) -> Result<Created, Error> {
        let created = self.inner.create(task, idem).await?;
        if created == Created::New {
            self.changes.changed(&task.id);
        }
        Ok(created)
    }

    async fn get(&self, id: &TaskId) -> Result<Option<Task>, Error> {
        self.inner.get(id).await
    }

    async fn idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>, Error> {
        self.inner.idempotency(scope).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, Error> {
        self.inner.list(query).await
    }

    async fn write_status(&self, next: &Task, expected: (Status, u64)) -> Result<(), Error> {
        self.inner.write_status(next, expected).await?;
        self.changes.changed(&next.id);
        Ok(())
    }

    async fn claim_notification(
        &self,
        id: &TaskId,
        channel: Channel,
        now: u64,
        until: u64,
    ) -> Result<bool, Error> {
        self.inner.claim_notification(id, channel, now, until).await
    }

    async fn mark_notified(
        &self,
        id: &TaskId,
        channel: Channel,
        outcome: Notified,
    ) -> Result<(), Error> {
        self.inner.mark_notified(id, channel, outcome).await?;
        self.changes.changed(id);
        Ok(())
    }
}

/// The usage history is the store's own: reads pass through (its counters change only with
/// the task writes above, which the indexer already hears of).
impl<S: UsageStore> UsageStore for Indexed<S> {
    async fn counters(
        &self,
        series: &str,
        first_period: &str,
        last_period: &str,
        max_rows: usize,
    ) -> Result<CounterRows, Error> {
        self.inner
            .counters(series, first_period, last_period, max_rows)
            .await
    }

    async fn coverage_points(
        &self,
        subject: &str,
        from: Option<&TaskId>,
        to: Option<&TaskId>,
        limit: usize,
    ) -> Result<Vec<CoveragePoint>, Error> {
        self.inner.coverage_points(subject, from, to, limit).await
    }
}

/// The documents of `ids`: each task as stored now, with its log. A task gone from the store
/// is skipped.
async fn docs_of<S: TaskStore, L: LogStore>(
    store: &S,
    logs: &L,
    ids: &BTreeSet<TaskId>,
) -> Result<Vec<SearchDoc>, Error> {
    let mut docs = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(task) = store.get(id).await? {
            let log = logs.read_log(id).await?;
            docs.push(ccaas_app::search::doc_of(&task, log.as_deref()));
        }
    }
    Ok(docs)
}

/// Indexes every task of the store, a page at a time. Returns how many.
pub async fn index_all<S: TaskStore, L: LogStore, X: TaskSearch>(
    store: &S,
    logs: &L,
    index: &X,
) -> Result<usize, Error> {
    let mut query = ListQuery {
        limit: ccaas_domain::MAX_LIMIT,
        ..Default::default()
    };
    let mut n = 0;
    loop {
        let page = store.list(&query).await?;
        let mut docs = Vec::with_capacity(page.tasks.len());
        for task in &page.tasks {
            let log = logs.read_log(&task.id).await?;
            docs.push(ccaas_app::search::doc_of(task, log.as_deref()));
        }
        index.upsert(&docs).await?;
        n += docs.len();
        match page.next {
            Some(next) => query.next = Some(next),
            None => return Ok(n),
        }
    }
}

/// The indexer: everything first, then the changes, until `stop` turns true. Failures are
/// logged and retried (a batch after [`RETRY`], the full pass after an overflow or a failed
/// start); it never gives up while the process runs.
pub async fn run<S: TaskStore, L: LogStore, X: TaskSearch>(
    store: S,
    logs: L,
    index: X,
    mut feed: Feed,
    mut stop: watch::Receiver<bool>,
) {
    let mut full = true;
    let mut pending: BTreeSet<TaskId> = BTreeSet::new();
    loop {
        if *stop.borrow() {
            return;
        }
        if full || feed.overflow.swap(false, Ordering::SeqCst) {
            match index_all(&store, &logs, &index).await {
                Ok(n) => {
                    info!(tasks = n, "search index: every task indexed");
                    full = false;
                }
                Err(e) => {
                    warn!(error = %e, "search index: the full pass failed; retrying");
                    full = true;
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => continue,
                        _ = stop.changed() => return,
                    }
                }
            }
        }
        if pending.is_empty() {
            tokio::select! {
                id = feed.rx.recv() => match id {
                    Some(id) => { pending.insert(id); }
                    None => return,
                },
                _ = stop.changed() => return,
            }
        }
        // Gather what else comes within the window, up to a batch.
        let until = tokio::time::Instant::now() + BATCH_WINDOW;
        while pending.len() < BATCH_MAX {
            match tokio::time::timeout_at(until, feed.rx.recv()).await {
                Ok(Some(id)) => {
                    pending.insert(id);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let result = match docs_of(&store, &logs, &pending).await {
            Ok(docs) => index.upsert(&docs).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => pending.clear(),
            Err(e) => {
                warn!(error = %e, tasks = pending.len(), "search index: a batch failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccaas_app::memory::{MemoryLogs, MemorySearch, MemoryStore};
    use ccaas_domain::SearchQuery;

    fn task(id: TaskId, name: &str) -> Task {
        serde_json::from_value(serde_json::json!({
            "id": id.as_str(), "name": name, "user": "alice",
            "type": "code-coverage-start", "priority": "normal", "status": "pending",
            "version": 0, "created": "2026-11-29T11:22:31.015Z",
            "updated": "2026-11-29T11:22:31.015Z", "device": "10.1.2.3", "port": 22,
            "modules": ["tmm"], "session": null, "flush": "signal", "webhook": null,
            "lease_until": null, "result": null, "error": null,
        }))
        .unwrap()
    }

    async fn found(index: &MemorySearch, q: &str) -> usize {
        index
            .search(&SearchQuery::parse([("q", q)]).unwrap())
            .await
            .unwrap()
            .total
    }

    /// Polls `cond` every 20 ms until it holds or `within` passes.
    async fn eventually<F: AsyncFn() -> bool>(within: Duration, cond: F) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if cond().await {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn existing_tasks_are_indexed_at_start_and_created_and_changed_ones_soon_after() {
        let store = MemoryStore::default();
        let logs = MemoryLogs::default();
        let index = MemorySearch::default();
        for i in 0..130u128 {
            let t = task(TaskId::from_parts(1_000 + i as u64, i), "old");
            store.create(&t, None).await.unwrap();
        }
        let (changes, feed) = Changes::new();
        let indexed = Indexed {
            inner: store.clone(),
            changes,
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let job = tokio::spawn(run(
            store.clone(),
            logs.clone(),
            index.clone(),
            feed,
            stop_rx,
        ));
        assert!(
            eventually(Duration::from_secs(5), async || found(&index, "old").await
                == 130)
            .await
        );

        let fresh = task(TaskId::from_parts(9_000, 1), "brandnew");
        indexed.create(&fresh, None).await.unwrap();
        assert!(
            eventually(Duration::from_secs(5), async || found(&index, "brandnew")
                .await
                == 1)
            .await
        );

        let mut done = fresh.advance(Status::Failed, 9_001);
        done.error = Some(ccaas_domain::TaskError {
            code: "unreachable".into(),
            message: "nobody answered".into(),
        });
        logs.write_log(&fresh.id, b"{\"command\":\"tmsh show sys\"}\n".to_vec())
            .await
            .unwrap();
        indexed
            .write_status(&done, (Status::Pending, 0))
            .await
            .unwrap();
        assert!(
            eventually(Duration::from_secs(5), async || {
                found(&index, "answered status:failed").await == 1
                    && found(&index, "tmsh").await == 1
            })
            .await
        );
        assert_eq!(index.len(), 131, "one document per task");
        stop_tx.send(true).unwrap();
        job.await.unwrap();
    }

    #[tokio::test]
    async fn a_full_channel_makes_the_indexer_index_everything_again() {
        let (changes, mut feed) = Changes::new();
        for i in 0..(CHANNEL as u128 + 1) {
            changes.changed(&TaskId::from_parts(1, i));
        }
        assert!(feed.overflow.load(Ordering::SeqCst));
        feed.rx.close();
    }
}
