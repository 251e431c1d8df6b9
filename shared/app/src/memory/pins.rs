//! The in-memory twin of [`HostKeyPins`].

use std::collections::HashMap;
use std::sync::Mutex;

use super::lock;
use crate::Error;
use crate::ports::{HostKeyPins, PinOutcome};

/// Pinned host keys in a map, keyed by (host, port).
#[derive(Debug, Default)]
pub struct MemoryPins {
    pins: Mutex<HashMap<(String, u16), String>>,
}

impl MemoryPins {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A snapshot of every pin, for assertions.
    pub fn snapshot(&self) -> HashMap<(String, u16), String> {
        lock(&self.pins).clone()
    }
}

impl HostKeyPins for MemoryPins {
    async fn pinned(&self, host: &str, port: u16) -> Result<Option<String>, Error> {
        Ok(lock(&self.pins).get(&(host.to_string(), port)).cloned())
    }

    async fn pin(&self, host: &str, port: u16, sha256: &str) -> Result<PinOutcome, Error> {
        let mut m = lock(&self.pins);
        match m.get(&(host.to_string(), port)) {
            Some(p) if p == sha256 => Ok(PinOutcome::Pinned),
            Some(p) => Ok(PinOutcome::Differs { pinned: p.clone() }),
            None => {
                m.insert((host.to_string(), port), sha256.to_string());
                Ok(PinOutcome::Pinned)
            }
        }
    }

    async fn unpin(&self, host: &str, port: u16) -> Result<bool, Error> {
        Ok(lock(&self.pins).remove(&(host.to_string(), port)).is_some())
    }
}
