//! The coverage runner through the real worker, on in-memory twins: sessions, stages,
//! retries after crashes between side effects, and duplicate deliveries.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ccaas_app::memory::{
    MemoryArtifacts, MemoryBuilds, MemoryIndexes, MemoryLogs, MemoryQueue, MemorySealer,
    MemorySessions, MemorySite,
};
use ccaas_app::ports::{ArtifactStore, ReportSite};
use ccaas_app::{Api, Caller, Disposition, Error, LogStore, SessionStore, Worker, WorkerConfig};
use ccaas_coverage::{CoverageRunner, RunnerConfig};
use ccaas_device::{DeviceError, MemoryDevice};
use ccaas_domain::{Status, TaskId};
use common::Shared;

const NOTES: &[u8] = include_bytes!("../../gcov/tests/data/gcc12/tricky.gcno");
const DATA: &[u8] = include_bytes!("../../gcov/tests/data/gcc12/tricky.gcda");

/// Fails one chosen call (counted from 1) with "unavailable", to stand for a crash there.
#[derive(Clone, Default)]
struct Crash {
    at: Arc<AtomicUsize>,
    seen: Arc<AtomicUsize>,
}

impl Crash {
    fn arm(&self, nth: usize) {
        self.seen.store(0, Ordering::SeqCst);
        self.at.store(nth, Ordering::SeqCst);
    }
    fn hit(&self) -> Result<(), Error> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.at.load(Ordering::SeqCst) {
            return Err(Error::Unavailable {
                backend: "test",
                source: "crash injected here".into(),
            });
        }
        Ok(())
    }
}

/// Artifacts that crash on a chosen write (`put_raw` and `put_facts` count together).
#[derive(Clone, Default)]
struct CrashyArtifacts {
    inner: MemoryArtifacts,
    crash: Crash,
}

impl ArtifactStore for CrashyArtifacts {
    async fn put_raw(&self, id: &TaskId, from: &std::path::Path) -> Result<(), Error> {
        self.crash.hit()?;
        self.inner.put_raw(id, from).await
    }
    async fn get_raw(&self, id: &TaskId, to: &std::path::Path, max: u64) -> Result<bool, Error> {
        self.inner.get_raw(id, to, max).await
    }
    async fn put_facts(&self, id: &TaskId, json: Vec<u8>) -> Result<(), Error> {
        self.crash.hit()?;
        self.inner.put_facts(id, json).await
    }
    async fn get_facts(&self, id: &TaskId) -> Result<Option<Vec<u8>>, Error> {
        self.inner.get_facts(id).await
    }
}

/// Sessions that crash on a chosen `open` or `close`.
#[derive(Clone, Default)]
struct CrashySessions {
    inner: MemorySessions,
    crash: Crash,
}

impl SessionStore for CrashySessions {
    async fn open(
        &self,
        device: &str,
        s: &ccaas_app::DeviceSession,
    ) -> Result<ccaas_app::Opened, Error> {
        self.crash.hit()?;
        self.inner.open(device, s).await
    }
    async fn current(&self, device: &str) -> Result<Option<ccaas_app::DeviceSession>, Error> {
        self.inner.current(device).await
    }
    async fn close(&self, device: &str, id: &TaskId) -> Result<bool, Error> {
        self.crash.hit()?;
        self.inner.close(device, id).await
    }
    async fn list(
        &self,
        next: Option<&str>,
        limit: usize,
    ) -> Result<ccaas_app::SessionPage, Error> {
        self.inner.list(next, limit).await
    }
}

/// A site that crashes on a chosen write (put or delete).
#[derive(Clone, Default)]
struct CrashySite {
    inner: MemorySite,
    crash: Crash,
}

impl ReportSite for CrashySite {
    async fn put(&self, key: &str, b: Vec<u8>, ty: &str, cache: &str) -> Result<(), Error> {
        self.crash.hit()?;
        self.inner.put(key, b, ty, cache).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.crash.hit()?;
        self.inner.delete(key).await
    }
}

type Runner = CoverageRunner<
    Shared,
    CrashySessions,
    CrashyArtifacts,
    CrashySite,
    MemoryLogs,
    MemoryBuilds,
    MemoryIndexes,
>;

struct Rig {
    api: Api<ccaas_app::memory::MemoryStore, MemoryQueue, MemoryLogs, MemorySealer>,
    worker: Arc<Worker<ccaas_app::memory::MemoryStore, Runner, MemorySealer>>,
    device: Arc<MemoryDevice>,
}

fn rig() -> Rig {
    rig_with(ccaas_app::Clock::default(), ccaas_app::Admins::default())
}

/// A rig whose runner reads `clock` and whose API knows `admins`.
fn rig_with(clock: ccaas_app::Clock, admins: ccaas_app::Admins) -> Rig {
    rig_config(
        admins,
        RunnerConfig {
            site_url: "http://site.test".into(),
            clock,
            ..RunnerConfig::default()
        },
    )
}

