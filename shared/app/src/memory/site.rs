//! The report-site twin: the bucket's objects in a map, with their content type and
//! Cache-Control, and the order they were written in.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{down, lock};
use crate::Error;
use crate::ports::ReportSite;

/// One stored object: bytes, content type, Cache-Control.
pub type SiteObject = (Vec<u8>, String, String);

/// The report site's bucket in a map. `fail_after(n)` lets n more writes succeed and fails
/// every later one, as an outage mid-publish would.
#[derive(Clone, Default)]
pub struct MemorySite {
    inner: Arc<Mutex<SiteState>>,
}

#[derive(Default)]
struct SiteState {
    objects: BTreeMap<String, SiteObject>,
    order: Vec<String>,
    fail_after: Option<usize>,
}

impl MemorySite {
    /// Every object by key, with its content type (the Cache-Control is in [`Self::object`]).
    pub fn objects(&self) -> BTreeMap<String, (Vec<u8>, String)> {
        lock(&self.inner)
            .objects
            .iter()
            .map(|(k, (b, t, _))| (k.clone(), (b.clone(), t.clone())))
            .collect()
    }

    /// One object: bytes, content type and Cache-Control.
    pub fn object(&self, key: &str) -> Option<SiteObject> {
        lock(&self.inner).objects.get(key).cloned()
    }

    /// Every key in the order it was written (repeats included).
    pub fn write_order(&self) -> Vec<String> {
        lock(&self.inner).order.clone()
    }

    /// How many times the site-wide `index.html` was written.
    pub fn index_writes(&self) -> usize {
        lock(&self.inner)
            .order
            .iter()
            .filter(|k| *k == "index.html")
            .count()
    }

    /// Lets `n` more writes (puts and deletes) succeed, then fails every one after (None:
    /// never fail).
    pub fn fail_after(&self, n: Option<usize>) {
        lock(&self.inner).fail_after = n;
    }

    fn spend(s: &mut SiteState) -> Result<(), Error> {
        match &mut s.fail_after {
            Some(0) => Err(down("report site")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl ReportSite for MemorySite {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), Error> {
        let mut s = lock(&self.inner);
        Self::spend(&mut s)?;
        s.order.push(key.to_string());
        s.objects.insert(
            key.to_string(),
            (bytes, content_type.to_string(), cache_control.to_string()),
        );
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        Ok(lock(&self.inner)
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        let mut s = lock(&self.inner);
        Self::spend(&mut s)?;
        s.objects.remove(key);
        Ok(())
    }
}
