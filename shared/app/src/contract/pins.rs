//! The [`HostKeyPins`] contract: the first pin wins, pinning it again changes nothing, a
//! different key is refused with the pinned one named, and devices are told apart by port.

use super::{fresh_token, ok, same};
use crate::ports::{HostKeyPins, PinOutcome};

/// Runs every check on `pins`.
pub async fn run<P: HostKeyPins>(pins: &P) {
    let c = "the first pin wins and a different key is refused, naming the pinned one";
    let host = format!("{}.example", fresh_token());
    same(
        c,
        "nothing pinned yet",
        ok(c, "pinned", pins.pinned(&host, 22).await),
        None,
    );
    same(
        c,
        "first pin",
        ok(c, "pin", pins.pin(&host, 22, "SHA256:a").await),
        PinOutcome::Pinned,
    );
    same(
        c,
        "the same key again",
        ok(c, "pin", pins.pin(&host, 22, "SHA256:a").await),
        PinOutcome::Pinned,
    );
    same(
        c,
        "another key",
        ok(c, "pin", pins.pin(&host, 22, "SHA256:b").await),
        PinOutcome::Differs {
            pinned: "SHA256:a".into(),
        },
    );
    same(
        c,
        "the first key stays",
        ok(c, "pinned", pins.pinned(&host, 22).await),
        Some("SHA256:a".to_string()),
    );
    same(
        c,
        "another port is another device",
        ok(c, "pinned", pins.pinned(&host, 2222).await),
        None,
    );
    same(
        c,
        "which pins on its own",
        ok(c, "pin", pins.pin(&host, 2222, "SHA256:b").await),
        PinOutcome::Pinned,
    );
}
