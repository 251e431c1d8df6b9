//! The devices use cases: `GET /v1/devices`, the devices with an open coverage session, and
//! the admin call that drops a device's host-key pin after a re-image.

use ccaas_domain::{DeviceKey, DeviceQuery, FieldError};
use tracing::info;

use crate::Error;
use crate::api::{Admins, Caller};
use crate::ports::{HostKeyPins, SessionStore, device_key};
use crate::view::{DeviceListView, DeviceView, PinDropView};

/// Reads open sessions for the API.
#[derive(Clone, Debug)]
pub struct Devices<D> {
    /// Where sessions live.
    pub sessions: D,
    /// The base URL for the sessions' task links (empty gives relative links).
    pub base_url: String,
}

impl<D: SessionStore> Devices<D> {
    /// `GET /v1/devices` with `limit` and `next`: one page of the devices that have an open
    /// session. Read-only. Errors: [`Error::Invalid`] naming a bad or unknown parameter (or a
    /// cursor the store did not make), [`Error::Unavailable`], [`Error::Corrupt`].
    pub async fn list<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<DeviceListView, Error> {
        let q = DeviceQuery::parse(params).map_err(Error::Invalid)?;
        let page = self.sessions.list(q.next.as_deref(), q.limit).await?;
        let collection: Vec<DeviceView> = page
            .sessions
            .iter()
            .map(|(device, s)| DeviceView::of(device, s, &self.base_url))
            .collect();
        Ok(DeviceListView {
            count: collection.len(),
            collection,
            next: page.next,
        })
    }
}

impl<D: HostKeyPins> Devices<D> {
    /// `DELETE /v1/devices/{device}/pin`: drops the device's pinned host key, so the next login
    /// pins the key the device offers then (policy `tofu`) or the fingerprint a task gives.
    /// `device` is `host:port` (`[v6]:port`), any spelling of the host. Only an admin with
    /// auth on; with auth off any caller (there is no identity to check). Idempotent: answers
    /// whether a pin was there. Errors: [`Error::Refused`] for a verified caller who is not
    /// an admin (checked first), [`Error::Invalid`] for a malformed device,
    /// [`Error::Unavailable`].
    pub async fn drop_pin(
        &self,
        caller: &Caller,
        admins: &Admins,
        device: &str,
    ) -> Result<PinDropView, Error> {
        if !(*caller == Caller::Anonymous || caller.is_admin(admins)) {
            return Err(Error::Refused(FieldError {
                code: "forbidden",
                field: String::new(),
                message: "only an admin (CCAAS_ADMIN_USERS) may drop a host-key pin".into(),
            }));
        }
        let key = DeviceKey::parse(device).map_err(|why| {
            Error::Invalid(FieldError {
                code: "invalid_field",
                field: "device".into(),
                message: why.to_string(),
            })
        })?;
        let host = key.host.to_string();
        let dropped = self.sessions.unpin(&host, key.port).await?;
        let device = device_key(&host, key.port);
        info!(%device, dropped, caller = ?caller, "host-key pin dropped by an admin call");
        Ok(PinDropView { device, dropped })
    }
}