/// A rig whose runner has `config` and whose API knows `admins`.
fn rig_config(admins: ccaas_app::Admins, config: RunnerConfig) -> Rig {
    let store = ccaas_app::memory::MemoryStore::default();
    let logs = MemoryLogs::default();
    let device = Arc::new(MemoryDevice::bigip());
    let runner = CoverageRunner {
        connector: Shared(device.clone()),
        sessions: CrashySessions::default(),
        artifacts: CrashyArtifacts::default(),
        site: CrashySite::default(),
        logs: logs.clone(),
        builds: MemoryBuilds::default(),
        indexes: MemoryIndexes::default(),
        config,
    };
    Rig {
        api: Api {
            store: store.clone(),
            queue: MemoryQueue::default(),
            sealer: MemorySealer::default(),
            logs,
            base_url: String::new(),
            clock: ccaas_app::Clock::default(),
            allow: Default::default(),
            admins,
            email: false,
        },
        worker: Arc::new(Worker {
            store,
            runner,
            sealer: MemorySealer::default(),
            notifier: ccaas_app::NoNotifier,
            mailer: ccaas_app::NoMailer,
            config: WorkerConfig {
                lease_secs: 900,
                max_receives: 5,
                ..WorkerConfig::default()
            },
        }),
        device,
    }
}

impl Rig {
    /// Submits a task through the API and returns its id and queue message body.
    async fn submit(&self, ty: &str, extra: &str) -> (TaskId, String) {
        self.submit_as(&Caller::Anonymous, ty, extra).await
    }

    /// Submits a task as `caller` and returns its id and queue message body.
    async fn submit_as(&self, caller: &Caller, ty: &str, extra: &str) -> (TaskId, String) {
        let body = format!(
            r#"{{"type":"{ty}","data":{{"device":{{"host":"bigip1","port":22,"username":"root","password":"canary-pw-9f3"}},"modules":["tmm","mcpd"]{extra}}}}}"#
        );
        let accepted = self
            .api
            .submit(caller, None, body.as_bytes())
            .await
            .expect("accepted");
        let msg = self.api.queue.sent().last().expect("sent").0.clone();
        assert_eq!(msg.task_id.to_string(), accepted.view.id.to_string());
        (msg.task_id.clone(), serde_json::to_string(&msg).unwrap())
    }

    async fn task(&self, id: &TaskId) -> ccaas_domain::Task {
        use ccaas_app::TaskStore;
        self.api.store.get(id).await.unwrap().expect("task")
    }

    fn runner(&self) -> &Runner {
        &self.worker.runner
    }

    /// The daemons run and dump their counters, as a test suite would make them.
    fn dump(&self) {
        self.device.put_file("tmm", "b/tricky.gcno", NOTES);
        self.device.put_file("tmm", "b/tricky.gcda", DATA);
    }

    /// Starts a session and returns the start task's id.
    async fn started(&self) -> TaskId {
        let (id, body) = self.submit("code-coverage-start", "").await;
        assert!(matches!(
            self.worker.handle("m-1", &body, 1).await,
            Disposition::Ack
        ));
        assert_eq!(self.task(&id).await.status, Status::Succeeded);
        id
    }

    fn report_objects(&self, id: &TaskId) -> Vec<(String, Vec<u8>)> {
        let prefix = format!("reports/{id}/");
        self.runner()
            .site
            .inner
            .objects()
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, (b, _))| (k, b))
            .collect()
    }
}

#[tokio::test]
async fn a_session_from_start_to_end_publishes_the_report_and_gives_the_design_result() {
    let r = rig();
    let start = r.started().await;
    let started = r.task(&start).await.result.unwrap();
    assert_eq!(started["session"], start.to_string());
    assert_eq!(started["build"], "17.1.0-0.0.16");
    assert_eq!(started["modules"], serde_json::json!(["tmm", "mcpd"]));
    r.dump();

    let (end, body) = r
        .submit("code-coverage-end", &format!(r#","session":"{start}""#))
        .await;
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Ack
    ));
    let t = r.task(&end).await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let res = t.result.unwrap();
    let base = format!("http://site.test/reports/{end}/");
    assert_eq!(res["link"], format!("{base}index.html"));
    assert_eq!(res["files"]["lcov"], format!("{base}coverage.info"));
    assert_eq!(res["files"]["cobertura"], format!("{base}cobertura.xml"));
    assert_eq!(res["files"]["json"], format!("{base}summary.json"));
    assert_eq!(res["files"]["badge"], format!("{base}badge.svg"));
    let lines = &res["summary"]["lines"];
    assert!(lines["covered"].as_u64().unwrap() > 0);
    assert!(lines["covered"].as_u64() <= lines["total"].as_u64());
    assert!(res["summary"]["functions"]["total"].as_u64().unwrap() > 0);
    assert!(res["warnings"].is_array());

    // The report is on the site with index.html written last, and the raw data is kept.
    let order = r.runner().site.inner.write_order();
    let mine: Vec<&String> = order
        .iter()
        .filter(|k| k.starts_with(&format!("reports/{end}/")))
        .collect();
    assert_eq!(
        mine.last().map(|k| k.as_str()),
        Some(format!("reports/{end}/index.html").as_str())
    );
    let raw = r.runner().artifacts.inner.objects();
    assert!(raw.contains_key(&format!("raw/{end}/gcda.tar.gz")));
    assert!(raw.contains_key(&format!("raw/{end}/facts.json")));
    // The session is closed, the command log is written, and the secret is nowhere.
    assert!(r.runner().sessions.inner.all().is_empty());
    let log = r.runner().logs.read_log(&end).await.unwrap().expect("log");
    assert!(String::from_utf8_lossy(&log).contains("end"));
    let everything = format!(
        "{:?}{:?}{:?}{:?}",
        r.api.store.all(),
        raw,
        r.runner().site.inner.objects(),
        String::from_utf8_lossy(&log)
    );
    assert!(!everything.contains("canary-pw-9f3"));
}

