//! In-memory twins of the role traits, for unit tests. They keep the adapters' contracts
//! (conditional writes, idempotency records, cursors) so use-case tests mean something.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ccaas_domain::{ListQuery, Priority, Status, Task, TaskId, TaskMessage};

use crate::Error;
use crate::ports::{Created, IdempotencyRecord, LogStore, Page, TaskQueue, TaskStore};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn down(backend: &'static str) -> Error {
    Error::Unavailable {
        backend,
        source: "switched off by the test".into(),
    }
}

/// A task store in a map. `set_down(true)` makes every call fail as unavailable.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<StoreState>>,
}

#[derive(Default)]
struct StoreState {
    tasks: BTreeMap<TaskId, Task>,
    idem: BTreeMap<String, IdempotencyRecord>,
    down: bool,
    status_writes: usize,
}

impl MemoryStore {
    /// Makes every later call fail (or work again).
    pub fn set_down(&self, down: bool) {
        lock(&self.inner).down = down;
    }

    /// How many `write_status` calls succeeded.
    pub fn status_writes(&self) -> usize {
        lock(&self.inner).status_writes
    }

    /// How many tasks are stored.
    pub fn len(&self) -> usize {
        lock(&self.inner).tasks.len()
    }

    /// Whether no task is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All stored tasks.
    pub fn all(&self) -> Vec<Task> {
        lock(&self.inner).tasks.values().cloned().collect()
    }
}

impl TaskStore for MemoryStore {
    async fn create(
        &self,
        task: &Task,
        idem: Option<&IdempotencyRecord>,
    ) -> Result<Created, Error> {
        let mut s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        if let Some(rec) = idem
            && s.idem.contains_key(&rec.scope)
        {
            return Ok(Created::KeyExists);
        }
        if s.tasks.contains_key(&task.id) {
            return Err(Error::Conflict);
        }
        s.tasks.insert(task.id.clone(), task.clone());
        if let Some(rec) = idem {
            s.idem.insert(rec.scope.clone(), rec.clone());
        }
        Ok(Created::New)
    }

    async fn get(&self, id: &TaskId) -> Result<Option<Task>, Error> {
        let s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        Ok(s.tasks.get(id).cloned())
    }

    async fn idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>, Error> {
        let s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        Ok(s.idem.get(scope).cloned())
    }

    async fn list(&self, q: &ListQuery) -> Result<Page, Error> {
        let s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        let after = match &q.next {
            None => None,
            Some(c) => Some(TaskId::parse(c).ok_or_else(|| {
                Error::Invalid(ccaas_domain::FieldError {
                    code: "invalid_field",
                    field: "next".into(),
                    message: "is not a cursor from this API".into(),
                })
            })?),
        };
        let matching: Vec<&Task> = s
            .tasks
            .values()
            .rev()
            .filter(|t| after.as_ref().is_none_or(|a| t.id < *a))
            .filter(|t| q.status.is_none_or(|st| t.status == st))
            .filter(|t| q.user.as_ref().is_none_or(|u| &t.user == u))
            .filter(|t| q.task_type.is_none_or(|ty| t.task_type == ty))
            .filter(|t| q.device.as_ref().is_none_or(|d| &t.device == d))
            .take(q.limit + 1)
            .collect();
        let more = matching.len() > q.limit;
        let tasks: Vec<Task> = matching.into_iter().take(q.limit).cloned().collect();
        let next = if more {
            tasks.last().map(|t| t.id.to_string())
        } else {
            None
        };
        Ok(Page { tasks, next })
    }

    async fn write_status(&self, next: &Task, expected: (Status, u64)) -> Result<(), Error> {
        let mut s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        let Some(cur) = s.tasks.get_mut(&next.id) else {
            return Err(Error::Conflict);
        };
        if (cur.status, cur.version) != expected {
            return Err(Error::Conflict);
        }
        cur.status = next.status;
        cur.version = next.version;
        cur.updated = next.updated.clone();
        cur.lease_until = next.lease_until;
        cur.result = next.result.clone();
        cur.error = next.error.clone();
        s.status_writes += 1;
        Ok(())
    }
}

/// A queue that records what was sent. `fail_next(n)` makes the next n sends fail.
#[derive(Clone, Default)]
pub struct MemoryQueue {
    inner: Arc<Mutex<QueueState>>,
}

#[derive(Default)]
struct QueueState {
    sent: Vec<(TaskMessage, Priority)>,
    fail_next: usize,
}

impl MemoryQueue {
    /// Makes the next `n` sends fail as unavailable.
    pub fn fail_next(&self, n: usize) {
        lock(&self.inner).fail_next = n;
    }

    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<(TaskMessage, Priority)> {
        lock(&self.inner).sent.clone()
    }
}

impl TaskQueue for MemoryQueue {
    async fn enqueue(&self, message: &TaskMessage, priority: Priority) -> Result<(), Error> {
        let mut q = lock(&self.inner);
        if q.fail_next > 0 {
            q.fail_next -= 1;
            return Err(down("task queue"));
        }
        q.sent.push((message.clone(), priority));
        Ok(())
    }
}

/// Command logs in a map.
#[derive(Clone, Default)]
pub struct MemoryLogs {
    inner: Arc<Mutex<BTreeMap<TaskId, Vec<u8>>>>,
}

impl LogStore for MemoryLogs {
    async fn read_log(&self, id: &TaskId) -> Result<Option<Vec<u8>>, Error> {
        Ok(lock(&self.inner).get(id).cloned())
    }

    async fn write_log(&self, id: &TaskId, jsonl: Vec<u8>) -> Result<(), Error> {
        lock(&self.inner).insert(id.clone(), jsonl);
        Ok(())
    }
}
