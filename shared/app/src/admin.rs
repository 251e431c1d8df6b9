//! Operator calls: who is an admin, and dropping a device's host-key pin after a re-image.

use ccaas_domain::{DeviceKey, FieldError};
use tracing::info;

use crate::Error;
use crate::api::Caller;
use crate::ports::{HostKeyPins, device_key};
use crate::view::PinDropView;

/// The users who may make admin calls (`CCAAS_ADMIN_USERS`): verified user names, as the
/// token's user claim gives them. With auth off there are no verified users, and every caller
/// may make admin calls (docs/api.md says why that is only for trusted networks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admins(Vec<String>);

impl Admins {
    /// Parses a comma-separated list of user names (blank: nobody). Errors: the first entry
    /// that is not a valid user name, by position.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for (i, u) in s.split(',').map(str::trim).enumerate() {
            if u.is_empty() {
                continue;
            }
            ccaas_domain::submission::check_user(u)
                .map_err(|_| format!("entry {} is not a valid user name", i + 1))?;
            out.push(u.to_owned());
        }
        Ok(Admins(out))
    }

    /// Whether `caller` may make admin calls: any caller with auth off, a verified user only
    /// when listed.
    pub fn admits(&self, caller: &Caller) -> bool {
        match caller {
            Caller::Anonymous => true,
            Caller::Verified(u) => self.0.iter().any(|a| a == u),
        }
    }
}

/// `DELETE /v1/devices/{device}/pin`: drops the device's pinned host key, so the next login
/// pins the key the device offers then (policy `tofu`) or the fingerprint a task gives.
/// `device` is `host:port` (`[v6]:port`), any spelling of the host. Idempotent: answers
/// whether a pin was there. Errors: [`Error::Forbidden`] for a caller who is not an admin
/// (checked first), [`Error::Invalid`] for a malformed device, [`Error::Unavailable`].
pub async fn drop_pin<P: HostKeyPins>(
    pins: &P,
    admins: &Admins,
    caller: &Caller,
    device: &str,
) -> Result<PinDropView, Error> {
    if !admins.admits(caller) {
        return Err(Error::Forbidden(FieldError {
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
    let dropped = pins.unpin(&host, key.port).await?;
    let device = device_key(&host, key.port);
    info!(%device, dropped, caller = ?caller, "host-key pin dropped by an admin call");
    Ok(PinDropView { device, dropped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_are_the_listed_verified_users_or_anyone_with_auth_off() {
        let a = Admins::parse(" alice, ops@example.com ,").unwrap();
        assert!(a.admits(&Caller::Verified("alice".into())));
        assert!(a.admits(&Caller::Verified("ops@example.com".into())));
        assert!(!a.admits(&Caller::Verified("mallory".into())));
        assert!(!a.admits(&Caller::Verified("Alice".into())));
        assert!(a.admits(&Caller::Anonymous));
        assert!(!Admins::default().admits(&Caller::Verified("alice".into())));
        let e = Admins::parse("alice,bob smith").unwrap_err();
        assert!(e.contains("entry 2"), "{e}");
    }
}
