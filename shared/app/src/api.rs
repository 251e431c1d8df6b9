//! The task API use cases: submit, get, list and read a task's log.

use ccaas_domain::{
    CANCELLED, DeviceAccess, DeviceAllow, FieldError, ListQuery, SealedMessage, Status, Submission,
    Task, TaskId, TaskMessage, TaskType, parse_submission, rfc3339,
};
use tracing::{info, warn};

use crate::envelope::seal;
use crate::ports::{
    Created, IdempotencyRecord, LogStore, Sealer, TaskQueue, TaskStore, UsageStore, device_key,
};
use crate::usage::{CoverageView, UsageView};
use crate::view::{AcceptedView, ListItem, ListView, TaskView};
use crate::{Clock, Error};

/// Who calls: a verified identity (with auth on) or anonymous (auth off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Auth is off: the body's `user` is honoured, defaulting to `anonymous`.
    Anonymous,
    /// Auth is on: this is the user, whatever the body says.
    Verified(String),
    /// Auth is on, and the token puts this user in the service's admin group
    /// (`CCAAS_ADMIN_GROUP`, e.g. Cognito's `cognito:groups` claim).
    Admin(String),
}

impl Caller {
    /// Whether the caller is an admin: a verified user named in `admins`, or one whose token
    /// carries the admin group. Without auth nobody is (a body's `user` is a claim, not an
    /// identity). The one place that decides it: every admin-only action asks here.
    pub fn is_admin(&self, admins: &Admins) -> bool {
        match self {
            Caller::Anonymous => false,
            Caller::Verified(u) => admins.contains(u),
            Caller::Admin(_) => true,
        }
    }

    /// The verified user's name; `None` with auth off.
    pub fn user(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Verified(u) | Caller::Admin(u) => Some(u),
        }
    }

    /// Whether the caller may act on something `owner` owns (cancel their task): always
    /// without auth (there is no identity to check), else only the owner or an admin.
    pub fn may_act_for(&self, owner: &str, admins: &Admins) -> bool {
        match self.user() {
            None => true,
            Some(u) => u == owner || self.is_admin(admins),
        }
    }
}

/// The users who may act on other users' tasks and sessions (`CCAAS_ADMIN_USERS`, a
/// comma-separated list of user names, as the token's user claim gives them). Empty by
/// default: nobody is an admin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admins(std::collections::BTreeSet<String>);

impl Admins {
    /// Parses a comma-separated list of user names; blanks around names and empty items are
    /// ignored. Errors: the first item that is not a valid user name (1 to 64 of
    /// `A-Za-z0-9._@-`).
    pub fn parse(list: &str) -> Result<Admins, FieldError> {
        let mut set = std::collections::BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            ccaas_domain::submission::check_user(name)?;
            set.insert(name.to_owned());
        }
        Ok(Admins(set))
    }

    /// Whether `user` is one of them.
    pub fn contains(&self, user: &str) -> bool {
        self.0.contains(user)
    }
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
    /// Who may cancel other users' tasks and end or discard their sessions.
    pub admins: Admins,
    /// Whether email notices are sent (`CCAAS_MAIL_FROM` is set): without a sender a
    /// submission with `notify.email` is refused with 400 `email_disabled`.
    pub email: bool,
}

impl<S: TaskStore, Q: TaskQueue, L: LogStore, K: Sealer> Api<S, Q, L, K> {
    /// `POST /v1/tasks`: validate, seal, store, enqueue.
    ///
    /// A merge (`code-coverage-merge`) has no device: nothing is sealed, its message group is
    /// its own (`merge:<id>`), and the tasks it names are read first: each must be a
    /// succeeded `code-coverage-end` ([`Error::Unprocessable`], `not_mergeable`, naming
    /// `data.tasks[i]`), all of one build (`mixed_builds`, naming every task's build).
    /// A device outside the allow-list is refused ([`Error::Refused`], `device_not_allowed`)
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
        if !sub.email.is_empty() && !self.email {
            return Err(Error::Invalid(FieldError {
                code: "email_disabled",
                field: "notify.email".into(),
                message: "this service sends no email (it has no sender address, CCAAS_MAIL_FROM)"
                    .into(),
            }));
        }
        if let Some(device) = &sub.device
            && !self.allow.allows(&device.host, device.port)
        {
            return Err(Error::Refused(FieldError {
                code: "device_not_allowed",
                field: "data.device.host".into(),
                message: if device.host.as_ip().is_none() && self.allow.is_restricted() {
                    "this service only takes devices by IP address, inside its allow-list".into()
                } else {
                    "this device (address and port) is not in the service's allow-list".into()
                },
            }));
        }
        let user = match caller.user() {
            Some(u) => u.to_owned(),
            None => sub.user.clone().unwrap_or_else(|| "anonymous".into()),
        };
        if sub.task_type == TaskType::CoverageMerge {
            self.check_merge(&sub.tasks).await?;
        }
        let now = self.clock.now_ms();
        let mut task = new_task(&sub, user.clone(), now);
        task.admin = caller.is_admin(&self.admins);
        // Why the device's open tasks decide the queue: one device's tasks must run in the
        // order they were submitted, and only one FIFO group in one queue keeps an order. So
        // a task joins the queue of its device's newest open task; priority only picks the
        // queue of a device with nothing open (docs/api.md, "Priority and order").
        task.queue = Some(match &sub.device {
            Some(d) => self
                .store
                .open_queue(&d.host.to_string(), d.port)
                .await?
                .unwrap_or(sub.priority),
            None => sub.priority,
        });
        let message = self.seal(&task.id, sub.device.as_ref()).await?;
        let group = message_group(&sub, &task.id);

