//! `ccaas build publish` as a user runs it, up to the point where it would reach S3: the help
//! text, and the checks that refuse bad input before any upload.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use ccaas_testkit::text;

fn ccaas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccaas"))
        .args(args)
        .env("CCAAS_BUCKET", "no-such-bucket")
        // Nothing answers here: a test that got as far as S3 would fail, not upload.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("ccaas runs")
}

#[test]
fn the_help_says_what_is_published_where_and_how_it_is_matched() {
    let o = ccaas(&["build", "publish", "--help"]);
    assert!(o.status.success());
    let t = text(&o);
    for part in [
        "builds/ID/notes.tar.gz",
        "builds/ID/sources.tar.gz",
        "--sources",
        "--source-root",
        "--build",
        "CCAAS_BUCKET",
        "AWS_ENDPOINT_URL",
    ] {
        assert!(t.contains(part), "{part}: {t}");
    }
}

#[test]
fn a_bad_build_id_is_refused_before_anything_is_read_or_sent() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.gcno"), b"notes").unwrap();
    let d = dir.path().to_str().unwrap();
    for bad in ["../etc", "17.1.0", "17.1.0-0.0.16/x", ""] {
        let o = ccaas(&["build", "publish", d, "--build", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(
            text(&o).contains("<Version>-<Build>"),
            "{bad}: {}",
            text(&o)
        );
    }
}

#[test]
fn a_directory_without_notes_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = ccaas(&["build", "publish", d, "--build", "17.1.0-0.0.16"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no .gcno files under"), "{}", text(&o));
    assert!(text(&o).contains(d), "{}", text(&o));
}
