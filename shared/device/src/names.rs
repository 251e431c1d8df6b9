//! Validation of everything that reaches a device command line. Module names follow the
//! domain's one rule, [`ModuleName::parse`].

use ccaas_domain::ModuleName;

use crate::DeviceError;

/// Checks one module name by the domain's rule ([`ModuleName::parse`]): a name that fails it
/// gives [`DeviceError::InvalidModule`], escaped and cut for the message.
pub(crate) fn checked_module(name: &str) -> Result<ModuleName, DeviceError> {
    ModuleName::parse(name).map_err(|_| DeviceError::InvalidModule {
        name: name.escape_debug().take(64).collect(),
    })
}

/// Validates every module name; the first bad one gives [`DeviceError::InvalidModule`].
/// Also rejects an empty list, more than 32 names, and duplicates.
pub fn validate_modules<S: AsRef<str>>(modules: &[S]) -> Result<Vec<String>, DeviceError> {
    if modules.is_empty() || modules.len() > ccaas_domain::submission::MAX_MODULES {
        return Err(DeviceError::InvalidModule {
            name: format!("<{} modules; 1 to 32 allowed>", modules.len()),
        });
    }
    let mut out: Vec<String> = Vec::with_capacity(modules.len());
    for m in modules {
        let m = checked_module(m.as_ref())?;
        if out.iter().any(|o| o == m.as_str()) {
            return Err(DeviceError::InvalidModule {
                name: format!("{} (duplicate)", m.as_str()),
            });
        }
        out.push(m.as_str().to_owned());
    }
    Ok(out)
}

/// Checks an absolute device path from a profile: `[A-Za-z0-9/._-]` only, absolute, no `..`
/// component, no empty component other than the leading one.
pub fn is_safe_path(p: &str) -> bool {
    p.starts_with('/')
        && p.len() <= 1024
        && p.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'.' | b'_' | b'-'))
        && p.split('/')
            .skip(1)
            .all(|c| !c.is_empty() && c != ".." && c != ".")
}

/// Single-quotes a string for a POSIX shell. Only used on already-validated text, as a second
/// line of defence.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_module_name_is_invalid_module_with_its_text_escaped() {
        let e = checked_module("tmm\n;id").unwrap_err();
        assert_eq!(e.code(), "invalid_module");
        assert!(
            e.to_string().contains("tmm") && !e.to_string().contains('\n'),
            "{e}"
        );
        assert_eq!(checked_module("tmm").unwrap().as_str(), "tmm");
    }

    #[test]
    fn a_module_list_must_be_non_empty_unique_and_at_most_32_long() {
        assert!(validate_modules::<&str>(&[]).is_err());
        assert!(validate_modules(&["tmm", "tmm"]).is_err());
        let many: Vec<String> = (0..33).map(|i| format!("m{i}")).collect();
        assert!(validate_modules(&many).is_err());
        assert_eq!(validate_modules(&["tmm", "mcpd"]).unwrap(), ["tmm", "mcpd"]);
    }

    #[test]
    fn profile_paths_must_be_plain_absolute_paths() {
        assert!(is_safe_path("/shared/gcov"));
        assert!(is_safe_path("/tmp/bigip-sim-2222/VERSION"));
        for bad in [
            "shared", "/a/../b", "/a//b", "/a/./b", "/a b", "/a;b", "/a'b", "/$x", "/",
        ] {
            assert!(!is_safe_path(bad), "{bad}");
        }
    }

    #[test]
    fn shell_quoting_keeps_single_quotes_inert() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
    }
}
