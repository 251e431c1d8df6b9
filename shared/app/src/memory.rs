//! In-memory twins of the role traits, for unit tests. They keep the adapters' contracts
//! (conditional writes, idempotency records, cursors) so use-case tests mean something.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use ccaas_domain::{
    ListQuery, Notified, Priority, SealedMessage, Status, Task, TaskId, TaskMessage,
};

use crate::Error;
use crate::ports::{
    ArtifactStore, Created, DeviceSession, IdempotencyRecord, LogStore, Notification, Notifier,
    NotifyError, Opened, Page, Sealer, SessionStore, TaskQueue, TaskStore,
};

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
    /// Held notification claims: task → until (Unix seconds).
    claims: BTreeMap<TaskId, u64>,
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

    async fn claim_notification(&self, id: &TaskId, now: u64, until: u64) -> Result<bool, Error> {
        let mut s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        let Some(task) = s.tasks.get(id) else {
            return Ok(false);
        };
        let (terminal, done) = (task.status.is_terminal(), task.notified.is_some());
        let held = s.claims.get(id).is_some_and(|u| *u >= now);
        if !terminal || held || done {
            return Ok(false);
        }
        s.claims.insert(id.clone(), until);
        Ok(true)
    }

    async fn mark_notified(&self, id: &TaskId, outcome: Notified) -> Result<(), Error> {
        let mut s = lock(&self.inner);
        if s.down {
            return Err(down("task store"));
        }
        s.claims.remove(id);
        // As the conditional update in DynamoDB: an id that is not a task gets no record.
        if let Some(task) = s.tasks.get_mut(id) {
            task.notified = Some(outcome);
        }
        Ok(())
    }
}

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

/// A sealer twin: a keyed XOR stream and a tag, both bound to the task id, so a sealed token
/// hides the credential from a substring search and does not open for another task. Not
/// cryptography; it stands in for KMS in unit tests. `fail_next(n)` makes the next n calls
/// fail as unavailable.
#[derive(Clone, Default)]
pub struct MemorySealer {
    fail_next: Arc<Mutex<usize>>,
}

impl MemorySealer {
    /// Makes the next `n` seals or opens fail as unavailable.
    pub fn fail_next(&self, n: usize) {
        *lock(&self.fail_next) = n;
    }

    fn check(&self) -> Result<(), Error> {
        let mut n = lock(&self.fail_next);
        if *n > 0 {
            *n -= 1;
            return Err(down("key service"));
        }
        Ok(())
    }

    /// Opens a sent message in one step, for tests that inspect what was queued.
    pub fn open_message(&self, m: &SealedMessage) -> Result<TaskMessage, Error> {
        let plain = twin_open(&m.task_id, &m.sealed_device)?;
        let device = serde_json::from_slice(&plain).map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(TaskMessage {
            task_id: m.task_id.clone(),
            device,
        })
    }
}

/// FNV-1a over the parts, each followed by a zero byte.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(std::iter::once(&0u8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn twin_xor(context: &TaskId, data: &[u8]) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ (fnv(&[context.as_str().as_bytes(), &i.to_le_bytes()]) as u8))
        .collect()
}

