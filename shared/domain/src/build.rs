//! Build ids: `<Version>-<Build>[-<JobID>]`, the key of a build's published notes and sources
//! (`builds/<build-id>/` in S3). The device driver makes them from a BIG-IP's `/VERSION`; the
//! `ccaas build publish` command takes one from its user. Both go through [`BuildId::parse`],
//! so a build id never makes an odd object key.

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Longest build id, in bytes.
pub const MAX_BUILD_ID_LEN: usize = 128;

/// A validated build id: 1 to 128 bytes of `[A-Za-z0-9._-]`, starting with a letter or digit,
/// with a `-` between the version and the build (so `17.1.0-0.0.16-1234567`, never `..`, `-x`
/// or a bare version).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BuildId(String);

impl BuildId {
    /// Checks `s`. Errors: a [`FieldError`] on field `build` saying what is wrong.
    pub fn parse(s: &str) -> Result<BuildId, FieldError> {
        let bad = |why: &str| FieldError {
            code: "invalid_field",
            field: "build".into(),
            message: format!(
                "{why}; a build id is <Version>-<Build>[-<JobID>] such as 17.1.0-0.0.16-1234567"
            ),
        };
        if s.is_empty() || s.len() > MAX_BUILD_ID_LEN {
            return Err(bad(&format!("must be 1 to {MAX_BUILD_ID_LEN} bytes")));
        }
        if !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        {
            return Err(bad("may only hold letters, digits, '.', '_' and '-'"));
        }
        if !s.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(bad("must start with a letter or a digit"));
        }
        match s.split_once('-') {
            Some((version, build)) if !version.is_empty() && !build.is_empty() => {}
            _ => return Err(bad("has no '-' between the version and the build")),
        }
        Ok(BuildId(s.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BuildId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BuildId {
    type Error = FieldError;
    fn try_from(s: String) -> Result<BuildId, FieldError> {
        BuildId::parse(&s)
    }
}

impl From<BuildId> for String {
    fn from(b: BuildId) -> String {
        b.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_build_ids_are_accepted() {
        for ok in [
            "17.1.0-0.0.16-1234567",
            "16.1.3-0.0.12",
            "a-b",
            "17.1.0-0.0.16_hf1",
        ] {
            assert_eq!(BuildId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn ids_that_could_make_odd_keys_are_refused_with_the_field_named() {
        let long = format!("1-{}", "x".repeat(MAX_BUILD_ID_LEN));
        for bad in [
            "",
            "..",
            ".-.",
            "-1.0-2",
            "17.1.0",
            "17.1.0-",
            "17.1.0-0.0.16/../x",
            "17.1.0 0.0.16",
            "17.1.0-0.0.16\n",
            "a-b%2f",
            "ü-1",
            long.as_str(),
        ] {
            let e = BuildId::parse(bad).unwrap_err();
            assert_eq!(e.field, "build", "{bad:?}");
            assert!(e.message.contains("<Version>-<Build>"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn serde_goes_through_the_same_check() {
        let b: BuildId = serde_json::from_str("\"17.1.0-0.0.16\"").unwrap();
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"17.1.0-0.0.16\"");
        assert!(serde_json::from_str::<BuildId>("\"../x\"").is_err());
    }
}
