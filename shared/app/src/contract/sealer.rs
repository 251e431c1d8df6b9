//! The [`Sealer`] contract: what is sealed for a task opens for it, to the same bytes, and for
//! no other task; a tampered token is `Corrupt`; a 16 KiB secret (a private key) fits.

use super::{fail, fresh_id, ok, same};
use crate::Error;
use crate::ports::Sealer;

/// Runs every check on `sealer`.
pub async fn run<K: Sealer>(sealer: &K) {
    let c = "a sealed token opens for its task only";
    let (id, other) = (fresh_id(), fresh_id());
    let plain = br#"{"host":"127.0.0.1","password":"hunter2"}"#.to_vec();
    let token = ok(c, "seal", sealer.seal(&id, &plain).await);
    if token.contains("hunter2") {
        fail(c, "the token shows the secret");
    }
    same(
        c,
        "open",
        ok(c, "open", sealer.open(&id, &token).await),
        plain.clone(),
    );
    match sealer.open(&other, &token).await {
        Err(Error::Corrupt(_)) => {}
        r => fail(c, format!("opening for another task gave {r:?}")),
    }

    let c = "a tampered token is corrupt";
    let mut bytes = token.clone().into_bytes();
    // A character in the middle of the last part (the ciphertext): every bit of it counts
    // in base64 and hex alike, unlike the last characters, whose low bits base64 may ignore.
    // Hex is case-insensitive, so an `a` becomes `g` (not hex), never the same digit `A`.
    let last = token.rfind('.').map_or(0, |i| i + 1);
    let at = last + (bytes.len() - last) / 2;
    bytes[at] = if bytes[at].eq_ignore_ascii_case(&b'A') {
        b'g'
    } else {
        b'A'
    };
    let tampered = String::from_utf8_lossy(&bytes).into_owned();
    for bad in [tampered.as_str(), "", "x.y.z", &token[..token.len() / 2]] {
        match sealer.open(&id, bad).await {
            Err(Error::Corrupt(_)) => {}
            r => fail(c, format!("{bad:.20?} gave {r:?}")),
        }
    }

    let c = "a 16 KiB secret round-trips";
    let key: Vec<u8> = (0..16_384u32).map(|i| b'A' + (i % 26) as u8).collect();
    let token = ok(c, "seal", sealer.seal(&id, &key).await);
    same(
        c,
        "open",
        ok(c, "open", sealer.open(&id, &token).await),
        key,
    );
}
