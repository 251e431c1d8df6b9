//! The task store twin: tasks and idempotency records in maps, with the conditional writes of
//! `TaskStore`, and the usage counters and coverage points of `UsageStore`, written under the
//! same lock as the task write that makes them (as DynamoDB's one transaction does).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ccaas_domain::{Channel, ListQuery, Notified, Priority, Status, Task, TaskId};

use super::{down, lock};
use crate::Error;
use crate::ports::{Created, IdempotencyRecord, Page, TaskStore, UsageStore};
use crate::usage::{CounterRow, CounterRows, CoveragePoint, Effects};

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
    /// Held notification claims: (task, channel name) → until (Unix seconds).
    claims: BTreeMap<(TaskId, &'static str), u64>,
    /// Usage counters: (series, `<period>#<group>`) → attribute → value.
    counters: BTreeMap<(String, String), BTreeMap<String, i64>>,
    /// Coverage points: (subject key, end task id) → point.
    points: BTreeMap<(String, TaskId), CoveragePoint>,
}

impl StoreState {
    fn apply(&mut self, effects: Effects) {
        for c in effects.counters {
            let item = self.counters.entry((c.series, c.sk)).or_default();
            for (attr, delta) in c.adds {
                *item.entry(attr).or_default() += delta;
            }
        }
        for (key, point) in effects.points {
            self.points.insert((key, point.task.clone()), point);
        }
    }
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

    /// The recorded notification outcome of a task, if any.
    pub fn notified(&self, id: &TaskId) -> Option<Notified> {
        lock(&self.inner).tasks.get(id).and_then(|t| t.notified)
    }
}

impl TaskStore for MemoryStore {
    async fn open_queue(&self, host: &str, port: u16) -> Result<Option<Priority>, Error> {
        let s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        Ok(s.tasks
            .values()
            .filter(|t| t.device == host && t.port == port && !t.status.is_terminal())
            .max_by(|a, b| a.id.as_str().cmp(b.id.as_str()))
            .map(Task::queue))
    }

    async fn earlier_open(
        &self,
        host: &str,
        port: u16,
        before: &TaskId,
        queue: Priority,
    ) -> Result<Option<TaskId>, Error> {
        let s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        Ok(s.tasks
            .values()
            .filter(|t| t.device == host && t.port == port && !t.status.is_terminal())
            .filter(|t| t.id.as_str() < before.as_str() && t.queue() != queue)
            .min_by(|a, b| a.id.as_str().cmp(b.id.as_str()))
            .map(|t| t.id.clone()))
    }

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
        s.apply(Effects::of_create(task));
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
        // The cursor is `<filters>|<last id>`: as the DynamoDB adapter's, it is refused with
        // other filters than the ones it was made for.
        let filters = q.filters_key();
        let after = match &q.next {
            None => None,
            Some(c) => Some(
                c.strip_prefix(filters.as_str())
                    .and_then(|rest| rest.strip_prefix('|'))
                    .and_then(TaskId::parse)
                    .ok_or_else(|| {
                        Error::Invalid(ccaas_domain::FieldError {
                            code: "invalid_field",
                            field: "next".into(),
                            message: "is not a cursor from this API".into(),
                        })
                    })?,
            ),
        };
        let (lo, hi) = q.id_range();
        let matching: Vec<&Task> = s
            .tasks
            .values()
            .rev()
            .filter(|t| after.as_ref().is_none_or(|a| t.id < *a))
            .filter(|t| lo.as_ref().is_none_or(|lo| t.id >= *lo))
            .filter(|t| hi.as_ref().is_none_or(|hi| t.id <= *hi))
            .filter(|t| q.port.is_none_or(|p| t.port == p))
            .filter(|t| q.status.is_none_or(|st| t.status == st))
            .filter(|t| q.user.as_ref().is_none_or(|u| &t.user == u))
            .filter(|t| q.task_type.is_none_or(|ty| t.task_type == ty))
            .filter(|t| q.device.as_ref().is_none_or(|d| &t.device == d))
            .take(q.limit + 1)
            .collect();
        let more = matching.len() > q.limit;
        let tasks: Vec<Task> = matching.into_iter().take(q.limit).cloned().collect();
        let next = if more {
            tasks.last().map(|t| format!("{filters}|{}", t.id))
        } else {
            None
        };
        let total = (q.next.is_none() && next.is_none()).then_some(tasks.len());
        Ok(Page { tasks, next, total })
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
        cur.lease_holder = next.lease_holder.clone();
        cur.retry_since = next.retry_since;
        cur.started = next.started;
        cur.result = next.result.clone();
        cur.error = next.error.clone();
        s.status_writes += 1;
        s.apply(Effects::of_status(expected.0, next));
        Ok(())
    }

    async fn claim_notification(
        &self,
        id: &TaskId,
        channel: Channel,
        now: u64,
        until: u64,
    ) -> Result<bool, Error> {
        let mut s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        let Some(task) = s.tasks.get(id) else {
            return Ok(false);
        };
        let (terminal, done) = (
            task.status.is_terminal(),
            task.notified_on(channel).is_some(),
        );
        let key = (id.clone(), channel.as_str());
        let held = s.claims.get(&key).is_some_and(|u| *u >= now);
        if !terminal || held || done {
            return Ok(false);
        }
        s.claims.insert(key, until);
        Ok(true)
    }

    async fn mark_notified(
        &self,
        id: &TaskId,
        channel: Channel,
        outcome: Notified,
    ) -> Result<(), Error> {
        let mut s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        s.claims.remove(&(id.clone(), channel.as_str()));
        // As the conditional update in DynamoDB: an id that is not a task gets no record.
        if let Some(task) = s.tasks.get_mut(id) {
            match channel {
                Channel::Webhook => task.notified = Some(outcome),
                Channel::Email => task.notified_email = Some(outcome),
            }
        }
        Ok(())
    }
}

impl UsageStore for MemoryStore {
    async fn counters(
        &self,
        series: &str,
        first_period: &str,
        last_period: &str,
        max_rows: usize,
    ) -> Result<CounterRows, Error> {
        let s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        let mut out = CounterRows::default();
        for ((ser, sk), values) in &s.counters {
            if ser != series || sk.as_str() < first_period || sk.get(..10) > Some(last_period) {
                continue;
            }
            if out.rows.len() == max_rows {
                out.truncated = true;
                break;
            }
            let row = CounterRow::from_sk(sk, values.clone())
                .ok_or_else(|| Error::Corrupt(format!("counter key {sk:?}")))?;
            out.rows.push(row);
        }
        Ok(out)
    }

    async fn coverage_points(
        &self,
        subject: &str,
        from: Option<&TaskId>,
        to: Option<&TaskId>,
        limit: usize,
    ) -> Result<Vec<CoveragePoint>, Error> {
        let s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        let mut newest: Vec<CoveragePoint> = s
            .points
            .iter()
            .rev()
            .filter(|((k, id), _)| {
                k == subject && from.is_none_or(|f| id >= f) && to.is_none_or(|t| id <= t)
            })
            .take(limit)
            .map(|(_, p)| p.clone())
            .collect();
        newest.reverse();
        Ok(newest)
    }
}
