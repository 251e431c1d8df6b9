//! A device that keeps no `.gcno`, through `ccaas-local` against the real BIG-IP simulator
//! (`--no-gcno`) and the real `ccaas build publish`: without published notes an end task fails
//! with `notes_missing`, with a corrupt notes archive with `bad_notes`; once the build's notes
//! and sources are published, an end task's line totals equal gcov's own on the same data and
//! its pages show the source text.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::sim::{Sim, add_gcov_lines};
use common::{App, Emulator, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;

/// The build id of the simulator's `/VERSION`.
const BUILD: &str = "17.1.0-0.0.16-1234567";

/// Runs a whole session (start, traffic, end) and returns the finished end task.
async fn session(app: &App, sim: &Sim) -> Value {
    let r = app
        .post(
            sim.body_with("notes-test", "code-coverage-start", "", ""),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let start = r.json()["id"].as_str().unwrap().to_string();
    let started = app.wait_terminal(&start, Duration::from_secs(120)).await;
    assert_eq!(started["status"], "succeeded", "{started}");
    assert_eq!(started["result"]["build"], BUILD);
    assert_eq!(sim.poke(&["tmm", "add", "2", "3"]), "5");
    assert_eq!(
        sim.poke(&["tmm", "route", "8.8.8.8"]),
        "external via gateway"
    );
    let set = sim.poke(&["mcpd", "set", "color", "blue"]);
    assert!(set == "stored" || set == "updated", "{set}");
    let r = app
        .post(
            sim.body_with("notes-test", "code-coverage-end", "", ""),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let end = r.json()["id"].as_str().unwrap().to_string();
    app.wait_terminal(&end, Duration::from_secs(180)).await
}

/// The `ccaas` binary, built beside `ccaas-local` by `cargo build --workspace --bins`.
fn ccaas_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_ccaas-local")).with_file_name("ccaas");
    assert!(
        bin.exists(),
        "{} is missing: run cargo build --workspace --bins",
        bin.display()
    );
    bin
}

/// Unpacks the collected archive, puts each `.gcda`'s notes from the build directory beside
/// it (where the compiler wrote them: the path after the module), and asks gcov itself:
/// `(covered, total)` lines, each (file, line) once with its counts summed over units.
fn gcov_lines(archive: &[u8], dir: &Path) -> (u64, u64) {
    let gz = flate2::read::GzDecoder::new(archive);
    tar::Archive::new(gz).unpack(dir).expect("unpack");
    let mut lines: HashMap<(String, u64), u64> = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut units = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "gcda") {
                continue;
            }
            let rel = p.strip_prefix(dir).unwrap();
            let built = Path::new("/")
                .join(rel.components().skip(1).collect::<PathBuf>())
                .with_extension("gcno");
            assert!(!p.with_extension("gcno").exists(), "no notes on the device");
            std::fs::copy(&built, p.with_extension("gcno")).expect("notes in the build dir");
            units += 1;
            add_gcov_lines(&p, &mut lines);
        }
    }
    assert!(units >= 4, "simd and the daemon of both modules: {units}");
    let covered = lines.values().filter(|c| **c > 0).count() as u64;
    (covered, lines.len() as u64)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_without_gcno_needs_published_notes_and_then_reports_gcov_totals_with_sources() {
    let emu = Emulator::private();
    let sim = Sim::up_with(&["--no-gcno"]);
    assert_eq!(sim.json["gcno_on_device"], false, "{}", sim.json);
    let profile = format!("simulator:{}", sim.s("root"));
    let app = spawn_app(&emu, &[("CCAAS_DEVICE_PROFILE", profile.as_str())]).await;
    let s3 = emu.s3();
    let bucket = emu.var("CCAAS_BUCKET");
    let notes_key = format!("builds/{BUILD}/notes.tar.gz");

    // 1. Nothing published: a clear error naming the key and the command.
    let ended = session(&app, &sim).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error"]["code"], "notes_missing", "{ended}");
    let message = ended["error"]["message"].as_str().unwrap();
    assert!(message.contains(&notes_key), "{message}");
    assert!(message.contains("ccaas build publish"), "{message}");

    // 2. A corrupt notes archive: a clear error, no panic.
    s3.put_object()
        .bucket(&bucket)
        .key(&notes_key)
        .body(b"\x1f\x8b\x08\x00 this is not a tar stream".to_vec().into())
        .send()
        .await
        .expect("put");
    let ended = session(&app, &sim).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error"]["code"], "bad_notes", "{ended}");
    assert!(
        ended["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&notes_key),
        "{ended}"
    );

    // 3. The real CLI publishes the build's notes and the sources they reference (under the
    // simulator's root, the source root here).
    let build_dir = sim.s("build_dir");
    let out = Command::new(ccaas_bin())
        .args(["build", "publish", &build_dir, "--build", BUILD, "--json"])
        .args(["--source-root", sim.root.as_str()])
        .envs(emu.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("ccaas runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let published: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(published["notes"]["key"], notes_key.as_str());
    assert_eq!(published["notes"]["files"], 4, "{published}");
    assert!(
        published["sources"]["files"].as_u64().unwrap() >= 4,
        "{published}"
    );

    let ended = session(&app, &sim).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let result = &ended["result"];
    assert_eq!(result["build"], BUILD);
    let end = ended["id"].as_str().unwrap();

    // gcov on the very archive the service collected, with the build's notes beside it.
    let archive = s3
        .get_object()
        .bucket(&bucket)
        .key(format!("raw/{end}/gcda.tar.gz"))
        .send()
        .await
        .expect("raw archive")
        .body
        .collect()
        .await
        .unwrap()
        .to_vec();
    let dir = tempfile::tempdir().unwrap();
    let (covered, total) = gcov_lines(&archive, dir.path());
    assert!(
        total > 0 && covered > 0 && covered < total,
        "{covered}/{total}"
    );
    assert_eq!(result["summary"]["lines"]["covered"], covered, "{result}");
    assert_eq!(result["summary"]["lines"]["total"], total, "{result}");

    // The pages show the daemons' source text (served under /site/).
    let index = app.get(&format!("/site/reports/{end}/index.html")).await;
    assert_eq!(index.status, StatusCode::OK);
    let listing = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(format!("reports/{end}/"))
        .send()
        .await
        .expect("list");
    let mut shown = false;
    for o in listing.contents() {
        let key = o.key().unwrap_or_default();
        if !key.ends_with(".html") {
            continue;
        }
        let page = app.get(&format!("/site/{key}")).await;
        if page.text.contains("external via gateway") {
            shown = true;
        }
    }
    assert!(shown, "no page shows tmm.c's text");
    assert!(!app.logs().contains("panicked"));
}
