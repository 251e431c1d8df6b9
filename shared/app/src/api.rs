//! The task API use cases: submit, get, list and read a task's log.

use ccaas_domain::{
    DeviceAccess, DeviceAllow, FieldError, ListQuery, SealedMessage, Status, Submission, Task,
    TaskId, TaskMessage, parse_submission, rfc3339,
};
use tracing::{info, warn};

use crate::envelope::seal;
use crate::ports::{
    Created, IdempotencyRecord, LogStore, Sealer, TaskQueue, TaskStore, device_key,
};
use crate::view::{AcceptedView, ListItem, ListView, TaskView};
use crate::{Clock, Error};

/// Who calls: a verified identity (with auth on) or anonymous (auth off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Auth is off: the body's `user` is honoured, defaulting to `anonymous`.
    Anonymous,
    /// Auth is on: this is the user, whatever the body says.
    Verified(String),
}

/// The result of a submit: the task and whether it was created now or replayed.
#[derive(Clone, Debug, PartialEq)]
pub struct Accepted {
    /// The 202 body.
    pub view: AcceptedView,
    /// True when an Idempotency-Key replay returned an existing task.
    pub replayed: bool,
}

/// The task API over its stores.
#[derive(Clone, Debug)]
pub struct Api<S, Q, L, K> {
    /// Where tasks live.
    pub store: S,
    /// Where messages go.
    pub queue: Q,
    /// Seals the device access of each message.
    pub sealer: K,
    /// Where command logs live.
    pub logs: L,
    /// The base URL for self links (empty gives relative links).
    pub base_url: String,
    /// Where the time of new tasks and status writes comes from.
    pub clock: Clock,
    /// The devices tasks may name (`CCAAS_DEVICE_ALLOW`; every device when unset).
    pub allow: DeviceAllow,
}

impl<S: TaskStore, Q: TaskQueue, L: LogStore, K: Sealer> Api<S, Q, L, K> {
    /// `POST /v1/tasks`: validate, seal, store, enqueue.
    ///
    /// A device outside the allow-list is refused ([`Error::Forbidden`], `device_not_allowed`)
    /// before anything is sealed, stored or queued. The seal comes first, so a key service
    /// outage writes nothing. The store write comes
    /// before the send, so a message never names a task that does not exist.
    /// If the send then fails the caller gets 503: with an Idempotency-Key the retry finds the
    /// pending task and sends again (FIFO dedup by task id makes a double send harmless);
    /// without one the orphan is marked failed so nothing waits forever.
    pub async fn submit(
        &self,
        caller: &Caller,
        idempotency_key: Option<&str>,
        body: &[u8],
    ) -> Result<Accepted, Error> {
        let sub = parse_submission(body).map_err(Error::Invalid)?;
        if !self.allow.allows(&sub.device.host, sub.device.port) {
            return Err(Error::Forbidden(FieldError {
                code: "device_not_allowed",
                field: "data.device.host".into(),
                message: if sub.device.host.as_ip().is_none() && self.allow.is_restricted() {
                    "this service only takes devices by IP address, inside its allow-list".into()
                } else {
                    "this device (address and port) is not in the service's allow-list".into()
                },
            }));
        }
        let user = match caller {
            Caller::Verified(u) => u.clone(),
            Caller::Anonymous => sub.user.clone().unwrap_or_else(|| "anonymous".into()),
        };
        let now = self.clock.now_ms();
        let task = new_task(&sub, user.clone(), now);
        let message = self.seal(&task.id, &sub.device).await?;
        // One message group per device, the key the devices table uses too: one device's
        // tasks run in order, different devices (even on one host) in parallel.
        let group = device_key(&sub.device.host.to_string(), sub.device.port);

        let Some(key) = idempotency_key else {
            self.store.create(&task, None).await?;
            if let Err(e) = self.queue.enqueue(&message, &group, task.priority).await {
                self.fail_orphan(&task).await;
                return Err(e);
            }
            info!(task_id = %task.id, "task accepted");
            return Ok(Accepted {
                view: AcceptedView::of(&task, &self.base_url),
                replayed: false,
            });
        };

        check_idempotency_key(key)?;
        let record = IdempotencyRecord {
            scope: format!("{user}#{key}"),
            task_id: task.id.clone(),
            fingerprint: sub.fingerprint(),
        };
        match self.store.create(&task, Some(&record)).await? {
            Created::New => {
                self.queue.enqueue(&message, &group, task.priority).await?;
                info!(task_id = %task.id, "task accepted");
                Ok(Accepted {
                    view: AcceptedView::of(&task, &self.base_url),
                    replayed: false,
                })
            }
            Created::KeyExists => {
                let first = self
                    .store
                    .idempotency(&record.scope)
                    .await?
                    .ok_or(Error::Conflict)?;
                if first.fingerprint != record.fingerprint {
                    return Err(Error::IdempotencyConflict);
                }
                let existing = self
                    .store
                    .get(&first.task_id)
                    .await?
                    .ok_or_else(|| Error::Corrupt("idempotency record without task".into()))?;
                if existing.status == Status::Pending {
                    // The first call may have stopped between the write and the send.
                    let message = self.seal(&existing.id, &sub.device).await?;
                    self.queue
                        .enqueue(&message, &group, existing.priority)
                        .await?;
                }
                info!(task_id = %existing.id, "idempotent replay");
                Ok(Accepted {
                    view: AcceptedView::of(&existing, &self.base_url),
                    replayed: true,
                })
            }
        }
    }