#[tokio::test]
async fn a_second_start_on_a_busy_device_fails_as_session_open_without_touching_it() {
    let r = rig();
    let first = r.started().await;
    let (second, body) = r.submit("code-coverage-start", "").await;
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Ack
    ));
    let t = r.task(&second).await;
    assert_eq!(t.status, Status::Failed);
    let e = t.error.unwrap();
    assert_eq!(e.code, "session_open");
    assert!(e.message.contains(&first.to_string()), "{}", e.message);
    assert_eq!(r.device.calls(), (1, 0), "no second reset");
    assert_eq!(
        r.runner().sessions.inner.all()["bigip1:22"].id,
        first,
        "the first session is kept"
    );
}

#[tokio::test]
async fn a_retried_start_after_its_session_was_recorded_succeeds_with_the_same_session() {
    let r = rig();
    let (id, _) = r.submit("code-coverage-start", "").await;
    let task = r.task(&id).await;
    let access = r
        .api
        .sealer
        .open_message(&r.api.queue.sent()[0].0)
        .unwrap()
        .device;
    use ccaas_app::TaskRunner;
    let a = r.runner().run(&task, &access).await.unwrap();
    let b = r.runner().run(&task, &access).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(r.device.calls(), (1, 0), "the retry does not reset again");
}

#[tokio::test]
async fn a_crash_between_the_reset_and_the_session_write_is_healed_by_the_retry() {
    let r = rig();
    r.runner().sessions.crash.arm(1);
    let (id, body) = r.submit("code-coverage-start", "").await;
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Retry(_)
    ));
    assert!(r.runner().sessions.inner.all().is_empty());
    assert!(matches!(
        r.worker.handle("m-1", &body, 2).await,
        Disposition::Ack
    ));
    assert_eq!(r.task(&id).await.status, Status::Succeeded);
    assert_eq!(r.runner().sessions.inner.all()["bigip1:22"].id, id);
    assert_eq!(r.device.calls(), (2, 0), "the retry reset again");
}

#[tokio::test]
async fn an_end_without_an_open_session_fails_as_no_session() {
    let r = rig();
    let (id, body) = r.submit("code-coverage-end", "").await;
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Ack
    ));
    let t = r.task(&id).await;
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.unwrap().code, "no_session");

    let _open = r.started().await;
    let other = TaskId::from_parts(1, 7);
    let (id, body) = r
        .submit("code-coverage-end", &format!(r#","session":"{other}""#))
        .await;
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Ack
    ));
    assert_eq!(r.task(&id).await.error.unwrap().code, "no_session");
    assert_eq!(r.device.calls().1, 0, "nothing collected");
    assert_eq!(r.runner().sessions.inner.all().len(), 1, "still open");
}

/// Runs one end task with a crash armed at `nth` call of the chosen store, then retries.
async fn end_with_crash(arm: impl Fn(&Rig)) -> (Rig, TaskId) {
    let r = rig();
    let _ = r.started().await;
    r.dump();
    let (id, body) = r.submit("code-coverage-end", "").await;
    arm(&r);
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Retry(_)
    ));
    assert_eq!(r.task(&id).await.status, Status::Running);
    assert!(matches!(
        r.worker.handle("m-1", &body, 2).await,
        Disposition::Ack
    ));
    let t = r.task(&id).await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    assert!(r.runner().sessions.inner.all().is_empty());
    (r, id)
}

/// The report bytes of an end task that ran without any crash, for comparison.
async fn clean_report() -> Vec<(String, Vec<u8>)> {
    let r = rig();
    let _ = r.started().await;
    r.dump();
    let (id, body) = r.submit("code-coverage-end", "").await;
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Ack
    ));
    r.report_objects(&id)
}

