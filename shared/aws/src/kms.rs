//! KMS envelope sealing behind [`Sealer`]: each message gets a fresh AES-256 data key from
//! `GenerateDataKey`, bound to the task by the encryption context `{"ccaas:task": <id>}`; the
//! device access is sealed locally with AES-256-GCM under that key (the task id as associated
//! data). KMS `Encrypt` alone takes at most 4 KiB, and a private key may be 16 KiB.
//!
//! Token: `kms1.<hex encrypted data key>.<hex nonce>.<hex ciphertext and tag>`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use ccaas_app::{Error, Sealer};
use ccaas_domain::TaskId;

use crate::AwsError;

/// The encryption context key; its value is the task id.
pub const CONTEXT_KEY: &str = "ccaas:task";
const VERSION: &str = "kms1";
const BACKEND: &str = "key service";

/// Seals with a data key from one KMS key.
#[derive(Clone, Debug)]
pub struct KmsSealer {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSealer {
    /// A sealer over `key_id` (key id, key ARN, alias name or alias ARN).
    pub fn new(client: aws_sdk_kms::Client, key_id: String) -> Self {
        KmsSealer { client, key_id }
    }
}

fn corrupt(why: &str) -> Error {
    Error::Corrupt(format!("sealed device access: {why}"))
}

fn crypto_failed() -> Error {
    Error::Unavailable {
        backend: BACKEND,
        source: "the local AES-GCM step failed".into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn gcm_key(data_key: &[u8]) -> Result<LessSafeKey, Error> {
    UnboundKey::new(&AES_256_GCM, data_key)
        .map(LessSafeKey::new)
        .map_err(|_| corrupt("the data key is not an AES-256 key"))
}

impl Sealer for KmsSealer {
    async fn seal(&self, context: &TaskId, plaintext: &[u8]) -> Result<String, Error> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, context.as_str())
            .send()
            .await
            .map_err(|e| AwsError::sdk("kms:GenerateDataKey", e).into_app(BACKEND))?;
        let (Some(key), Some(wrapped)) = (out.plaintext(), out.ciphertext_blob()) else {
            return Err(Error::Unavailable {
                backend: BACKEND,
                source: "GenerateDataKey answered without a key".into(),
            });
        };
        let key = gcm_key(key.as_ref())?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| crypto_failed())?;
        let mut sealed = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_str().as_bytes()),
            &mut sealed,
        )
        .map_err(|_| crypto_failed())?;
        Ok(format!(
            "{VERSION}.{}.{}.{}",
            hex(wrapped.as_ref()),
            hex(&nonce),
            hex(&sealed)
        ))
    }

    async fn open(&self, context: &TaskId, sealed: &str) -> Result<Vec<u8>, Error> {
        let mut parts = sealed.split('.');
        let (Some(VERSION), Some(wrapped), Some(nonce), Some(body), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(corrupt("not a kms1 token"));
        };
        let (Some(wrapped), Some(nonce), Some(mut body)) =
            (unhex(wrapped), unhex(nonce), unhex(body))
        else {
            return Err(corrupt("not hex"));
        };
        let nonce = Nonce::try_assume_unique_for_key(&nonce).map_err(|_| corrupt("bad nonce"))?;
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(CONTEXT_KEY, context.as_str())
            .send()
            .await
            .map_err(|e| {
                // A data key sealed for another task (context) or another key never opens:
                // permanent. Anything else (network, throttling, a disabled key) may pass.
                let permanent = e.as_service_error().is_some_and(|s| {
                    s.is_invalid_ciphertext_exception() || s.is_incorrect_key_exception()
                });
                if permanent {
                    corrupt("KMS refused the data key for this task")
                } else {
                    AwsError::sdk("kms:Decrypt", e).into_app(BACKEND)
                }
            })?;
        let key = out
            .plaintext()
            .ok_or_else(|| corrupt("KMS answered without a key"))?;
        let key = gcm_key(key.as_ref())?;
        let plain = key
            .open_in_place(nonce, Aad::from(context.as_str().as_bytes()), &mut body)
            .map_err(|_| corrupt("the ciphertext does not open for this task"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_odd_or_non_hex_text() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)).unwrap(), bytes);
        for bad in ["a", "zz", "0g", "é1"] {
            assert!(unhex(bad).is_none(), "{bad}");
        }
    }
}