        let Some(key) = idempotency_key else {
            self.store.create(&task, None).await?;
            if let Err(e) = self.queue.enqueue(&message, &group, task.queue()).await {
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
                self.queue.enqueue(&message, &group, task.queue()).await?;
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
                    let message = self.seal(&existing.id, sub.device.as_ref()).await?;
                    let group = message_group(&sub, &existing.id);
                    self.queue
                        .enqueue(&message, &group, existing.queue())
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

    /// The queue message of task `id`, its device access sealed; a task without a device
    /// (a merge) seals nothing and its `sealed_device` is empty (the worker never opens it).
    async fn seal(
        &self,
        id: &TaskId,
        device: Option<&DeviceAccess>,
    ) -> Result<SealedMessage, Error> {
        let Some(device) = device else {
            return Ok(SealedMessage {
                task_id: id.clone(),
                sealed_device: String::new(),
            });
        };
        let message = TaskMessage {
            task_id: id.clone(),
            device: device.clone(),
        };
        seal(&self.sealer, &message).await
    }

    /// Checks a merge's end tasks: each exists, is a `code-coverage-end` and has succeeded
    /// (else `not_mergeable` naming `data.tasks[i]`), and all are of one build, as their
    /// results' `build` says (else `mixed_builds`, naming each task's build). Read-only.
    /// Errors: [`Error::Unprocessable`], [`Error::Unavailable`].
    async fn check_merge(&self, ids: &[TaskId]) -> Result<(), Error> {
        let refuse = |i: usize, message: String| {
            Error::Unprocessable(FieldError {
                code: "not_mergeable",
                field: format!("data.tasks[{i}]"),
                message,
            })
        };
        let mut builds: std::collections::BTreeMap<String, Vec<&TaskId>> = Default::default();
        for (i, id) in ids.iter().enumerate() {
            let Some(t) = self.store.get(id).await? else {
                return Err(refuse(i, format!("task {id} does not exist")));
            };
            if t.task_type != TaskType::CoverageEnd {
                return Err(refuse(
                    i,
                    format!(
                        "task {id} is a {}; only code-coverage-end tasks have reports to merge",
                        t.task_type.as_str()
                    ),
                ));
            }
            if t.status != Status::Succeeded {
                return Err(refuse(
                    i,
                    format!(
                        "task {id} is {}; only a succeeded end task has a report to merge",
                        t.status.as_str()
                    ),
                ));
            }
            let build = t
                .result
                .as_ref()
                .and_then(|r| r.get("build"))
                .and_then(|b| b.as_str())
                .filter(|b| ccaas_domain::BuildId::parse(b).is_ok());
            let Some(build) = build else {
                return Err(refuse(
                    i,
                    format!(
                        "task {id} has no valid build id in its result, so it cannot be matched to others"
                    ),
                ));
            };
            builds.entry(build.to_owned()).or_default().push(id);
        }
        if builds.len() > 1 {
            let each: Vec<String> = builds
                .iter()
                .map(|(b, ts)| {
                    let ts: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
                    format!("{b} ({})", ts.join(", "))
                })
                .collect();
            return Err(Error::Unprocessable(FieldError {
                code: "mixed_builds",
                field: "data.tasks".into(),
                message: format!(
                    "the tasks are of {} builds: {}; a merge takes the end tasks of one build",
                    builds.len(),
                    each.join("; ")
                ),
            }));
        }
        Ok(())
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

    /// `DELETE /v1/tasks/{id}`: cancels a pending task. The task becomes `failed` with the
    /// error code `cancelled` (a conditional write on its pending version), so its queue
    /// message is acked unrun by the worker, which never runs a finished task.
    /// Idempotent: cancelling a task that is already cancelled returns it again.
    /// Errors: [`Error::NotFound`] (also for a malformed id); [`Error::Forbidden`] when auth is
    /// on and the caller is neither the task's user nor an admin; [`Error::NotPending`] with
    /// the current status once it runs or has finished otherwise; [`Error::Unavailable`].
    pub async fn cancel(&self, caller: &Caller, id: &str) -> Result<TaskView, Error> {
        let id = TaskId::parse(id).ok_or(Error::NotFound)?;
        // A lost race re-reads: the worker may have taken the task in between.
        for _ in 0..3 {
            let task = self.store.get(&id).await?.ok_or(Error::NotFound)?;
            if !caller.may_act_for(&task.user, &self.admins) {
                return Err(Error::Forbidden(format!(
                    "task {id} is {}'s; only its user or an admin may cancel it",
                    task.user
                )));
            }
            if task.status == Status::Failed
                && task.error.as_ref().is_some_and(|e| e.code == CANCELLED)
            {
                return Ok(TaskView::of(&task, &self.base_url));
            }
            if task.status != Status::Pending {
                return Err(Error::NotPending(task.status));
            }
            let mut next = task.advance(Status::Failed, self.clock.now_ms());
            let by = caller.user().unwrap_or("a caller");
            next.error = Some(ccaas_domain::TaskError {
                code: CANCELLED.into(),
                message: format!("cancelled by {by} before it ran"),
            });
            match self
                .store
                .write_status(&next, (Status::Pending, task.version))
                .await
            {
                Ok(()) => {
                    info!(task_id = %id, "task cancelled");
                    return Ok(TaskView::of(&next, &self.base_url));
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
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
            total: page.total,
        })
    }

    /// `GET /v1/tasks/{id}/log`: the JSON-lines command log, empty until one is written.
    pub async fn log(&self, id: &str) -> Result<Vec<u8>, Error> {
        let id = TaskId::parse(id).ok_or(Error::NotFound)?;
        self.store.get(&id).await?.ok_or(Error::NotFound)?;
        Ok(self.logs.read_log(&id).await?.unwrap_or_default())
    }
}

impl<S: TaskStore + UsageStore, Q: TaskQueue, L: LogStore, K: Sealer> Api<S, Q, L, K> {
    /// `GET /v1/usage`: counts of tasks per group and period, and failures per code, from the
    /// usage counters (no task is read). Every user's usage: with auth on only an admin may
    /// ask; with auth off anyone. Errors: [`Error::Refused`] (`forbidden`) for a verified
    /// caller who is not an admin (checked first), [`Error::Invalid`] naming the field,
    /// [`Error::Unavailable`].
    pub async fn usage<'a>(
        &self,
        caller: &Caller,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<UsageView, Error> {
        if !(*caller == Caller::Anonymous || caller.is_admin(&self.admins)) {
            return Err(Error::Refused(FieldError {
                code: "forbidden",
                field: String::new(),
                message: "only an admin (CCAAS_ADMIN_USERS) may read the usage history".into(),
            }));
        }
        let q = ccaas_domain::usage::UsageQuery::parse(params, self.clock.now_ms())
            .map_err(Error::Invalid)?;
        crate::usage::usage(&self.store, &q).await
    }

    /// `GET /v1/usage/coverage`: the line coverage of a device's or a build's sessions over
    /// time, as any caller may list tasks. Errors: [`Error::Invalid`] naming the field,
    /// [`Error::Unavailable`].
    pub async fn coverage<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<CoverageView, Error> {
        let q = ccaas_domain::usage::CoverageQuery::parse(params).map_err(Error::Invalid)?;
        crate::usage::coverage(&self.store, &q).await
    }
}

fn new_task(sub: &Submission, user: String, now: u64) -> Task {
    let created = rfc3339(now);
    Task {
        id: crate::ids::new_task_id(now),
        name: sub.name.clone(),
        user,
        task_type: sub.task_type,
        priority: sub.priority,
        queue: None,
        status: Status::Pending,
        version: 0,
        updated: created.clone(),
        created,
        device: sub
            .device
            .as_ref()
            .map(|d| d.host.to_string())
            .unwrap_or_default(),
        port: sub.device.as_ref().map_or(0, |d| d.port),
        modules: sub.modules.clone(),
        session: sub.session.clone(),
        merge: sub.tasks.clone(),
        flush: sub.flush,
        webhook: sub.webhook.clone(),
        email: sub.email.clone(),
        lease_until: None,
        lease_holder: None,
        retry_since: None,
        started: None,
        admin: false,
        result: None,
        error: None,
        notified: None,
        notified_email: None,
    }
}

/// The FIFO message group of task `id`: its device key, the key the devices table uses too,
/// so one device's tasks run in order and different devices (even on one host) in parallel; a
/// task without a device (a merge) has a group of its own, `merge:<id>`, so merges run in
/// parallel with everything.
fn message_group(sub: &Submission, id: &TaskId) -> String {
    match &sub.device {
        Some(d) => device_key(&d.host.to_string(), d.port),
        None => format!("merge:{id}"),
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