fn twin_open(context: &TaskId, sealed: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::Corrupt("the sealed token does not open for this task".into());
    let (tag, body) = sealed
        .strip_prefix("twin.")
        .and_then(|r| r.split_once('.'))
        .ok_or_else(bad)?;
    if !body.len().is_multiple_of(2) || !body.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..body.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&body[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let plain = twin_xor(context, &bytes);
    let want = fnv(&[context.as_str().as_bytes(), &plain]);
    if tag != format!("{want:016x}") {
        return Err(bad());
    }
    Ok(plain)
}

impl Sealer for MemorySealer {
    async fn seal(&self, context: &TaskId, plaintext: &[u8]) -> Result<String, Error> {
        self.check()?;
        let tag = fnv(&[context.as_str().as_bytes(), plaintext]);
        let body: String = twin_xor(context, plaintext)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(format!("twin.{tag:016x}.{body}"))
    }

    async fn open(&self, context: &TaskId, sealed: &str) -> Result<Vec<u8>, Error> {
        self.check()?;
        twin_open(context, sealed)
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

/// Open sessions in a map, with the store's conditional-write contract.
#[derive(Clone, Default)]
pub struct MemorySessions {
    inner: Arc<Mutex<BTreeMap<String, DeviceSession>>>,
}

impl MemorySessions {
    /// Every open session by device key.
    pub fn all(&self) -> BTreeMap<String, DeviceSession> {
        lock(&self.inner).clone()
    }
}

impl SessionStore for MemorySessions {
    async fn open(&self, device: &str, session: &DeviceSession) -> Result<Opened, Error> {
        let mut m = lock(&self.inner);
        match m.get(device) {
            Some(s) if s.id == session.id => Ok(Opened::Already),
            Some(s) => Ok(Opened::Busy(s.id.clone())),
            None => {
                m.insert(device.to_string(), session.clone());
                Ok(Opened::New)
            }
        }
    }

    async fn current(&self, device: &str) -> Result<Option<DeviceSession>, Error> {
        Ok(lock(&self.inner).get(device).cloned())
    }

    async fn close(&self, device: &str, id: &TaskId) -> Result<bool, Error> {
        let mut m = lock(&self.inner);
        if m.get(device).is_some_and(|s| &s.id == id) {
            m.remove(device);
            Ok(true)
        } else {
            Ok(false)
        }
    }
}

/// Private artifacts in a map, keyed as in S3 (`raw/<id>/gcda.tar.gz`, `raw/<id>/facts.json`).
#[derive(Clone, Default)]
pub struct MemoryArtifacts {
    inner: Arc<Mutex<ArtifactState>>,
}

#[derive(Default)]
struct ArtifactState {
    objects: BTreeMap<String, Vec<u8>>,
    puts: BTreeMap<String, usize>,
}

impl MemoryArtifacts {
    /// Every object by key.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.inner).objects.clone()
    }

    /// How many times `key` was written.
    pub fn puts(&self, key: &str) -> usize {
        lock(&self.inner).puts.get(key).copied().unwrap_or(0)
    }

    fn put(&self, key: String, bytes: Vec<u8>) {
        let mut s = lock(&self.inner);
        *s.puts.entry(key.clone()).or_default() += 1;
        s.objects.insert(key, bytes);
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.inner).objects.get(key).cloned()
    }
}

impl ArtifactStore for MemoryArtifacts {
    async fn put_raw(&self, id: &TaskId, from: &Path) -> Result<(), Error> {
        let bytes = std::fs::read(from).map_err(|e| Error::Unavailable {
            backend: "artifact store",
            source: Box::new(e),
        })?;
        self.put(format!("raw/{id}/gcda.tar.gz"), bytes);
        Ok(())
    }

    async fn get_raw(&self, id: &TaskId, to: &Path, max_bytes: u64) -> Result<bool, Error> {
        let Some(bytes) = self.get(&format!("raw/{id}/gcda.tar.gz")) else {
            return Ok(false);
        };
        if bytes.len() as u64 > max_bytes {
            return Err(Error::Corrupt(
                "the raw archive is over the size cap".into(),
            ));
        }
        std::fs::write(to, bytes).map_err(|e| Error::Unavailable {
            backend: "artifact store",
            source: Box::new(e),
        })?;
        Ok(true)
    }

    async fn put_facts(&self, id: &TaskId, json: Vec<u8>) -> Result<(), Error> {
        self.put(format!("raw/{id}/facts.json"), json);
        Ok(())
    }

    async fn get_facts(&self, id: &TaskId) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get(&format!("raw/{id}/facts.json")))
    }
}

/// The report site in maps: objects by key (`reports/<id>/<name>`), the recorded totals, and
/// how often the site index was regenerated. `fail_after(n)` makes the n+1-th upload fail.
#[derive(Clone, Default)]
pub struct MemorySite {
    inner: Arc<Mutex<SiteState>>,
}

#[derive(Default)]
struct SiteState {
    objects: BTreeMap<String, (Vec<u8>, String)>,
    order: Vec<String>,
    reports: BTreeMap<TaskId, crate::ports::SiteTotals>,
    index_writes: usize,
    fail_after: Option<usize>,
}

impl MemorySite {
    /// Every object by key, with its content type.
    pub fn objects(&self) -> BTreeMap<String, (Vec<u8>, String)> {
        lock(&self.inner).objects.clone()
    }

    /// Every key in the order it was written (repeats included).
    pub fn write_order(&self) -> Vec<String> {
        lock(&self.inner).order.clone()
    }

    /// How many times the site-wide index was regenerated.
    pub fn index_writes(&self) -> usize {
        lock(&self.inner).index_writes
    }

    /// Lets `n` more uploads succeed, then fails every one after (None: never fail).
    pub fn fail_after(&self, n: Option<usize>) {
        lock(&self.inner).fail_after = n;
    }

    fn put(&self, key: String, bytes: Vec<u8>, content_type: String) -> Result<(), Error> {
        let mut s = lock(&self.inner);
        match &mut s.fail_after {
            Some(0) => return Err(down("report site")),
            Some(n) => *n -= 1,
            None => {}
        }
        s.order.push(key.clone());
        s.objects.insert(key, (bytes, content_type));
        Ok(())
    }
}

