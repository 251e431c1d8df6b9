//! The coverage-index twin: `index/...` objects in a map, keyed as in S3.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ccaas_domain::{BuildId, TaskId};

use super::{down, lock};
use crate::Error;
use crate::ports::{
    IndexStore, LatestBuild, MAX_INDEX_READ, index_key, latest_key, merged_index_key,
};

/// Coverage indexes in a map. `switch_off` makes every call fail as an outage would; `reads`
/// counts the bytes read back, so a test can see that a query read only parts.
#[derive(Clone, Default)]
pub struct MemoryIndexes {
    inner: Arc<Mutex<IndexState>>,
}

#[derive(Default)]
struct IndexState {
    objects: BTreeMap<String, Vec<u8>>,
    off: bool,
    read_bytes: u64,
    read_calls: u64,
}

impl MemoryIndexes {
    /// Every object by key.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.inner).objects.clone()
    }

    /// Makes every later call fail (`true`) or work again.
    pub fn switch_off(&self, off: bool) {
        lock(&self.inner).off = off;
    }

    /// Bytes and calls of [`IndexStore::read_index`] so far.
    pub fn reads(&self) -> (u64, u64) {
        let s = lock(&self.inner);
        (s.read_bytes, s.read_calls)
    }
}

impl MemoryIndexes {
    /// Bytes `offset .. offset + len` of the object at `key`, as S3's ranged GET gives them.
    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>, Error> {
        if len > MAX_INDEX_READ {
            return Err(Error::Corrupt(format!(
                "a read of {len} bytes of an index is over {MAX_INDEX_READ}"
            )));
        }
        let mut s = lock(&self.inner);
        live(&s)?;
        let Some(b) = s.objects.get(key) else {
            return Ok(None);
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
        let end = start.saturating_add(len as usize).min(b.len());
        let out = b[start..end].to_vec();
        s.read_bytes += out.len() as u64;
        s.read_calls += 1;
        Ok(Some(out))
    }
}

fn live(s: &IndexState) -> Result<(), Error> {
    if s.off {
        Err(down("index store"))
    } else {
        Ok(())
    }
}

impl IndexStore for MemoryIndexes {
    async fn put_index(
        &self,
        build: &BuildId,
        session: &TaskId,
        bytes: Vec<u8>,
    ) -> Result<(), Error> {
        let mut s = lock(&self.inner);
        live(&s)?;
        s.objects.insert(index_key(build, session), bytes);
        Ok(())
    }

    async fn list_sessions(&self, build: &BuildId, max: usize) -> Result<Vec<TaskId>, Error> {
        let s = lock(&self.inner);
        live(&s)?;
        let prefix = format!("index/coverage/{build}/");
        let all: Vec<TaskId> = s
            .objects
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix(".idx"))
            .filter_map(TaskId::parse)
            .collect();
        Ok(all[all.len().saturating_sub(max)..].to_vec())
    }

    async fn read_index(
        &self,
        build: &BuildId,
        session: &TaskId,
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.read_range(&index_key(build, session), offset, len)
    }

    async fn put_merged_index(
        &self,
        build: &BuildId,
        task: &TaskId,
        bytes: Vec<u8>,
    ) -> Result<(), Error> {
        let mut s = lock(&self.inner);
        live(&s)?;
        s.objects.insert(merged_index_key(build, task), bytes);
        Ok(())
    }

    async fn read_merged_index(
        &self,
        build: &BuildId,
        task: &TaskId,
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.read_range(&merged_index_key(build, task), offset, len)
    }

    async fn put_latest(&self, device: Option<&str>, latest: &LatestBuild) -> Result<(), Error> {
        let mut s = lock(&self.inner);
        live(&s)?;
        let bytes = serde_json::to_vec(latest).map_err(|e| Error::Corrupt(e.to_string()))?;
        s.objects.insert(latest_key(device), bytes);
        Ok(())
    }

    async fn latest(&self, device: Option<&str>) -> Result<Option<LatestBuild>, Error> {
        let s = lock(&self.inner);
        live(&s)?;
        s.objects
            .get(&latest_key(device))
            .map(|b| {
                serde_json::from_slice(b)
                    .map_err(|e| Error::Corrupt(format!("{}: {e}", latest_key(device))))
            })
            .transpose()
    }
}
