//! Build notes and sources through the real worker, on in-memory twins: a device that keeps no
//! `.gcno` gets its notes from `builds/<build-id>/notes.tar.gz`, the pages show the sources of
//! `builds/<build-id>/sources.tar.gz`, and missing, corrupt or mismatched notes are clear
//! errors or warnings.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::Arc;

use ccaas_app::memory::{
    MemoryArtifacts, MemoryBuilds, MemoryLogs, MemoryQueue, MemorySealer, MemorySessions,
    MemorySite, MemoryStore,
};
use ccaas_app::{Api, BuildPart, Caller, Disposition, TaskStore, Worker, WorkerConfig};
use ccaas_coverage::{CoverageRunner, RunnerConfig};
use ccaas_device::MemoryDevice;
use ccaas_domain::{BuildId, Status, Task, TaskId};
use common::Shared;
use serde_json::Value;

const NOTES: &[u8] = include_bytes!("../../gcov/tests/data/gcc12/tricky.gcno");
const DATA: &[u8] = include_bytes!("../../gcov/tests/data/gcc12/tricky.gcda");
const OTHER_NOTES: &[u8] = include_bytes!("../../gcov/tests/data/gcc12/other.gcno");
const OTHER_DATA: &[u8] = include_bytes!("../../gcov/tests/data/gcc12/other.gcda");
const TRICKY_C: &[u8] = include_bytes!("../../gcov/tests/data/src/tricky.c");
/// The build `MemoryDevice::bigip()` reports.
const BUILD: &str = "17.1.0-0.0.16";

type Runner = CoverageRunner<
    Shared,
    MemorySessions,
    MemoryArtifacts,
    MemorySite,
    MemoryLogs,
    MemoryBuilds,
    ccaas_app::memory::MemoryIndexes,
>;

struct Rig {
    api: Api<MemoryStore, MemoryQueue, MemoryLogs, MemorySealer>,
    worker: Worker<MemoryStore, Runner, MemorySealer>,
    device: Arc<MemoryDevice>,
}

fn rig() -> Rig {
    let store = MemoryStore::default();
    let logs = MemoryLogs::default();
    let device = Arc::new(MemoryDevice::bigip());
    Rig {
        api: Api {
            store: store.clone(),
            queue: MemoryQueue::default(),
            sealer: MemorySealer::default(),
            logs: logs.clone(),
            base_url: String::new(),
            clock: ccaas_app::Clock::default(),
            allow: Default::default(),
            admins: Default::default(),
            email: false,
        },
        worker: Worker {
            store,
            sealer: MemorySealer::default(),
            runner: CoverageRunner {
                connector: Shared(device.clone()),
                sessions: MemorySessions::default(),
                artifacts: MemoryArtifacts::default(),
                site: MemorySite::default(),
                logs,
                builds: MemoryBuilds::default(),
                indexes: ccaas_app::memory::MemoryIndexes::default(),
                config: RunnerConfig::default(),
            },
            notifier: ccaas_app::NoNotifier,
            mailer: ccaas_app::NoMailer,
            config: WorkerConfig {
                lease_secs: 900,
                max_receives: 5,
                ..WorkerConfig::default()
            },
        },
        device,
    }
}

/// A deterministic `.tar.gz` of `(path, bytes)` entries, as `ccaas build publish` writes.
fn targz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    for (p, b) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(b.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, p, *b).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&t.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// The notes with another compilation stamp (bytes 8..12), as another build would have.
fn restamped(notes: &[u8]) -> Vec<u8> {
    let mut n = notes.to_vec();
    n[8] ^= 0x5a;
    n
}

impl Rig {
    fn builds(&self) -> &MemoryBuilds {
        &self.worker.runner.builds
    }

    fn publish(&self, part: BuildPart, bytes: Vec<u8>) {
        self.builds()
            .insert(&BuildId::parse(BUILD).unwrap(), part, bytes);
    }

    async fn submit(&self, ty: &str) -> (TaskId, String) {
        let body = format!(
            r#"{{"type":"{ty}","data":{{"device":{{"host":"bigip1","port":22,"username":"root","password":"pw"}},"modules":["tmm","mcpd"]}}}}"#
        );
        self.api
            .submit(&Caller::Anonymous, None, body.as_bytes())
            .await
            .expect("accepted");
        let msg = self.api.queue.sent().last().expect("sent").0.clone();
        (msg.task_id.clone(), serde_json::to_string(&msg).unwrap())
    }

    async fn task(&self, id: &TaskId) -> Task {
        self.api.store.get(id).await.unwrap().expect("task")
    }

    /// Starts a session, lets `dump` put the daemons' files, ends it; returns the end task.
    async fn session(&self, dump: impl Fn(&MemoryDevice)) -> Task {
        let (start, body) = self.submit("code-coverage-start").await;
        assert!(matches!(
            self.worker.handle("m-1", &body, 1).await,
            Disposition::Ack
        ));
        assert_eq!(self.task(&start).await.status, Status::Succeeded);
        dump(&self.device);
        let (end, body) = self.submit("code-coverage-end").await;
        assert!(matches!(
            self.worker.handle("m-1", &body, 1).await,
            Disposition::Ack
        ));
        self.task(&end).await
    }