impl crate::ports::ReportSite for MemorySite {
    async fn publish(
        &self,
        id: &TaskId,
        files: Vec<crate::ports::SiteFile>,
        totals: crate::ports::SiteTotals,
    ) -> Result<(), Error> {
        if let Some(f) = files
            .iter()
            .find(|f| !crate::ports::is_site_file_name(&f.name))
        {
            return Err(Error::Corrupt(format!(
                "report file name {:?} is not allowed",
                f.name
            )));
        }
        if !files.iter().any(|f| f.name == "index.html") {
            return Err(Error::Corrupt("the report has no index.html".into()));
        }
        let (index, rest): (Vec<_>, Vec<_>) =
            files.into_iter().partition(|f| f.name == "index.html");
        for f in rest.into_iter().chain(index) {
            self.put(format!("reports/{id}/{}", f.name), f.bytes, f.content_type)?;
        }
        lock(&self.inner).reports.insert(id.clone(), totals);
        crate::ports::ReportSite::refresh_index(self).await
    }

    async fn reports(&self) -> Result<Vec<(TaskId, crate::ports::SiteTotals)>, Error> {
        let s = lock(&self.inner);
        Ok(s.reports
            .iter()
            .rev()
            .map(|(k, v)| (k.clone(), *v))
            .collect())
    }

    async fn refresh_index(&self) -> Result<(), Error> {
        let listed = crate::ports::ReportSite::reports(self).await?;
        let body: String = listed.iter().map(|(id, _)| format!("{id}\n")).collect();
        self.put("index.html".into(), body.into_bytes(), "text/html".into())?;
        lock(&self.inner).index_writes += 1;
        Ok(())
    }
}

/// Published build parts in a map, keyed as in S3 (`builds/<build-id>/notes.tar.gz`, ...).
/// `insert` stores any bytes (a corrupt archive, say) the way a user's upload would.
#[derive(Clone, Default)]
pub struct MemoryBuilds {
    inner: Arc<Mutex<BuildsState>>,
}

#[derive(Default)]
struct BuildsState {
    objects: BTreeMap<String, Vec<u8>>,
    gets: usize,
}

impl MemoryBuilds {
    /// Stores `bytes` as the build's `part`.
    pub fn insert(
        &self,
        build: &ccaas_domain::BuildId,
        part: crate::ports::BuildPart,
        bytes: Vec<u8>,
    ) {
        lock(&self.inner)
            .objects
            .insert(crate::ports::build_key(build, part), bytes);
    }

    /// Every object by key.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.inner).objects.clone()
    }

    /// How many `get_part` calls were made.
    pub fn gets(&self) -> usize {
        lock(&self.inner).gets
    }
}

impl crate::ports::BuildStore for MemoryBuilds {
    async fn put_part(
        &self,
        build: &ccaas_domain::BuildId,
        part: crate::ports::BuildPart,
        from: &Path,
    ) -> Result<(), Error> {
        let bytes = std::fs::read(from).map_err(|e| Error::Unavailable {
            backend: "build store",
            source: Box::new(e),
        })?;
        self.insert(build, part, bytes);
        Ok(())
    }

    async fn get_part(
        &self,
        build: &ccaas_domain::BuildId,
        part: crate::ports::BuildPart,
        to: &Path,
        max_bytes: u64,
    ) -> Result<bool, Error> {
        let key = crate::ports::build_key(build, part);
        let bytes = {
            let mut s = lock(&self.inner);
            s.gets += 1;
            s.objects.get(&key).cloned()
        };
        let Some(bytes) = bytes else {
            return Ok(false);
        };
        if bytes.len() as u64 > max_bytes {
            return Err(Error::Corrupt(format!("{key} is over {max_bytes} bytes")));
        }
        std::fs::write(to, bytes).map_err(|e| Error::Unavailable {
            backend: "build store",
            source: Box::new(e),
        })?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &TaskId) -> DeviceSession {
        DeviceSession {
            id: id.clone(),
            modules: vec!["tmm".into()],
            facts: serde_json::json!({}),
            opened: "2026-11-29T00:00:00.000Z".into(),
        }
    }

    #[tokio::test]
    async fn a_device_holds_one_session_and_reopening_or_reclosing_it_changes_nothing() {
        let s = MemorySessions::default();
        let (a, b) = (TaskId::from_parts(1, 1), TaskId::from_parts(2, 2));
        assert_eq!(s.open("h:22", &session(&a)).await.unwrap(), Opened::New);
        assert_eq!(s.open("h:22", &session(&a)).await.unwrap(), Opened::Already);
        assert_eq!(
            s.open("h:22", &session(&b)).await.unwrap(),
            Opened::Busy(a.clone())
        );
        assert_eq!(s.open("h:23", &session(&b)).await.unwrap(), Opened::New);
        assert!(!s.close("h:22", &b).await.unwrap());
        assert!(s.close("h:22", &a).await.unwrap());
        assert!(!s.close("h:22", &a).await.unwrap());
        assert_eq!(s.current("h:22").await.unwrap(), None);
    }
}
