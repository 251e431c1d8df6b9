//! The merge task on the live stack (issue #13's acceptance, item 4): two sessions on the real
//! BIG-IP simulator whose tmm traffic differs (`route 10.0.0.1` and `route 8.8.8.8`) merged
//! into one report: its lines are the union of theirs with the counts summed, equal line for
//! line to the sum of the two ends' reports (the engine on each raw archive) and to gcov's own
//! counts on the two collected archives. A merge of end tasks of two builds is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use common::sim::{Sim, add_gcov_lines, object};
use common::{App, Emulator, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The `DA` records of an lcov file: count by (source file, line).
fn lcov_lines(lcov: &[u8]) -> BTreeMap<(String, u64), u64> {
    let mut out = BTreeMap::new();
    let mut file = String::new();
    for l in String::from_utf8_lossy(lcov).lines() {
        if let Some(f) = l.strip_prefix("SF:") {
            file = f.to_string();
        } else if let Some(da) = l.strip_prefix("DA:") {
            let mut p = da.split(',');
            let line: u64 = p.next().unwrap().parse().unwrap();
            let count: u64 = p.next().unwrap().parse().unwrap();
            *out.entry((file.clone(), line)).or_insert(0) += count;
        }
    }
    out
}

/// gcov's own counts of a collected archive, added into `lines` by (file, line).
fn add_gcov_archive(archive: &[u8], dir: &Path, lines: &mut HashMap<(String, u64), u64>) {
    let gz = flate2::read::GzDecoder::new(archive);
    tar::Archive::new(gz).unpack(dir).expect("unpack");
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "gcda") {
                add_gcov_lines(&p, lines);
            }
        }
    }
}

/// The file of `report` that `gcov_file` is: the same path, or the one ending in it.
fn report_path<'a>(report: &'a BTreeMap<(String, u64), u64>, gcov_file: &str) -> &'a str {
    let names: std::collections::BTreeSet<&str> = report.keys().map(|(f, _)| f.as_str()).collect();
    names
        .iter()
        .copied()
        .filter(|n| {
            gcov_file == *n || gcov_file.ends_with(&format!("/{n}")) || n.ends_with(gcov_file)
        })
        .max_by_key(|n| n.len())
        .unwrap_or_else(|| panic!("{gcov_file} is in the report: {names:?}"))
}

