//! The one rule for the paths inside the archives ccaas reads (the device's `gcda.tar.gz`, a
//! build's notes and sources): what a safe entry path is, spelled one way only.

/// The longest entry path accepted, in bytes.
pub const MAX_ENTRY_PATH: usize = 4096;

/// Checks an archive entry's path and returns it without the trailing `/` a directory entry
/// carries. A safe path is relative, `/`-separated, at most [`MAX_ENTRY_PATH`] bytes, free of
/// control characters, and every segment is a real name: no empty segment, no `.`, no `..`.
///
/// `.` and empty segments (`tmm/./a.gcda`, `tmm//a.gcda`) are refused rather than normalised:
/// each file then has exactly one spelling, so two entries can never land on the same key and
/// the device's check (at collect time) and the unpacking (at render time) cannot disagree on
/// where a file is. GNU tar writes none of them for the paths the device asks it for.
///
/// Errors: why the path is refused (a phrase to follow the path in a message).
pub fn entry_path(raw: &str) -> Result<&str, &'static str> {
    if raw.starts_with('/') || raw.starts_with('\\') {
        return Err("is absolute");
    }
    if raw.chars().any(char::is_control) {
        return Err("holds a control character");
    }
    let path = raw.strip_suffix('/').unwrap_or(raw);
    if path.is_empty() || raw.len() > MAX_ENTRY_PATH {
        return Err("is empty or too long");
    }
    for segment in path.split('/') {
        match segment {
            ".." => return Err("climbs out with '..'"),
            "" | "." => return Err("has an empty or '.' segment"),
            _ => {}
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_relative_paths_pass_and_a_directory_loses_its_slash() {
        assert_eq!(entry_path("tmm/a/b/tmm.gcda"), Ok("tmm/a/b/tmm.gcda"));
        assert_eq!(entry_path("tmm/"), Ok("tmm"));
        assert_eq!(entry_path("m/.hidden..x"), Ok("m/.hidden..x"));
    }

    #[test]
    fn a_dot_segment_is_refused_not_normalised() {
        assert_eq!(
            entry_path("tmm/./a.gcda"),
            Err("has an empty or '.' segment")
        );
        assert_eq!(
            entry_path("./tmm/a.gcda"),
            Err("has an empty or '.' segment")
        );
        assert_eq!(
            entry_path("tmm//a.gcda"),
            Err("has an empty or '.' segment")
        );
        assert_eq!(entry_path("tmm//"), Err("has an empty or '.' segment"));
    }

    #[test]
    fn paths_that_climb_out_or_are_absolute_are_refused() {
        for bad in ["../x", "tmm/../../etc/cron.d/x", "tmm/..", ".."] {
            assert_eq!(entry_path(bad), Err("climbs out with '..'"), "{bad}");
        }
        for bad in ["/etc/passwd", "\\x", "//x"] {
            assert_eq!(entry_path(bad), Err("is absolute"), "{bad}");
        }
    }

    #[test]
    fn empty_long_and_control_character_paths_are_refused() {
        assert!(entry_path("").is_err());
        assert!(entry_path("/").is_err());
        assert!(entry_path(&"a".repeat(MAX_ENTRY_PATH + 1)).is_err());
        assert!(entry_path(&"a".repeat(MAX_ENTRY_PATH)).is_ok());
        for bad in ["tmm/a\0b", "tmm/a\nb", "tmm/\u{7f}"] {
            assert_eq!(entry_path(bad), Err("holds a control character"), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn an_accepted_path_never_climbs_and_is_its_own_spelling(p in "[a-z./\\\\]{0,12}") {
            if let Ok(ok) = entry_path(&p) {
                prop_assert!(!ok.starts_with('/') && !ok.ends_with('/'));
                prop_assert!(ok.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
                prop_assert_eq!(entry_path(ok), Ok(ok));
            }
        }
    }
}
