//! Contract suites of the role traits (feature `testing`): one suite per port, generic over the
//! implementation, run on the in-memory twin (`shared/app/tests/contract.rs`) and on the AWS
//! adapter against the emulator (`shared/aws/tests/contract.rs`). A check that fails names
//! itself in the panic message. Every suite makes its own keys (random task ids, users,
//! devices and prefixes), so it may share a store with other tests.

pub mod artifacts;
pub mod builds;
pub mod index_files;
pub mod indexes;
pub mod logs;
pub mod mailer;
pub mod pins;
pub mod queue;
pub mod sealer;
pub mod search;
pub mod sessions;
pub mod site;
pub mod task_store;
pub mod usage;

use ccaas_domain::TaskId;

/// A task id no other run makes: now, plus 80 random bits.
pub fn fresh_id() -> TaskId {
    TaskId::from_parts(crate::now_ms(), rand::random::<u128>() >> 48)
}

/// A fresh lower-case token for names (users, hosts, prefixes).
pub fn fresh_token() -> String {
    fresh_id().as_str().to_ascii_lowercase()
}

/// Fails the running check with its name and what went wrong.
#[track_caller]
pub(crate) fn fail(check: &str, what: impl std::fmt::Display) -> ! {
    panic!("contract check `{check}` failed: {what}")
}

/// Asserts `a == b` for the check `check`.
#[track_caller]
pub(crate) fn same<T: PartialEq + std::fmt::Debug>(check: &str, what: &str, a: T, b: T) {
    if a != b {
        fail(check, format!("{what}: {a:?} != {b:?}"));
    }
}

/// Unwraps a result for the check `check`.
#[track_caller]
pub(crate) fn ok<T, E: std::fmt::Debug>(check: &str, what: &str, r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => fail(check, format!("{what}: {e:?}")),
    }
}
