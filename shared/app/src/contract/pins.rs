//! The [`HostKeyPins`] contract: the first pin wins, pinning it again changes nothing, a
//! different key is refused with the pinned one named, devices are told apart by port, and a
//! dropped pin lets the next key pin (dropping is idempotent and touches no other device).

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

    let c = "dropping a pin is idempotent, lets a new key pin and leaves other devices alone";
    same(
        c,
        "a pinned device's pin is dropped",
        ok(c, "unpin", pins.unpin(&host, 22).await),
        true,
    );
    same(
        c,
        "nothing pinned after the drop",
        ok(c, "pinned", pins.pinned(&host, 22).await),
        None,
    );
    same(
        c,
        "dropping it again finds nothing",
        ok(c, "unpin", pins.unpin(&host, 22).await),
        false,
    );
    same(
        c,
        "a device never pinned has nothing to drop",
        ok(
            c,
            "unpin",
            pins.unpin(&format!("{}.example", fresh_token()), 22).await,
        ),
        false,
    );
    same(
        c,
        "the other port keeps its pin",
        ok(c, "pinned", pins.pinned(&host, 2222).await),
        Some("SHA256:b".to_string()),
    );
    same(
        c,
        "the re-imaged device's new key pins",
        ok(c, "pin", pins.pin(&host, 22, "SHA256:c").await),
        PinOutcome::Pinned,
    );
    same(
        c,
        "and is the one pinned",
        ok(c, "pinned", pins.pinned(&host, 22).await),
        Some("SHA256:c".to_string()),
    );
}