async fn merge(app: &App, ends: &[&str]) -> (StatusCode, Value) {
    let body = json!({"type": "code-coverage-merge", "user": "merge-test", "name": "both routes",
        "data": {"tasks": ends}});
    let r = app.post(body.to_string(), None).await;
    (r.status, serde_json::from_str(&r.text).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_of_two_sessions_is_their_union_with_gcovs_counts_summed_and_mixed_builds_are_refused()
 {
    let emu = &Emulator::private();
    let sim = Sim::up();
    let profile = format!("simulator:{}", sim.root);
    let app = spawn_app(emu, &[("CCAAS_DEVICE_PROFILE", profile.as_str())]).await;

    let internal = app
        .traffic_session(
            &sim,
            "merge-test",
            "internal routes",
            &["tmm", "route", "10.0.0.1"],
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let external = app
        .traffic_session(
            &sim,
            "merge-test",
            "external routes",
            &["tmm", "route", "8.8.8.8"],
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, accepted) = merge(&app, &[&internal, &external]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let merged = app.wait_terminal(&id, Duration::from_secs(180)).await;
    assert_eq!(merged["status"], "succeeded", "{merged}");
    let res = &merged["result"];
    assert_eq!(res["merged"], json!([internal, external]));
    assert_eq!(res["build"], "17.1.0-0.0.16-1234567");
    assert_eq!(merged["tasks"], json!([internal, external]));
    assert_eq!(merged["device"], "");

    let s3 = emu.s3();
    let bucket = emu.var("CCAAS_BUCKET");
    let lcov = |t: String| {
        let (s3, bucket) = (s3.clone(), bucket.clone());
        async move { lcov_lines(&object(&s3, &bucket, &format!("reports/{t}/coverage.info")).await) }
    };
    let (li, le, lm) = (
        lcov(internal.clone()).await,
        lcov(external.clone()).await,
        lcov(id.clone()).await,
    );
    // The engine on each raw archive (the two ends' reports), summed, is the merge.
    let mut sum = li.clone();
    for (k, v) in &le {
        *sum.entry(k.clone()).or_insert(0) += v;
    }
    assert_eq!(
        lm, sum,
        "the merged lcov is the two sessions' counts summed"
    );
    assert_ne!(li, le, "the sessions' traffic differs");
    let covered = lm.values().filter(|c| **c > 0).count() as u64;
    assert_eq!(res["summary"]["lines"]["covered"], covered, "{res}");
    assert!(
        covered > li.values().filter(|c| **c > 0).count() as u64,
        "the union covers more than the first session alone"
    );

    // gcov itself on the two collected archives, summed, gives the same counts line for line.
    let mut truth: HashMap<(String, u64), u64> = HashMap::new();
    for t in [&internal, &external] {
        let archive = object(&s3, &bucket, &format!("raw/{t}/gcda.tar.gz")).await;
        let dir = tempfile::tempdir().unwrap();
        add_gcov_archive(&archive, dir.path(), &mut truth);
    }
    let truth: BTreeMap<(String, u64), u64> = truth
        .into_iter()
        .map(|((f, l), c)| ((report_path(&lm, &f).to_string(), l), c))
        .collect();
    assert_eq!(lm, truth, "the merged counts are gcov's");

    // Its own index, under index/merged/, which the impact query does not list.
    let idx = object(
        &s3,
        &bucket,
        &format!("index/merged/17.1.0-0.0.16-1234567/{id}.idx"),
    )
    .await;
    assert_eq!(&idx[..8], b"CCAASIDX");

    // The merge compares as a head against one of its sessions: it lost nothing, and newly
    // covers exactly the lines only the other session ran (from the reports' lcov).
    let mut only_external: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for ((f, l), c) in &lm {
        if *c > 0 && li.get(&(f.clone(), *l)).copied().unwrap_or(0) == 0 {
            only_external.entry(f.clone()).or_default().push(*l);
        }
    }
    assert!(
        !only_external.is_empty(),
        "the external session ran lines of its own"
    );
    let cmp = app
        .get(&format!("/v1/compare?base={internal}&head={id}&limit=500"))
        .await;
    assert_eq!(cmp.status, StatusCode::OK, "{}", cmp.text);
    let cmp = cmp.json();
    assert_eq!(cmp["head"]["task"], id.as_str(), "{cmp}");
    assert_eq!(cmp["delta"]["lost"], 0, "{cmp}");
    let listed: BTreeMap<String, Vec<u64>> = cmp["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let lines = f["newly_covered"].as_array().unwrap();
            let lines = lines.iter().map(|l| l.as_u64().unwrap()).collect();
            (f["file"].as_str().unwrap().to_string(), lines)
        })
        .collect();
    assert_eq!(listed, only_external, "{cmp}");

    // A session of another build: the merge is refused at submit, naming both builds.
    let version = Path::new(&sim.root).join("VERSION");
    let text = std::fs::read_to_string(&version).unwrap();
    std::fs::write(&version, text.replace("0.0.16", "0.0.17")).unwrap();
    let other = app
        .traffic_session(
            &sim,
            "merge-test",
            "next build",
            &["tmm", "route", "10.0.0.1"],
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, refused) = merge(&app, &[&internal, &other]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "mixed_builds");
    assert_eq!(refused["error"]["field"], "data.tasks");
    let msg = refused["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("17.1.0-0.0.16-1234567 ({internal})")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("17.1.0-0.0.17-1234567 ({other})")),
        "{msg}"
    );
    // A merge task is no end task.
    let (status, refused) = merge(&app, &[&internal, &id]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "not_mergeable");
    assert_eq!(refused["error"]["field"], "data.tasks[1]");
    assert!(!app.logs().contains("panicked"));
}
