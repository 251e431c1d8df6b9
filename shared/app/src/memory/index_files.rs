//! The index-files twin: files in a map, tagged by a counter that moves on every put.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::Error;
use crate::ports::{IndexFile, IndexFiles};

/// The files (name → bytes and tag) and the last tag given.
type Files = (BTreeMap<String, (Vec<u8>, String)>, u64);

/// Index files in a map.
#[derive(Clone, Default)]
pub struct MemoryIndexFiles {
    inner: Arc<Mutex<Files>>,
}

fn io(e: std::io::Error) -> Error {
    Error::Unavailable {
        backend: "index files",
        source: Box::new(e),
    }
}

impl IndexFiles for MemoryIndexFiles {
    async fn list(&self) -> Result<Vec<IndexFile>, Error> {
        Ok(lock(&self.inner)
            .0
            .iter()
            .map(|(name, (bytes, _))| IndexFile {
                name: name.clone(),
                size: bytes.len() as u64,
            })
            .collect())
    }

    async fn tag(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(lock(&self.inner).0.get(name).map(|(_, t)| t.clone()))
    }

    async fn get(&self, name: &str, to: &Path, max_bytes: u64) -> Result<Option<String>, Error> {
        let Some((bytes, tag)) = lock(&self.inner).0.get(name).cloned() else {
            return Ok(None);
        };
        if bytes.len() as u64 > max_bytes {
            return Err(Error::Corrupt(format!(
                "index file {name} is over {max_bytes} bytes"
            )));
        }
        std::fs::write(to, bytes).map_err(io)?;
        Ok(Some(tag))
    }

    async fn put(&self, name: &str, from: &Path) -> Result<(), Error> {
        let bytes = std::fs::read(from).map_err(io)?;
        let mut g = lock(&self.inner);
        g.1 += 1;
        let tag = format!("\"{}\"", g.1);
        g.0.insert(name.to_owned(), (bytes, tag));
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        lock(&self.inner).0.remove(name);
        Ok(())
    }
}
