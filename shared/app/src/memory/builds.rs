//! The build-parts twin: `builds/<build-id>/...` objects in a map.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::Error;

/// Published build parts in a map, keyed as in S3 (`builds/<build-id>/notes.tar.gz`, ...).
/// `insert` stores any bytes (a corrupt archive, say) the way a user's upload would.
#[derive(Clone, Default)]
pub struct MemoryBuilds {
    inner: Arc<Mutex<BuildsState>>,
}

#[derive(Default)]
struct BuildsState {
    objects: BTreeMap<String, Vec<u8>>,
    gets: usize,
}

impl MemoryBuilds {
    /// Stores `bytes` as the build's `part`.
    pub fn insert(
        &self,
        build: &ccaas_domain::BuildId,
        part: crate::ports::BuildPart,
        bytes: Vec<u8>,
    ) {
        lock(&self.inner)
            .objects
            .insert(crate::ports::build_key(build, part), bytes);
    }

    /// Every object by key.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.inner).objects.clone()
    }

    /// How many `get_part` calls were made.
    pub fn gets(&self) -> usize {
        lock(&self.inner).gets
    }
}

impl crate::ports::BuildStore for MemoryBuilds {
    async fn put_part(
        &self,
        build: &ccaas_domain::BuildId,
        part: crate::ports::BuildPart,
        from: &Path,
    ) -> Result<(), Error> {
        let bytes = std::fs::read(from).map_err(|e| Error::Unavailable {
            backend: "build store",
            source: Box::new(e),
        })?;
        self.insert(build, part, bytes);
        Ok(())
    }

    async fn get_part(
        &self,
        build: &ccaas_domain::BuildId,
        part: crate::ports::BuildPart,
        to: &Path,
        max_bytes: u64,
    ) -> Result<bool, Error> {
        let key = crate::ports::build_key(build, part);
        let bytes = {
            let mut s = lock(&self.inner);
            s.gets += 1;
            s.objects.get(&key).cloned()
        };
        let Some(bytes) = bytes else {
            return Ok(false);
        };
        if bytes.len() as u64 > max_bytes {
            return Err(Error::Corrupt(format!("{key} is over {max_bytes} bytes")));
        }
        std::fs::write(to, bytes).map_err(|e| Error::Unavailable {
            backend: "build store",
            source: Box::new(e),
        })?;
        Ok(true)
    }
}