    /// The queue message of task `id`, its device access sealed.
    async fn seal(&self, id: &TaskId, device: &DeviceAccess) -> Result<SealedMessage, Error> {
        let message = TaskMessage {
            task_id: id.clone(),
            device: device.clone(),
        };
        seal(&self.sealer, &message).await
    }

    /// Best effort: a task whose message could not be sent is marked failed.
    async fn fail_orphan(&self, task: &Task) {
        let mut next = task.advance(Status::Failed, self.clock.now_ms());
        next.error = Some(ccaas_domain::TaskError {
            code: "enqueue_failed".into(),
            message: "the task queue was unavailable; submit again".into(),
        });
        if let Err(e) = self
            .store
            .write_status(&next, (Status::Pending, task.version))
            .await
        {
            warn!(task_id = %task.id, error = %e, "could not mark an unsent task failed");
        }
    }

    /// `GET /v1/tasks/{id}`. A malformed id is the same 404 as an unknown one.
    pub async fn get(&self, id: &str) -> Result<TaskView, Error> {
        let id = TaskId::parse(id).ok_or(Error::NotFound)?;
        let task = self.store.get(&id).await?.ok_or(Error::NotFound)?;
        Ok(TaskView::of(&task, &self.base_url))
    }

    /// `GET /v1/tasks` with filters and a cursor.
    pub async fn list<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ListView, Error> {
        let query = ListQuery::parse(params).map_err(Error::Invalid)?;
        let page = self.store.list(&query).await?;
        let collection: Vec<ListItem> = page
            .tasks
            .iter()
            .map(|t| ListItem::of(t, &self.base_url))
            .collect();
        Ok(ListView {
            count: collection.len(),
            collection,
            next: page.next,
        })
    }

    /// `GET /v1/tasks/{id}/log`: the JSON-lines command log, empty until one is written.
    pub async fn log(&self, id: &str) -> Result<Vec<u8>, Error> {
        let id = TaskId::parse(id).ok_or(Error::NotFound)?;
        self.store.get(&id).await?.ok_or(Error::NotFound)?;
        Ok(self.logs.read_log(&id).await?.unwrap_or_default())
    }
}

fn new_task(sub: &Submission, user: String, now: u64) -> Task {
    let created = rfc3339(now);
    Task {
        id: TaskId::from_parts(now, rand::random::<u128>()),
        name: sub.name.clone(),
        user,
        task_type: sub.task_type,
        priority: sub.priority,
        status: Status::Pending,
        version: 0,
        updated: created.clone(),
        created,
        device: sub.device.host.to_string(),
        port: sub.device.port,
        modules: sub.modules.clone(),
        session: sub.session.clone(),
        flush: sub.flush,
        webhook: sub.webhook.clone(),
        lease_until: None,
        lease_holder: None,
        result: None,
        error: None,
        notified: None,
    }
}

fn check_idempotency_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Invalid(FieldError {
            code: "invalid_field",
            field: "Idempotency-Key".into(),
            message: "must be 1 to 255 visible ASCII characters".into(),
        }));
    }
    Ok(())
}
