//! Host-key pins: trust on first use, refuse a change afterwards.

/// Why a pin store call failed.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// A different key is already pinned for this device.
    #[error("a different host key is already pinned: {pinned}")]
    Conflict {
        /// The fingerprint already pinned.
        pinned: String,
    },
    /// The store could not be reached or answered an error; worth retrying.
    #[error("pin store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where pinned host keys live (the `devices` table in production).
///
/// Fingerprints are `SHA256:<base64>` strings as `ssh-keygen -lf` prints them. Implementations
/// must be safe to share between concurrent operations.
pub trait HostKeyPins: Send + Sync {
    /// Returns the fingerprint pinned for `host:port`, or `None` when none is pinned yet.
    ///
    /// Idempotent and side-effect free. Errors: [`PinError::Unavailable`] when the store cannot
    /// be read (the caller treats it as retryable and does not connect on).
    fn pinned(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Option<String>, PinError>> + Send;

    /// Pins `sha256` for `host:port` if nothing is pinned yet (a conditional write).
    ///
    /// Idempotent: pinning the fingerprint that is already pinned succeeds and changes nothing.
    /// Errors: [`PinError::Conflict`] when a different fingerprint is pinned (for example by a
    /// concurrent first contact), which the driver reports as a host-key mismatch; and
    /// [`PinError::Unavailable`] when the store cannot be written.
    fn pin(
        &self,
        host: &str,
        port: u16,
        sha256: &str,
    ) -> impl Future<Output = Result<(), PinError>> + Send;
}

impl<T: HostKeyPins + ?Sized> HostKeyPins for std::sync::Arc<T> {
    fn pinned(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Option<String>, PinError>> + Send {
        (**self).pinned(host, port)
    }

    fn pin(
        &self,
        host: &str,
        port: u16,
        sha256: &str,
    ) -> impl Future<Output = Result<(), PinError>> + Send {
        (**self).pin(host, port, sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryPins;

    #[tokio::test]
    async fn the_first_pin_wins_and_a_different_key_is_a_conflict() {
        let p = MemoryPins::new();
        assert_eq!(p.pinned("h", 22).await.unwrap(), None);
        p.pin("h", 22, "SHA256:a").await.unwrap();
        p.pin("h", 22, "SHA256:a").await.unwrap();
        assert!(matches!(
            p.pin("h", 22, "SHA256:b").await,
            Err(PinError::Conflict { pinned }) if pinned == "SHA256:a"
        ));
        assert_eq!(
            p.pinned("h", 22).await.unwrap().as_deref(),
            Some("SHA256:a")
        );
        assert_eq!(p.pinned("h", 2222).await.unwrap(), None);
    }
}
