//! In-memory twins of the role traits, for unit tests (feature `testing`, never in production
//! binaries). They keep the adapters' contracts (conditional writes, idempotency records,
//! cursors, caps); the contract suites of [`crate::contract`] run on them and on the adapters alike.

mod artifacts;
mod builds;
mod index_files;
mod indexes;
mod logs;
mod mailer;
mod notifier;
mod pins;
mod queue;
mod sealer;
mod search;
mod sessions;
mod site;
mod store;

pub use artifacts::MemoryArtifacts;
pub use builds::MemoryBuilds;
pub use index_files::MemoryIndexFiles;
pub use indexes::MemoryIndexes;
pub use logs::MemoryLogs;
pub use mailer::MemoryMailer;
pub use notifier::MemoryNotifier;
pub use pins::MemoryPins;
pub use queue::MemoryQueue;
pub use sealer::MemorySealer;
pub use search::MemorySearch;
pub use sessions::MemorySessions;
pub use site::MemorySite;
pub use store::MemoryStore;

use std::sync::{Mutex, MutexGuard};

use crate::Error;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn down(backend: &'static str) -> Error {
    Error::Unavailable {
        backend,
        source: "switched off by the test".into(),
    }
}
