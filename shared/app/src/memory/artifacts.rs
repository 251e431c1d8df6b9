//! The raw-artifacts twin: `raw/<id>/...` objects in a map.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ccaas_domain::TaskId;

use super::lock;
use crate::Error;
use crate::ports::ArtifactStore;

/// The cap of a facts record, as the S3 adapter's.
const MAX_FACTS: usize = 1 << 20;

/// Private artifacts in a map, keyed as in S3 (`raw/<id>/gcda.tar.gz`, `raw/<id>/facts.json`).
#[derive(Clone, Default)]
pub struct MemoryArtifacts {
    inner: Arc<Mutex<ArtifactState>>,
}

#[derive(Default)]
struct ArtifactState {
    objects: BTreeMap<String, Vec<u8>>,
    puts: BTreeMap<String, usize>,
}

impl MemoryArtifacts {
    /// Every object by key.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.inner).objects.clone()
    }

    /// How many times `key` was written.
    pub fn puts(&self, key: &str) -> usize {
        lock(&self.inner).puts.get(key).copied().unwrap_or(0)
    }

    fn put(&self, key: String, bytes: Vec<u8>) {
        let mut s = lock(&self.inner);
        *s.puts.entry(key.clone()).or_default() += 1;
        s.objects.insert(key, bytes);
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.inner).objects.get(key).cloned()
    }
}

impl ArtifactStore for MemoryArtifacts {
    async fn put_raw(&self, id: &TaskId, from: &Path) -> Result<(), Error> {
        let bytes = std::fs::read(from).map_err(|e| Error::Unavailable {
            backend: "artifact store",
            source: Box::new(e),
        })?;
        self.put(format!("raw/{id}/gcda.tar.gz"), bytes);
        Ok(())
    }

    async fn get_raw(&self, id: &TaskId, to: &Path, max_bytes: u64) -> Result<bool, Error> {
        let Some(bytes) = self.get(&format!("raw/{id}/gcda.tar.gz")) else {
            return Ok(false);
        };
        if bytes.len() as u64 > max_bytes {
            return Err(Error::Corrupt(
                "the raw archive is over the size cap".into(),
            ));
        }
        std::fs::write(to, bytes).map_err(|e| Error::Unavailable {
            backend: "artifact store",
            source: Box::new(e),
        })?;
        Ok(true)
    }

    async fn put_facts(&self, id: &TaskId, json: Vec<u8>) -> Result<(), Error> {
        self.put(format!("raw/{id}/facts.json"), json);
        Ok(())
    }

    async fn get_facts(&self, id: &TaskId) -> Result<Option<Vec<u8>>, Error> {
        match self.get(&format!("raw/{id}/facts.json")) {
            Some(b) if b.len() > MAX_FACTS => Err(Error::Corrupt(format!(
                "raw/{id}/facts.json is over {MAX_FACTS} bytes"
            ))),
            other => Ok(other),
        }
    }
}