/// The coverage numbers match a crash-free run's (the pages also show the session's times,
/// which differ between the two rigs, so only the timeless files are compared byte for byte).
fn same_coverage(clean: &[(String, Vec<u8>)], got: &[(String, Vec<u8>)]) {
    assert_eq!(clean.len(), got.len(), "same set of files");
    for ((a, x), (b, y)) in clean.iter().zip(got) {
        assert_eq!(a.rsplit('/').next(), b.rsplit('/').next());
        if ["coverage.info", "summary.json", "badge.svg"]
            .iter()
            .any(|n| a.ends_with(n))
        {
            assert!(x == y, "{b} differs from the crash-free run");
        }
    }
}

/// Runs the end task once more (as a redelivery after a lost status write would) and checks
/// that every published byte stays the same.
async fn rerun_gives_identical_bytes(r: &Rig, id: &TaskId) {
    let before = r.report_objects(id);
    let task = r.task(id).await;
    let access = r.api.queue.last_device(&r.api.sealer).unwrap();
    use ccaas_app::TaskRunner;
    r.runner().run(&task, &access).await.expect("re-run");
    assert!(before == r.report_objects(id), "identical report bytes");
}

#[tokio::test]
async fn a_crash_between_collect_and_the_raw_upload_recollects_and_loses_no_data() {
    let (r, id) = end_with_crash(|r| r.runner().artifacts.crash.arm(1)).await;
    assert_eq!(
        r.device.calls().1,
        2,
        "collected again: end deletes nothing"
    );
    same_coverage(&clean_report().await, &r.report_objects(&id));
    rerun_gives_identical_bytes(&r, &id).await;
}

#[tokio::test]
async fn a_collect_that_stalls_mid_stream_uploads_nothing_and_the_retry_collects_it_whole() {
    let r = rig();
    let _ = r.started().await;
    r.dump();
    let (id, body) = r.submit("code-coverage-end", "").await;
    r.device.stall_next_end(100);
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Retry(_)
    ));
    assert!(
        r.runner().artifacts.inner.objects().is_empty(),
        "a partial archive was uploaded: {:?}",
        r.runner().artifacts.inner.objects().keys()
    );
    assert!(r.report_objects(&id).is_empty(), "nothing published");
    assert_eq!(r.runner().sessions.inner.all().len(), 1, "still open");
    assert_eq!(r.task(&id).await.status, Status::Running);

    assert!(matches!(
        r.worker.handle("m-1", &body, 2).await,
        Disposition::Ack
    ));
    assert_eq!(r.task(&id).await.status, Status::Succeeded);
    assert_eq!(
        r.runner()
            .artifacts
            .inner
            .puts(&format!("raw/{id}/gcda.tar.gz")),
        1
    );
    same_coverage(&clean_report().await, &r.report_objects(&id));
}

#[tokio::test]
async fn a_crash_between_the_raw_upload_and_its_facts_record_recollects() {
    let (r, id) = end_with_crash(|r| r.runner().artifacts.crash.arm(2)).await;
    assert_eq!(r.device.calls().1, 2);
    same_coverage(&clean_report().await, &r.report_objects(&id));
    rerun_gives_identical_bytes(&r, &id).await;
}

#[tokio::test]
async fn a_crash_between_the_stages_renders_from_the_stored_archive_with_identical_bytes() {
    let (r, id) = end_with_crash(|r| r.runner().site.crash.arm(1)).await;
    assert_eq!(r.device.calls().1, 1, "the collect stage is not repeated");
    same_coverage(&clean_report().await, &r.report_objects(&id));
    rerun_gives_identical_bytes(&r, &id).await;
}

#[tokio::test]
async fn a_crash_after_publishing_and_before_the_close_republishes_the_same_bytes() {
    let r = rig();
    let _ = r.started().await;
    r.dump();
    let (id, body) = r.submit("code-coverage-end", "").await;
    r.runner().sessions.crash.arm(1);
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Retry(_)
    ));
    let first = r.report_objects(&id);
    assert!(!first.is_empty());
    assert!(matches!(
        r.worker.handle("m-1", &body, 2).await,
        Disposition::Ack
    ));
    assert!(r.report_objects(&id) == first, "identical report bytes");
    assert_eq!(r.device.calls().1, 1);
    assert!(r.runner().sessions.inner.all().is_empty());
}

