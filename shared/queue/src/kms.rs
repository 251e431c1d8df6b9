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

use ccaas_aws::AwsError;

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
            hex::encode(wrapped.as_ref()),
            hex::encode(nonce),
            hex::encode(&sealed)
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
        let (Ok(wrapped), Ok(nonce), Ok(mut body)) =
            (hex::decode(wrapped), hex::decode(nonce), hex::decode(body))
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

    #[tokio::test]
    async fn a_token_whose_parts_are_not_hex_is_refused_before_any_key_call() {
        // Nothing listens on port 9: a token that got past the hex check would be a key
        // service outage (Unavailable), not Corrupt.
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let sealer = KmsSealer::new(aws_sdk_kms::Client::from_conf(conf), "k".into());
        let id = TaskId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        for bad in [
            "kms1.a.00.00",
            "kms1.zz.00.00",
            "kms1.00.0g.00",
            "kms1.00.00.+f",
            "kms1.\u{e9}1.00.00",
        ] {
            match sealer.open(&id, bad).await {
                Err(Error::Corrupt(why)) => assert!(why.contains("not hex"), "{bad}: {why}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