    /// Every report object of task `id` as text.
    fn pages(&self, id: &TaskId) -> Vec<(String, String)> {
        let prefix = format!("reports/{id}/");
        self.worker
            .runner
            .site
            .objects()
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, (b, _))| (k, String::from_utf8_lossy(&b).into_owned()))
            .collect()
    }
}

/// The daemons dump their data at the build path, without notes beside it.
fn data_only(d: &MemoryDevice) {
    d.put_file("tmm", "work/build/tmm/obj/tricky.gcda", DATA);
}

fn warnings(t: &Task) -> Vec<(String, String)> {
    t.result.as_ref().unwrap()["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["code"].as_str().unwrap().to_string(),
                w["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_device_without_notes_uses_the_published_notes_and_counts_as_with_notes_beside() {
    // The reference: notes beside the data on the device.
    let beside = rig();
    let t = beside
        .session(|d| {
            d.put_file("tmm", "work/build/tmm/obj/tricky.gcno", NOTES);
            data_only(d);
        })
        .await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let want: Value = t.result.unwrap()["summary"].clone();
    assert!(want["lines"]["covered"].as_u64().unwrap() > 0);

    // The device keeps no notes: they come from the build's notes, paired by the longest
    // path ending (`tmm/obj/tricky` over `mcpd/obj/tricky`).
    let r = rig();
    r.publish(
        BuildPart::Notes,
        targz(&[
            ("mcpd/obj/tricky.gcno", &restamped(NOTES)),
            ("tmm/obj/tricky.gcno", NOTES),
            ("tmm/obj/other.gcno", OTHER_NOTES),
        ]),
    );
    let t = r.session(data_only).await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let res = t.result.clone().unwrap();
    assert_eq!(res["summary"], want, "same counts as with the notes beside");
    assert_eq!(res["build"], BUILD);
    // Notes no data pairs with (other.gcno: another daemon's unit) are not reported.
    let info = r
        .pages(&t.id)
        .into_iter()
        .find(|(k, _)| k.ends_with("coverage.info"))
        .unwrap()
        .1;
    assert!(
        info.contains("tricky.c") && !info.contains("other.c"),
        "{info}"
    );
    assert!(warnings(&t).is_empty(), "{:?}", warnings(&t));
}

#[tokio::test]
async fn notes_on_the_device_are_not_fetched_from_the_build() {
    let r = rig();
    let t = r
        .session(|d| {
            d.put_file("tmm", "work/build/tmm/obj/tricky.gcno", NOTES);
            data_only(d);
        })
        .await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    assert_eq!(r.builds().gets(), 1, "only the sources were asked for");
}

#[tokio::test]
async fn no_notes_anywhere_fails_as_notes_missing_naming_the_key_and_the_command() {
    let r = rig();
    let t = r.session(data_only).await;
    assert_eq!(t.status, Status::Failed);
    let e = t.error.unwrap();
    assert_eq!(e.code, "notes_missing");
    assert!(
        e.message
            .contains(&format!("builds/{BUILD}/notes.tar.gz is not published")),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains(&format!("ccaas build publish DIR --build {BUILD}")),
        "{}",
        e.message
    );
    // The session is closed so the device is not blocked, and the data is kept in raw/.
    assert!(r.worker.runner.sessions.all().is_empty());
    assert!(
        r.worker
            .runner
            .artifacts
            .objects()
            .contains_key(&format!("raw/{}/gcda.tar.gz", t.id))
    );
}

#[tokio::test]
async fn published_notes_that_fit_no_data_fail_as_notes_missing() {
    let r = rig();
    r.publish(BuildPart::Notes, targz(&[("x/other.gcno", OTHER_NOTES)]));
    let t = r.session(data_only).await;
    let e = t.error.unwrap();
    assert_eq!(e.code, "notes_missing");
    assert!(e.message.contains("none of the 1 .gcno"), "{}", e.message);
}

#[tokio::test]
async fn corrupt_or_hostile_notes_archives_fail_as_bad_notes_without_a_panic() {
    let good = targz(&[("tmm/obj/tricky.gcno", NOTES)]);
    let mut cases: Vec<Vec<u8>> = vec![
        b"not gzip at all".to_vec(),
        good[..good.len() / 2].to_vec(),
        Vec::new(),
    ];
    // A symbolic link in the archive.
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    t.append_link(&mut h, "tmm/obj/tricky.gcno", "/etc/shadow")
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&t.into_inner().unwrap()).unwrap();
    cases.push(gz.finish().unwrap());
    for bytes in cases {
        let r = rig();
        r.publish(BuildPart::Notes, bytes);
        let t = r.session(data_only).await;
        assert_eq!(t.status, Status::Failed);
        let e = t.error.unwrap();
        assert_eq!(e.code, "bad_notes", "{}", e.message);
        assert!(
            e.message.contains(&format!("builds/{BUILD}/notes.tar.gz")),
            "{}",
            e.message
        );
    }
}

#[tokio::test]
async fn notes_over_the_size_cap_fail_as_bad_notes() {
    let mut r = rig();
    r.worker.runner.config.max_build_bytes = 10;
    r.publish(BuildPart::Notes, targz(&[("tmm/obj/tricky.gcno", NOTES)]));
    let t = r.session(data_only).await;
    assert_eq!(t.error.unwrap().code, "bad_notes");
}

#[tokio::test]
async fn notes_of_another_build_fail_as_notes_mismatch_naming_the_build_and_files() {
    let r = rig();
    r.publish(
        BuildPart::Notes,
        targz(&[("tmm/obj/tricky.gcno", &restamped(NOTES))]),
    );
    let t = r.session(data_only).await;
    assert_eq!(t.status, Status::Failed);
    let e = t.error.unwrap();
    assert_eq!(e.code, "notes_mismatch");
    for part in [
        BUILD,
        "tmm/work/build/tmm/obj/tricky.gcda",
        &format!("tmm/obj/tricky.gcno in builds/{BUILD}/notes.tar.gz"),
        "stamp",
    ] {
        assert!(e.message.contains(part), "{part}: {}", e.message);
    }
}

#[tokio::test]
async fn some_data_of_another_build_is_a_notes_mismatch_warning() {
    let r = rig();
    r.publish(
        BuildPart::Notes,
        targz(&[
            ("tmm/obj/tricky.gcno", NOTES),
            ("mcpd/obj/other.gcno", &restamped(OTHER_NOTES)),
        ]),
    );
    let t = r
        .session(|d| {
            data_only(d);
            d.put_file("mcpd", "work/build/mcpd/obj/other.gcda", OTHER_DATA);
        })
        .await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let w = warnings(&t);
    assert!(
        w.iter().any(|(c, m)| c == "notes_mismatch"
            && m.contains("mcpd/work/build/mcpd/obj/other.gcda")
            && m.contains(&format!("builds/{BUILD}/notes.tar.gz"))),
        "{w:?}"
    );
}

#[tokio::test]
async fn data_that_fits_two_published_notes_equally_is_a_notes_ambiguous_warning() {
    let r = rig();
    r.publish(
        BuildPart::Notes,
        targz(&[
            ("a/obj/tricky.gcno", NOTES),
            ("b/obj/tricky.gcno", NOTES),
            ("tmm/obj/other.gcno", OTHER_NOTES),
        ]),
    );
    let t = r
        .session(|d| {
            data_only(d);
            d.put_file("tmm", "work/build/tmm/obj/other.gcda", OTHER_DATA);
        })
        .await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let w = warnings(&t);
    assert!(
        w.iter().any(|(c, m)| c == "notes_ambiguous"
            && m.contains("a/obj/tricky.gcno")
            && m.contains("b/obj/tricky.gcno")),
        "{w:?}"
    );
}

#[tokio::test]
async fn published_sources_appear_in_the_pages_matched_by_path_ending_with_identical_bytes() {
    let r = rig();
    r.publish(BuildPart::Notes, targz(&[("tmm/obj/tricky.gcno", NOTES)]));
    // The notes record /work/main/shared/gcov/tests/data/src/tricky.c; the sources were
    // published relative to a checkout: `data/src/tricky.c` shares the longest ending.
    r.publish(
        BuildPart::Sources,
        targz(&[
            ("data/src/tricky.c", TRICKY_C),
            ("other/tricky.c", b"int wrong_file_shown;\n"),
        ]),
    );
    let t = r.session(data_only).await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let pages = r.pages(&t.id);
    let needle = "Two functions generated on one line";
    assert!(
        pages
            .iter()
            .any(|(k, v)| k.ends_with(".html") && v.contains(needle)),
        "the source text is on a page"
    );
    assert!(!pages.iter().any(|(_, v)| v.contains("wrong_file_shown")));

    // A re-run renders the same bytes.
    let before = pages;
    let access = r.api.queue.last_device(&r.api.sealer).unwrap();
    use ccaas_app::TaskRunner;
    r.worker
        .runner
        .run(&r.task(&t.id).await, &access)
        .await
        .unwrap();
    assert!(before == r.pages(&t.id), "identical report bytes");
}

#[tokio::test]
async fn unusable_sources_are_a_warning_and_the_report_is_still_published() {
    let r = rig();
    r.publish(BuildPart::Notes, targz(&[("tmm/obj/tricky.gcno", NOTES)]));
    r.publish(BuildPart::Sources, b"\x1f\x8b garbage".to_vec());
    let t = r.session(data_only).await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let w = warnings(&t);
    assert!(
        w.iter().any(|(c, m)| c == "sources_unusable"
            && m.contains(&format!("builds/{BUILD}/sources.tar.gz"))),
        "{w:?}"
    );
}
