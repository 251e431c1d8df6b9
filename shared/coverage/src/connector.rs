//! How the runner gets a device driver for a task's device access.

use ccaas_app::ports::HostKeyPins;
use ccaas_device::{Credentials, Device, DeviceProfile, DeviceTarget, HostKeyPolicy, SshDevice};
use ccaas_domain::{Credential, DeviceAccess};

/// Builds a [`Device`] for one task. Production uses [`SshConnector`]; tests hand out
/// in-memory twins.
pub trait Connector: Send + Sync {
    /// The driver type.
    type Device: Device;

    /// A driver for `access`. No I/O happens here (the driver connects per operation), so it is
    /// idempotent. Errors: none today; a driver that needs validation up front may refuse.
    fn device(&self, access: &DeviceAccess) -> Self::Device;
}

/// SSH drivers with one device profile and a shared host-key pin store.
#[derive(Clone, Debug)]
pub struct SshConnector<P> {
    /// Where things live on the device (BIG-IP or simulator layout).
    pub profile: DeviceProfile,
    /// The pinned host keys (the `devices` table in production).
    pub pins: P,
    /// What to do with a device with neither a pin nor a fingerprint in the task.
    pub policy: HostKeyPolicy,
}

impl<P: HostKeyPins + Clone> Connector for SshConnector<P> {
    type Device = SshDevice<P>;

    fn device(&self, access: &DeviceAccess) -> SshDevice<P> {
        // The secret is copied into the driver's own redacting type and goes nowhere else.
        let auth = match &access.credential {
            Credential::Password(p) => Credentials::Password(p.expose().to_string()),
            Credential::PrivateKey(k) => Credentials::PrivateKey {
                pem: k.expose().to_string(),
                passphrase: None,
            },
        };
        let target = DeviceTarget {
            host: access.host.to_string(),
            port: access.port,
            username: access.username.clone(),
            auth,
            host_key_sha256: access.host_key_sha256.clone(),
            host_key_policy: self.policy,
        };
        SshDevice::new(target, self.profile.clone(), self.pins.clone())
    }
}
