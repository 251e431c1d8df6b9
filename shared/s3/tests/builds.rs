//! `S3Builds` against a real emulator (a private moto_server started through `localstack/up`):
//! a part goes up and comes back byte for byte under `builds/<build-id>/`, a part never
//! published is `false`, and an object over the cap is `Corrupt` without filling the file.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::Error;
use ccaas_app::ports::{BuildPart, BuildStore};
use ccaas_domain::BuildId;
use ccaas_s3::S3Builds;
use ccaas_testkit::Emulator;

#[tokio::test]
async fn a_part_round_trips_a_missing_one_is_false_and_an_oversized_one_is_corrupt() {
    let emu = Emulator::private();
    let store = S3Builds::new(emu.s3(), emu.var("CCAAS_BUCKET"));
    let build = BuildId::parse("17.1.0-0.0.16-1234567").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up.tar.gz");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&up, &bytes).unwrap();

    let down = dir.path().join("down");
    assert!(
        !store
            .get_part(&build, BuildPart::Notes, &down, 1 << 20)
            .await
            .unwrap()
    );
    assert!(!down.exists(), "nothing written for a missing part");

    store.put_part(&build, BuildPart::Notes, &up).await.unwrap();
    let keys: Vec<String> = emu
        .s3()
        .list_objects_v2()
        .bucket(emu.var("CCAAS_BUCKET"))
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect();
    assert_eq!(keys, ["builds/17.1.0-0.0.16-1234567/notes.tar.gz"]);
    assert!(
        store
            .get_part(&build, BuildPart::Notes, &down, 1 << 20)
            .await
            .unwrap()
    );
    assert!(std::fs::read(&down).unwrap() == bytes, "the same bytes");
    assert!(
        !store
            .get_part(&build, BuildPart::Sources, &down, 1 << 20)
            .await
            .unwrap(),
        "the sources are another object"
    );

    let small = dir.path().join("small");
    let e = store
        .get_part(&build, BuildPart::Notes, &small, 1000)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("notes.tar.gz"), "{e}");
    assert!(
        std::fs::metadata(&small).map(|m| m.len()).unwrap_or(0) <= 1000,
        "no more than the cap is written"
    );
}
