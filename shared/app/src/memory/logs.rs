//! The command-log twin: logs in a map.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ccaas_domain::TaskId;

use super::lock;
use crate::Error;
use crate::ports::LogStore;

/// Command logs in a map.
#[derive(Clone, Default)]
pub struct MemoryLogs {
    inner: Arc<Mutex<BTreeMap<TaskId, Vec<u8>>>>,
}

impl LogStore for MemoryLogs {
    async fn read_log(&self, id: &TaskId) -> Result<Option<Vec<u8>>, Error> {
        Ok(lock(&self.inner).get(id).cloned())
    }

    async fn write_log(&self, id: &TaskId, jsonl: Vec<u8>) -> Result<(), Error> {
        lock(&self.inner).insert(id.clone(), jsonl);
        Ok(())
    }
}