#[tokio::test]
async fn an_end_writes_the_sessions_index_with_the_reports_lines_and_a_redelivery_writes_the_same_bytes()
 {
    let r = rig();
    let start = r.started().await;
    r.dump();
    let (end, body) = r.submit("code-coverage-end", "").await;
    // A crash at the close: the index is written by then, and the retry writes it again.
    r.runner().sessions.crash.arm(1);
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Retry(_)
    ));
    let first = r.runner().indexes.objects();
    assert!(matches!(
        r.worker.handle("m-1", &body, 2).await,
        Disposition::Ack
    ));
    let objects = r.runner().indexes.objects();
    assert_eq!(objects, first, "a redelivered end writes the same bytes");
    let key = format!("index/coverage/17.1.0-0.0.16/{start}.idx");
    let (header, files) = ccaas_impact::index::read_all(&objects[&key]).unwrap();
    assert_eq!(header.meta.session, start.to_string());
    assert_eq!(header.meta.task, end.to_string());
    assert_eq!(header.meta.build, "17.1.0-0.0.16");
    assert_eq!(header.meta.ended_ms, end.unix_ms());
    let latest = String::from_utf8(objects["index/latest.json"].clone()).unwrap();
    assert!(latest.contains("17.1.0-0.0.16"), "{latest}");
    // Its lines are the report's: lcov's DA records, instrumented and executed, per file.
    let lcov = r
        .report_objects(&end)
        .into_iter()
        .find(|(k, _)| k.ends_with("/coverage.info"))
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .unwrap();
    let mut want: std::collections::BTreeMap<String, (Vec<u32>, Vec<u32>)> = Default::default();
    let mut file = String::new();
    for line in lcov.lines() {
        if let Some(p) = line.strip_prefix("SF:") {
            file = p.to_string();
        } else if let Some(da) = line.strip_prefix("DA:") {
            let mut it = da.split(',');
            let n: u32 = it.next().unwrap().parse().unwrap();
            let count: u64 = it.next().unwrap().parse().unwrap();
            let e = want.entry(file.clone()).or_default();
            e.0.push(n);
            if count > 0 {
                e.1.push(n);
            }
        }
    }
    assert!(!want.is_empty());
    let got: std::collections::BTreeMap<String, (Vec<u32>, Vec<u32>)> = files
        .into_iter()
        .map(|f| {
            (
                f.path,
                (f.instrumented.iter().collect(), f.executed.iter().collect()),
            )
        })
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_crash_after_the_close_and_before_the_status_write_still_succeeds_on_retry() {
    let r = rig();
    let _ = r.started().await;
    r.dump();
    let (id, _) = r.submit("code-coverage-end", "").await;
    let task = r.task(&id).await;
    let access = r.api.queue.last_device(&r.api.sealer).unwrap();
    use ccaas_app::TaskRunner;
    let a = r.runner().run(&task, &access).await.unwrap();
    // The process died before the worker wrote `succeeded`; the session is already closed.
    assert!(r.runner().sessions.inner.all().is_empty());
    let b = r.runner().run(&task, &access).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(r.device.calls().1, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_duplicate_deliveries_of_one_end_task_collect_once() {
    let r = rig();
    let _ = r.started().await;
    r.dump();
    let (id, body) = r.submit("code-coverage-end", "").await;
    let writes_before = r.api.store.status_writes();
    let mut handles = Vec::new();
    for i in 0..100 {
        let w = r.worker.clone();
        let b = body.clone();
        // Distinct messages of one task (a re-sent submit), not redeliveries of one message.
        handles.push(tokio::spawn(async move {
            w.handle(&format!("dup-{i}"), &b, 1).await
        }));
    }
    for h in handles {
        let _ = h.await.unwrap();
    }
    // Deliveries that found the lease held are redelivered later; they then find it finished.
    assert!(matches!(
        r.worker.handle("m-1", &body, 2).await,
        Disposition::Ack
    ));
    assert_eq!(r.task(&id).await.status, Status::Succeeded);
    assert_eq!(r.device.calls().1, 1, "one collect");
    assert_eq!(
        r.runner()
            .artifacts
            .inner
            .puts(&format!("raw/{id}/gcda.tar.gz")),
        1
    );
    assert_eq!(
        r.api.store.status_writes() - writes_before,
        2,
        "pending→running and running→succeeded, once each"
    );
    // One report version: its index page is written once.
    let index = format!("reports/{id}/index.html");
    let order = r.runner().site.inner.write_order();
    assert_eq!(
        order.iter().filter(|k| **k == index).count(),
        1,
        "{order:?}"
    );
}

#[tokio::test]
async fn a_retryable_device_failure_is_retried_and_a_permanent_one_fails_the_task() {
    let r = rig();
    r.device.fail_next(|| DeviceError::Timeout {
        stage: "connect",
        after: std::time::Duration::from_secs(1),
    });
    let (id, body) = r.submit("code-coverage-start", "").await;
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Retry(_)
    ));
    assert!(matches!(
        r.worker.handle("m-1", &body, 2).await,
        Disposition::Ack
    ));
    assert_eq!(r.task(&id).await.status, Status::Succeeded);

    let r = rig();
    let (id, body) = r.submit("code-coverage-start", "").await;
    r.device.fail_next(|| DeviceError::NoData);
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Ack
    ));
    let t = r.task(&id).await;
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.error.unwrap().code, "no_data");
    assert!(r.runner().sessions.inner.all().is_empty());
}

impl Rig {
    /// Submits and runs one task as `caller`, and returns it as stored afterwards.
    async fn run_as(&self, caller: &Caller, ty: &str, extra: &str) -> ccaas_domain::Task {
        let (id, body) = self.submit_as(caller, ty, extra).await;
        assert!(matches!(
            self.worker.handle("m-1", &body, 1).await,
            Disposition::Ack
        ));
        self.task(&id).await
    }

