//! Bearer-token verification for `ccaas-local` (`CCAAS_AUTH=jwt`): what API Gateway's JWT
//! authorizer does on AWS, against a JSON Web Key Set on disk. A verified token's claims are
//! handed to the submit handler in the request context, exactly where API Gateway puts them.

use std::collections::HashMap;

use crate::config::LocalAuth;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

/// The largest JWKS file read (bytes).
const MAX_JWKS_BYTES: u64 = 1 << 20;
/// The largest `Authorization` header accepted (bytes); tokens from real issuers are a few KiB.
pub const MAX_TOKEN_BYTES: usize = 16 << 10;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 60;

/// Why a verifier could not be built, or a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The JWKS file could not be read.
    #[error("cannot read the key set {path}")]
    ReadKeys {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The JWKS file is over [`MAX_JWKS_BYTES`].
    #[error("the key set {0} is over 1 MiB")]
    KeysTooLarge(String),
    /// The JWKS file is not a key set, or a key in it is unusable.
    #[error("the key set {path} is not usable")]
    BadKeys {
        /// The file.
        path: String,
        /// What the JWT library said.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// The key set has no keys.
    #[error("the key set {0} has no keys")]
    NoKeys(String),
    /// No `Authorization: Bearer` header.
    #[error("send a bearer token in the Authorization header")]
    Missing,
    /// The header is not `Bearer <token>` of sensible size.
    #[error("the Authorization header is not `Bearer <token>`")]
    Malformed,
    /// The token names no key of the set, or a key of another algorithm.
    #[error("the token's key is not trusted")]
    UnknownKey,
    /// Signature, expiry, issuer or audience failed.
    #[error("the bearer token is invalid")]
    Invalid(#[source] jsonwebtoken::errors::Error),
}

/// Verifies bearer tokens against a fixed key set, issuer and audience.
pub struct Verifier {
    keys: Vec<(Jwk, DecodingKey)>,
    issuer: String,
    audience: Vec<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys may be shared secrets: only their number is shown.
        f.debug_struct("Verifier")
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Verifier {
    /// Loads the key set named by the settings. Errors name the file and what is wrong.
    pub fn load(settings: &LocalAuth) -> Result<Self, AuthError> {
        use std::io::Read;
        let path = settings.jwks_file.display().to_string();
        let read = |source| AuthError::ReadKeys {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&settings.jwks_file).map_err(read)?;
        let mut text = String::new();
        file.take(MAX_JWKS_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read)?;
        if text.len() as u64 > MAX_JWKS_BYTES {
            return Err(AuthError::KeysTooLarge(path));
        }
        Self::from_jwks(&text, settings, &path)
    }

    /// Builds a verifier from a key set's JSON text.
    pub fn from_jwks(text: &str, settings: &LocalAuth, path: &str) -> Result<Self, AuthError> {
        let bad = |source| AuthError::BadKeys {
            path: path.to_owned(),
            source,
        };
        let set: JwkSet = serde_json::from_str(text).map_err(|e| bad(e.into()))?;
        let keys = set
            .keys
            .into_iter()
            .map(|jwk| DecodingKey::from_jwk(&jwk).map(|k| (jwk, k)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        if keys.is_empty() {
            return Err(AuthError::NoKeys(path.to_owned()));
        }
        Ok(Verifier {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    /// Verifies an `Authorization` header value and returns the token's claims flattened to
    /// strings, as API Gateway passes them to a function (`String` claims as they are, others
    /// as JSON text).
    pub fn verify(
        &self,
        authorization: Option<&str>,
    ) -> Result<HashMap<String, String>, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        if header.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::Malformed);
        }
        let head = decode_header(token).map_err(AuthError::Invalid)?;
        let (jwk, key) = match &head.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|(j, _)| j.common.key_id.as_deref() == Some(kid.as_str())),
            // Without a `kid` only a one-key set is unambiguous.
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
        .ok_or(AuthError::UnknownKey)?;
        // The algorithm comes from the token, so it must fit the key: a key that declares
        // its algorithm allows only that one, and the key's family must match (no HS256
        // token checked against an RSA public key used as an HMAC secret).
        if key.family() != head.alg.family() {
            return Err(AuthError::UnknownKey);
        }
        if let Some(declared) = jwk.common.key_algorithm
            && format!("{declared:?}") != format!("{:?}", head.alg)
        {
            return Err(AuthError::UnknownKey);
        }
        let mut validation = Validation::new(head.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = decode::<serde_json::Map<String, Value>>(token, key, &validation)
            .map_err(AuthError::Invalid)?;
        Ok(data
            .claims
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &[u8] = b"a local secret of at least thirty-two bytes";

    fn settings() -> LocalAuth {
        LocalAuth {
            jwks_file: "/unused".into(),
            issuer: "https://issuer.test".into(),
            audience: vec!["ccaas".into()],
        }
    }

    fn jwks() -> String {
        // base64url of SECRET.
        let k = "YSBsb2NhbCBzZWNyZXQgb2YgYXQgbGVhc3QgdGhpcnR5LXR3byBieXRlcw";
        json!({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": k}]}).to_string()
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn token(claims: Value, kid: Option<&str>, secret: &[u8]) -> String {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = kid.map(str::to_string);
        encode(&h, &claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
    }

    fn good() -> Value {
        json!({"sub": "alice", "iss": "https://issuer.test", "aud": "ccaas", "exp": now() + 600, "groups": ["qa"]})
    }

    fn verifier() -> Verifier {
        Verifier::from_jwks(&jwks(), &settings(), "test.json").unwrap()
    }

    #[test]
    fn a_valid_token_yields_its_claims_as_strings() {
        let claims = verifier()
            .verify(Some(&format!(
                "Bearer {}",
                token(good(), Some("k1"), SECRET)
            )))
            .unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["groups"], r#"["qa"]"#);
    }

    #[test]
    fn expired_foreign_misaddressed_or_forged_tokens_are_refused() {
        let v = verifier();
        let mut expired = good();
        expired["exp"] = json!(now() - 3600);
        let mut issuer = good();
        issuer["iss"] = json!("https://evil.test");
        let mut audience = good();
        audience["aud"] = json!("other");
        let mut no_exp = good();
        no_exp.as_object_mut().unwrap().remove("exp");
        let mut early = good();
        early["nbf"] = json!(now() + 3600);
        for (what, t) in [
            ("expired", token(expired, Some("k1"), SECRET)),
            ("issuer", token(issuer, Some("k1"), SECRET)),
            ("audience", token(audience, Some("k1"), SECRET)),
            ("no exp", token(no_exp, Some("k1"), SECRET)),
            ("not yet valid", token(early, Some("k1"), SECRET)),
            (
                "forged",
                token(good(), Some("k1"), b"another secret of thirty-two bytes!!"),
            ),
            ("unknown kid", token(good(), Some("k2"), SECRET)),
        ] {
            assert!(
                v.verify(Some(&format!("Bearer {t}"))).is_err(),
                "{what} was accepted"
            );
        }
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        // {"alg":"none","typ":"JWT","kid":"k1"} . {"sub":"alice","iss":"https://issuer.test",
        // "aud":"ccaas","exp":4102444800} . (no signature)
        let t = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoiazEifQ.\
                 eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vaXNzdWVyLnRlc3QiLCJhdWQiOiJjY2FhcyIsImV4cCI6NDEwMjQ0NDgwMH0.";
        assert!(verifier().verify(Some(&format!("Bearer {t}"))).is_err());
    }

    #[test]
    fn missing_malformed_and_oversized_headers_are_refused_without_panic() {
        let v = verifier();
        assert!(matches!(v.verify(None), Err(AuthError::Missing)));
        let huge = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES));
        for h in [
            "",
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwdw==",
            "Bearer a.b",
            "Bearer ...",
            "Bearer \u{0}.\u{0}.\u{0}",
            "Bearer eyJhbGciOiJIUzI1NiJ9.%%%.xx",
            &huge,
        ] {
            assert!(v.verify(Some(h)).is_err(), "{h:.40} was accepted");
        }
    }

    #[test]
    fn an_unusable_key_set_is_a_clear_error() {
        for text in ["", "{}", r#"{"keys": []}"#, r#"{"keys": [{"kty": "RSA"}]}"#] {
            let e = Verifier::from_jwks(text, &settings(), "keys.json").unwrap_err();
            assert!(e.to_string().contains("keys.json"), "{text}: {e}");
        }
    }
}
