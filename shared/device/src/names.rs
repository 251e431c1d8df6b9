//! Validation of everything that reaches a device command line.

use crate::DeviceError;

/// Checks a module name against `^[a-z][a-z0-9_-]{0,31}$`.
pub fn is_valid_module(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// Validates every module name; the first bad one gives [`DeviceError::InvalidModule`].
/// Also rejects an empty list, more than 32 names, and duplicates.
pub fn validate_modules<S: AsRef<str>>(modules: &[S]) -> Result<Vec<String>, DeviceError> {
    if modules.is_empty() || modules.len() > 32 {
        return Err(DeviceError::InvalidModule {
            name: format!("<{} modules; 1 to 32 allowed>", modules.len()),
        });
    }
    let mut out: Vec<String> = Vec::with_capacity(modules.len());
    for m in modules {
        let m = m.as_ref();
        if !is_valid_module(m) {
            return Err(DeviceError::InvalidModule {
                name: m.escape_debug().take(64).collect(),
            });
        }
        if out.iter().any(|o| o == m) {
            return Err(DeviceError::InvalidModule {
                name: format!("{m} (duplicate)"),
            });
        }
        out.push(m.to_string());
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
    fn module_names_follow_the_pattern_exactly() {
        for ok in [
            "tmm",
            "mcpd",
            "a",
            "bd-2",
            "a_b",
            &format!("a{}", "b".repeat(31)),
        ] {
            assert!(is_valid_module(ok), "{ok}");
        }
        for bad in [
            "",
            "Tmm",
            "1tmm",
            "-tmm",
            "tmm;id",
            "tmm ",
            "tm/m",
            "tmm\n",
            "ţmm",
            &format!("a{}", "b".repeat(32)),
            "$(id)",
            "`id`",
        ] {
            assert!(!is_valid_module(bad), "{bad:?}");
        }
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