    fn open_session(&self) -> Option<ccaas_app::DeviceSession> {
        self.runner().sessions.inner.all().get("bigip1:22").cloned()
    }
}

#[tokio::test]
async fn an_end_whose_data_unpacks_past_the_budget_fails_too_large_with_both_sizes_and_uploads_nothing()
 {
    let r = rig_config(
        ccaas_app::Admins::default(),
        RunnerConfig {
            unpack: ccaas_coverage::UnpackLimits {
                total_bytes: 1000,
                ..Default::default()
            },
            ..RunnerConfig::default()
        },
    );
    let start = r.started().await;
    r.dump();
    let (end, body) = r
        .submit("code-coverage-end", &format!(r#","session":"{start}""#))
        .await;
    assert!(matches!(
        r.worker.handle("m-1", &body, 1).await,
        Disposition::Ack
    ));
    let t = r.task(&end).await;
    assert_eq!(t.status, Status::Failed);
    let e = t.error.unwrap();
    assert_eq!(e.code, "too_large");
    let seen = (NOTES.len() + DATA.len()) as u64;
    let numbers: Vec<u64> = e
        .message
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(numbers.contains(&1000), "{}", e.message);
    assert!(numbers.iter().any(|n| *n > seen), "{}", e.message);
    assert!(r.runner().artifacts.inner.objects().is_empty());
    assert!(r.report_objects(&end).is_empty());
}

fn who(user: &str) -> Caller {
    Caller::Verified(user.into())
}

#[tokio::test]
async fn a_discard_closes_the_session_without_touching_the_device_and_a_retry_gives_the_same_result()
 {
    let r = rig();
    let start = r.started().await;
    let t = r
        .run_as(&Caller::Anonymous, "code-coverage-discard", "")
        .await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let res = t.result.clone().unwrap();
    assert_eq!(res["session"], start.to_string());
    assert_eq!(res["discarded"], true);
    assert_eq!(res["owner"], "anonymous");
    assert_eq!(r.open_session(), None);
    assert_eq!(r.device.calls(), (1, 0), "no flush, no collect");
    assert!(r.report_objects(&t.id).is_empty(), "no report");
    // A crash between the close and the status write: the retry closes nothing new and
    // returns the same result, rather than failing no_session.
    let access = ccaas_domain::parse_submission(
        br#"{"type":"code-coverage-discard","data":{"device":{"host":"bigip1","username":"root","password":"p"},"modules":["tmm"]}}"#,
    )
    .unwrap()
    .device
    .unwrap();
    use ccaas_app::TaskRunner;
    assert_eq!(r.runner().run(&t, &access).await.unwrap(), res);
    // With nothing open, a discard fails as an end does.
    let t = r
        .run_as(&Caller::Anonymous, "code-coverage-discard", "")
        .await;
    assert_eq!(t.error.unwrap().code, "no_session");
}

#[tokio::test]
async fn only_the_sessions_owner_or_an_admin_may_end_or_discard_it() {
    let r = rig_with(
        ccaas_app::Clock::default(),
        ccaas_app::Admins::parse("ops").unwrap(),
    );
    let start = r.run_as(&who("alice"), "code-coverage-start", "").await.id;
    assert_eq!(r.open_session().unwrap().owner.as_deref(), Some("alice"));
    let named = format!(r#","session":"{start}""#);
    for (ty, extra) in [
        ("code-coverage-end", ""),
        ("code-coverage-end", named.as_str()),
        ("code-coverage-discard", ""),
        ("code-coverage-discard", named.as_str()),
    ] {
        let t = r.run_as(&who("bob"), ty, extra).await;
        let e = t.error.expect("refused");
        assert_eq!(e.code, "session_not_owned", "{ty} {extra}: {}", e.message);
    }
    // An admin acts on another user's session only by naming it.
    let t = r.run_as(&who("ops"), "code-coverage-discard", "").await;
    assert_eq!(t.error.unwrap().code, "session_not_owned");
    assert_eq!(r.open_session().unwrap().id, start, "still open");
    assert_eq!(r.device.calls().1, 0, "nothing collected");
    r.dump();
    let t = r.run_as(&who("ops"), "code-coverage-end", &named).await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    assert_eq!(r.open_session(), None);
    // The owner ends their own session without naming it.
    r.run_as(&who("alice"), "code-coverage-start", "").await;
    r.dump();
    let t = r.run_as(&who("alice"), "code-coverage-end", "").await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
}

#[tokio::test]
async fn an_expired_session_fails_its_end_and_is_taken_over_by_the_next_start() {
    let clock = ccaas_app::Clock::manual(1_800_000_000_000);
    let r = rig_with(clock.clone(), ccaas_app::Admins::default());
    let old = r.run_as(&who("alice"), "code-coverage-start", "").await.id;
    let max = ccaas_coverage::DEFAULT_SESSION_MAX_AGE_SECS * 1000;
    clock.advance(max);
    // Exactly at the limit it is not expired: the device is still busy.
    let t = r.run_as(&who("bob"), "code-coverage-start", "").await;
    assert_eq!(t.error.unwrap().code, "session_open");
    clock.advance(1);
    let t = r.run_as(&who("alice"), "code-coverage-end", "").await;
    let e = t.error.unwrap();
    assert_eq!(e.code, "session_expired", "{}", e.message);
    assert_eq!(r.device.calls().1, 0, "nothing collected");
    assert_eq!(r.open_session().unwrap().id, old, "the end leaves it open");
    let t = r.run_as(&who("bob"), "code-coverage-start", "").await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    assert_eq!(t.result.unwrap()["took_over"], old.to_string());
    let now = r.open_session().unwrap();
    assert_eq!((now.id, now.owner.as_deref()), (t.id, Some("bob")));
    assert_eq!(now.opened_ms, Some(clock.now_ms()));
}

const OTHER_NOTES: &[u8] = include_bytes!("../../gcov/tests/data/gcc12/other.gcno");
const OTHER_DATA: &[u8] = include_bytes!("../../gcov/tests/data/gcc12/other.gcda");

/// The `DA:<line>,<count>` records of an lcov file, by (source file, line).
fn lcov_lines(lcov: &[u8]) -> std::collections::BTreeMap<(String, u32), u64> {
    let mut out = std::collections::BTreeMap::new();
    let mut file = String::new();
    for l in String::from_utf8_lossy(lcov).lines() {
        if let Some(f) = l.strip_prefix("SF:") {
            file = f.to_string();
        } else if let Some(da) = l.strip_prefix("DA:") {
            let mut p = da.split(',');
            let line: u32 = p.next().unwrap().parse().unwrap();
            let count: u64 = p.next().unwrap().parse().unwrap();
            *out.entry((file.clone(), line)).or_insert(0) += count;
        }
    }
    out
}

impl Rig {
    /// A whole session whose daemons dump `files`; returns the end task's id.
    async fn session(&self, files: &[(&str, &[u8])]) -> TaskId {
        let start = self.started().await;
        for (path, bytes) in files {
            self.device.put_file("tmm", path, bytes);
        }
        let (end, body) = self
            .submit("code-coverage-end", &format!(r#","session":"{start}""#))
            .await;
        assert!(matches!(
            self.worker.handle("m-end", &body, 1).await,
            Disposition::Ack
        ));
        let t = self.task(&end).await;
        assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
        end
    }

    /// Submits and runs a merge of `ends`; returns its id.
    async fn merged(&self, ends: &[&TaskId]) -> TaskId {
        let body = serde_json::json!({
            "type": "code-coverage-merge", "name": "both suites",
            "data": {"tasks": ends.iter().map(|e| e.to_string()).collect::<Vec<_>>()},
        });
        let acc = self
            .api
            .submit(&Caller::Anonymous, None, body.to_string().as_bytes())
            .await
            .expect("accepted");
        let msg = self.api.queue.sent().last().unwrap().0.clone();
        assert_eq!(msg.task_id.to_string(), acc.view.id);
        let body = serde_json::to_string(&msg).unwrap();
        assert!(matches!(
            self.worker.handle("m-merge", &body, 1).await,
            Disposition::Ack
        ));
        msg.task_id
    }

    fn site_object(&self, key: &str) -> Vec<u8> {
        self.runner()
            .site
            .inner
            .objects()
            .get(key)
            .unwrap_or_else(|| panic!("{key} is published"))
            .0
            .clone()
    }
}

#[tokio::test]
async fn a_merge_of_two_sessions_publishes_their_union_with_counts_summed_line_for_line() {
    let r = rig();
    let a = r
        .session(&[("b/tricky.gcno", NOTES), ("b/tricky.gcda", DATA)])
        .await;
    let b = r
        .session(&[
            ("b/tricky.gcno", NOTES),
            ("b/tricky.gcda", DATA),
            ("b/other.gcno", OTHER_NOTES),
            ("b/other.gcda", OTHER_DATA),
        ])
        .await;
    let m = r.merged(&[&a, &b]).await;
    let t = r.task(&m).await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let res = t.result.clone().unwrap();
    assert_eq!(res["merged"], serde_json::json!([a, b]));
    assert_eq!(res["build"], "17.1.0-0.0.16");
    assert_eq!(
        res["link"],
        format!("http://site.test/reports/{m}/index.html")
    );
    assert_eq!(res["sessions"].as_array().unwrap().len(), 2);

    // The merged lcov is, line for line, the sum of the two ends' (each the engine's output
    // on one raw archive): the union of their lines with the counts added.
    let la = lcov_lines(&r.site_object(&format!("reports/{a}/coverage.info")));
    let lb = lcov_lines(&r.site_object(&format!("reports/{b}/coverage.info")));
    let lm = lcov_lines(&r.site_object(&format!("reports/{m}/coverage.info")));
    let mut sum = la.clone();
    for (k, v) in &lb {
        *sum.entry(k.clone()).or_insert(0) += v;
    }
    assert!(
        lb.len() > la.len(),
        "the second session covers another file"
    );
    assert!(la.values().any(|&c| c > 0));
    assert_eq!(lm, sum);
    let covered = lm.values().filter(|&&c| c > 0).count() as u64;
    assert_eq!(res["summary"]["lines"]["covered"], covered);
    assert_eq!(res["summary"]["lines"]["total"], lm.len() as u64);
    for f in ["index.html", "cobertura.xml", "summary.json", "badge.svg"] {
        r.site_object(&format!("reports/{m}/{f}"));
    }

    // Its line index is the merge's, under index/merged/, and no impact listing sees it.
    let build = ccaas_domain::BuildId::parse("17.1.0-0.0.16").unwrap();
    let idx = r.runner().indexes.objects();
    let key = format!("index/merged/{build}/{m}.idx");
    let bytes = idx.get(&key).expect("the merge's index");
    let header = ccaas_impact::index::Header::parse(bytes).expect("an index");
    assert_eq!(header.meta.session, m.to_string());
    assert_eq!(header.meta.build, "17.1.0-0.0.16");
    let files: std::collections::BTreeSet<&String> = lm.keys().map(|(f, _)| f).collect();
    assert_eq!(header.file_count as usize, files.len());
    use ccaas_app::IndexStore;
    let listed = r.runner().indexes.list_sessions(&build, 100).await.unwrap();
    assert!(!listed.contains(&m), "{listed:?}");
    assert_eq!(listed.len(), 2);

    // A retry (a redelivery after a crash) publishes the same bytes.
    let before = r.report_objects(&m);
    use ccaas_app::TaskRunner;
    let again = r.runner().run_without_device(&t).await.expect("again");
    assert_eq!(again, res);
    assert_eq!(r.report_objects(&m), before);
    assert_eq!(r.runner().indexes.objects().get(&key), Some(bytes));
}

#[tokio::test]
async fn a_merge_whose_end_tasks_ran_on_two_builds_fails_mixed_builds_naming_both() {
    let r = rig();
    let a = r
        .session(&[("b/tricky.gcno", NOTES), ("b/tricky.gcda", DATA)])
        .await;
    let b = r
        .session(&[("b/tricky.gcno", NOTES), ("b/tricky.gcda", DATA)])
        .await;
    let m = r.merged(&[&a, &b]).await;
    assert_eq!(r.task(&m).await.status, Status::Succeeded);
    // The record of b as a device of another build would have written it (the submit check
    // reads the results; the runner reads the collected facts).
    let facts = r
        .runner()
        .artifacts
        .inner
        .get_facts(&b)
        .await
        .unwrap()
        .unwrap();
    let other = String::from_utf8(facts)
        .unwrap()
        .replace("17.1.0-0.0.16", "17.5.0-0.0.3");
    r.runner()
        .artifacts
        .inner
        .put_facts(&b, other.into_bytes())
        .await
        .unwrap();
    let m2 = r.merged(&[&a, &b]).await;
    let t = r.task(&m2).await;
    assert_eq!(t.status, Status::Failed);
    let e = t.error.unwrap();
    assert_eq!(e.code, "mixed_builds");
    assert!(
        e.message.contains(&format!("17.1.0-0.0.16 ({a})")),
        "{}",
        e.message
    );
    assert!(
        e.message.contains(&format!("17.5.0-0.0.3 ({b})")),
        "{}",
        e.message
    );
    assert!(r.report_objects(&m2).is_empty(), "nothing is published");
}

#[tokio::test]
async fn the_merged_archives_share_one_unpack_budget_and_a_merge_past_it_fails_too_large() {
    let one = (NOTES.len() + DATA.len()) as u64;
    let r = rig_config(
        ccaas_app::Admins::default(),
        RunnerConfig {
            unpack: ccaas_coverage::unpack::UnpackLimits {
                total_bytes: one + one / 2,
                ..Default::default()
            },
            ..RunnerConfig::default()
        },
    );
    let a = r
        .session(&[("b/tricky.gcno", NOTES), ("b/tricky.gcda", DATA)])
        .await;
    let b = r
        .session(&[("b/tricky.gcno", NOTES), ("b/tricky.gcda", DATA)])
        .await;
    let m = r.merged(&[&a, &b]).await;
    let t = r.task(&m).await;
    assert_eq!(
        t.status,
        Status::Failed,
        "each session fits, the two together do not"
    );
    let e = t.error.unwrap();
    assert_eq!(e.code, "too_large", "{}", e.message);
    assert!(e.message.contains("merged sessions"), "{}", e.message);
    assert!(r.report_objects(&m).is_empty());
}
