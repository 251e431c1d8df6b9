//! The devices use case: `GET /v1/devices`, the devices with an open coverage session.

use ccaas_domain::DeviceQuery;

use crate::Error;
use crate::ports::SessionStore;
use crate::view::{DeviceListView, DeviceView};

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
