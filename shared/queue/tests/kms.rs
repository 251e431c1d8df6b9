//! `KmsSealer` against a real emulator (a private moto_server with the key `localstack/up`
//! creates): RELIABILITY S2/S3. A sealed token holds no credential, opens for its own task,
//! and never for another (the KMS encryption context refuses the data key); tampering and
//! garbage are permanent errors; a 16 KiB private key fits (KMS `Encrypt` alone takes 4 KiB).

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::{Error, Sealer};
use ccaas_domain::TaskId;
use ccaas_queue::KmsSealer;
use ccaas_testkit::Emulator;

const CANARY: &str = "canary-kms-5c1d";

fn id(s: &str) -> TaskId {
    TaskId::parse(s).unwrap()
}

#[tokio::test]
async fn a_sealed_token_opens_only_for_its_own_task_and_never_shows_the_secret() {
    let emu = Emulator::private();
    let sealer = KmsSealer::new(emu.kms(), emu.var("CCAAS_KMS_KEY"));
    let a = id("01JD0000000000000000000000");
    let b = id("01JD0000000000000000000001");
    let plain = format!(r#"{{"password":"{CANARY}"}}"#);

    let token = sealer.seal(&a, plain.as_bytes()).await.unwrap();
    assert!(!token.contains(CANARY));
    assert!(token.starts_with("kms1."), "{token}");
    assert_eq!(sealer.open(&a, &token).await.unwrap(), plain.as_bytes());
    // A second seal of the same plaintext gives other bytes that open the same.
    let again = sealer.seal(&a, plain.as_bytes()).await.unwrap();
    assert_ne!(again, token);
    assert_eq!(sealer.open(&a, &again).await.unwrap(), plain.as_bytes());

    // The wrong encryption context: KMS refuses the data key. Permanent, never retried.
    let e = sealer.open(&b, &token).await.unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(!e.is_retryable());
    assert!(!format!("{e:?}").contains(CANARY));

    // A flipped bit in the ciphertext, or a token cut short, or garbage.
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [
        flipped.as_str(),
        &token[..token.len() - 2],
        "",
        "kms1.zz.00.00",
        "twin.0.0",
    ] {
        let e = sealer.open(&a, bad).await.unwrap_err();
        assert!(matches!(e, Error::Corrupt(_)), "{bad:?}: {e}");
    }
}

#[tokio::test]
async fn a_sixteen_kibibyte_private_key_round_trips() {
    let emu = Emulator::private();
    let sealer = KmsSealer::new(emu.kms(), emu.var("CCAAS_KMS_KEY"));
    let a = id("01JD0000000000000000000002");
    let big: Vec<u8> = (0..16 * 1024 + 200)
        .map(|i| b'A' + (i % 26) as u8)
        .collect();
    let token = sealer.seal(&a, &big).await.unwrap();
    assert_eq!(sealer.open(&a, &token).await.unwrap(), big);
}

#[tokio::test]
async fn an_unknown_key_is_a_retryable_unavailable_error() {
    let emu = Emulator::private();
    let sealer = KmsSealer::new(emu.kms(), "alias/no-such-key".into());
    let e = sealer
        .seal(&id("01JD0000000000000000000003"), b"x")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e}");
}
