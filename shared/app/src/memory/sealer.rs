//! The sealer twin: a keyed XOR stream and tag bound to the task id (not cryptography).

use std::sync::{Arc, Mutex};

use ccaas_domain::{SealedMessage, TaskId, TaskMessage};

use super::{down, lock};
use crate::Error;
use crate::ports::Sealer;

/// A sealer twin: a keyed XOR stream and a tag, both bound to the task id, so a sealed token
/// hides the credential from a substring search and does not open for another task. Not
/// cryptography; it stands in for KMS in unit tests. `fail_next(n)` makes the next n calls
/// fail as unavailable.
#[derive(Clone, Default)]
pub struct MemorySealer {
    fail_next: Arc<Mutex<usize>>,
}

impl MemorySealer {
    /// Makes the next `n` seals or opens fail as unavailable.
    pub fn fail_next(&self, n: usize) {
        *lock(&self.fail_next) = n;
    }

    fn check(&self) -> Result<(), Error> {
        let mut n = lock(&self.fail_next);
        if *n > 0 {
            *n -= 1;
            return Err(down("key service"));
        }
        Ok(())
    }

    /// Opens a sent message in one step, for tests that inspect what was queued.
    pub fn open_message(&self, m: &SealedMessage) -> Result<TaskMessage, Error> {
        let plain = twin_open(&m.task_id, &m.sealed_device)?;
        let device = serde_json::from_slice(&plain).map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(TaskMessage {
            task_id: m.task_id.clone(),
            device,
        })
    }
}

/// FNV-1a over the parts, each followed by a zero byte.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(std::iter::once(&0u8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn twin_xor(context: &TaskId, data: &[u8]) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ (fnv(&[context.as_str().as_bytes(), &i.to_le_bytes()]) as u8))
        .collect()
}

fn twin_open(context: &TaskId, sealed: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::Corrupt("the sealed token does not open for this task".into());
    let (tag, body) = sealed
        .strip_prefix("twin.")
        .and_then(|r| r.split_once('.'))
        .ok_or_else(bad)?;
    if !body.len().is_multiple_of(2) || !body.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..body.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&body[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let plain = twin_xor(context, &bytes);
    let want = fnv(&[context.as_str().as_bytes(), &plain]);
    if tag != format!("{want:016x}") {
        return Err(bad());
    }
    Ok(plain)
}

impl Sealer for MemorySealer {
    async fn seal(&self, context: &TaskId, plaintext: &[u8]) -> Result<String, Error> {
        self.check()?;
        let tag = fnv(&[context.as_str().as_bytes(), plaintext]);
        let body: String = twin_xor(context, plaintext)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(format!("twin.{tag:016x}.{body}"))
    }

    async fn open(&self, context: &TaskId, sealed: &str) -> Result<Vec<u8>, Error> {
        self.check()?;
        twin_open(context, sealed)
    }
}
