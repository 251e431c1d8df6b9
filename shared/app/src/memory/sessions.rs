//! The device-sessions twin: open sessions in a map, with the conditional-write contract, and
//! the devices' host-key pins beside them (one record per device, as the `devices` table has).
//! Dropping a pin leaves the session; closing a session leaves the pin.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ccaas_domain::TaskId;

use super::lock;
use crate::Error;
use crate::memory::MemoryPins;
use crate::ports::{DeviceSession, HostKeyPins, Opened, PinOutcome, SessionPage, SessionStore};

/// Open sessions in a map, with the store's conditional-write contract, and the pins.
#[derive(Clone, Default)]
pub struct MemorySessions {
    inner: Arc<Mutex<BTreeMap<String, DeviceSession>>>,
    pins: Arc<MemoryPins>,
}

impl HostKeyPins for MemorySessions {
    async fn pinned(&self, host: &str, port: u16) -> Result<Option<String>, Error> {
        self.pins.pinned(host, port).await
    }

    async fn pin(&self, host: &str, port: u16, sha256: &str) -> Result<PinOutcome, Error> {
        self.pins.pin(host, port, sha256).await
    }

    async fn unpin(&self, host: &str, port: u16) -> Result<bool, Error> {
        self.pins.unpin(host, port).await
    }
}

impl MemorySessions {
    /// Every open session by device key.
    pub fn all(&self) -> BTreeMap<String, DeviceSession> {
        lock(&self.inner).clone()
    }
}

impl SessionStore for MemorySessions {
    async fn open(&self, device: &str, session: &DeviceSession) -> Result<Opened, Error> {
        let mut m = lock(&self.inner);
        match m.get(device) {
            Some(s) if s.id == session.id => Ok(Opened::Already),
            Some(s) => Ok(Opened::Busy(s.id.clone())),
            None => {
                m.insert(device.to_string(), session.clone());
                Ok(Opened::New)
            }
        }
    }

    async fn current(&self, device: &str) -> Result<Option<DeviceSession>, Error> {
        Ok(lock(&self.inner).get(device).cloned())
    }

    async fn close(&self, device: &str, id: &TaskId) -> Result<bool, Error> {
        let mut m = lock(&self.inner);
        if m.get(device).is_some_and(|s| &s.id == id) {
            m.remove(device);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn list(&self, next: Option<&str>, limit: usize) -> Result<SessionPage, Error> {
        // The cursor is `dev|<last device key>`: anything else was not made here.
        let after = match next {
            None => None,
            Some(c) => Some(c.strip_prefix("dev|").ok_or_else(|| {
                Error::Invalid(ccaas_domain::FieldError {
                    code: "invalid_field",
                    field: "next".into(),
                    message: "is not a cursor from this API".into(),
                })
            })?),
        };
        let m = lock(&self.inner);
        let mut rows = m
            .iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .map(|(k, v)| (k.clone(), v.clone()));
        let sessions: Vec<(String, DeviceSession)> = rows.by_ref().take(limit).collect();
        let next = match rows.next() {
            Some(_) => sessions.last().map(|(k, _)| format!("dev|{k}")),
            None => None,
        };
        Ok(SessionPage { sessions, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &TaskId) -> DeviceSession {
        DeviceSession {
            id: id.clone(),
            modules: vec!["tmm".into()],
            facts: serde_json::json!({}),
            opened: "2026-11-29T00:00:00.000Z".into(),
            opened_ms: None,
            owner: None,
            took_over: None,
        }
    }

    #[tokio::test]
    async fn a_device_holds_one_session_and_reopening_or_reclosing_it_changes_nothing() {
        let s = MemorySessions::default();
        let (a, b) = (TaskId::from_parts(1, 1), TaskId::from_parts(2, 2));
        assert_eq!(s.open("h:22", &session(&a)).await.unwrap(), Opened::New);
        assert_eq!(s.open("h:22", &session(&a)).await.unwrap(), Opened::Already);
        assert_eq!(
            s.open("h:22", &session(&b)).await.unwrap(),
            Opened::Busy(a.clone())
        );
        assert_eq!(s.open("h:23", &session(&b)).await.unwrap(), Opened::New);
        assert!(!s.close("h:22", &b).await.unwrap());
        assert!(s.close("h:22", &a).await.unwrap());
        assert!(!s.close("h:22", &a).await.unwrap());
        assert_eq!(s.current("h:22").await.unwrap(), None);
    }
}
