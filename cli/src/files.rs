//! The command line's one directory walk: the regular files under a directory that a filter
//! accepts. Symbolic links are never followed, so nothing outside the directory is read.

use std::fs;
use std::path::{Path, PathBuf};

/// Every regular file under `dir` that `want` accepts, with its length. Errors name the path
/// that could not be read.
pub fn regular_files(
    dir: &Path,
    want: impl Fn(&Path) -> bool,
) -> Result<Vec<(PathBuf, u64)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            let p = entry.path();
            let ft = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", p.display()))?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && want(&p) {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((p, len));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_finds_nested_files_the_filter_takes_and_never_follows_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/x.gcno"), b"12").unwrap();
        std::fs::write(dir.path().join("a/y.gcda"), b"1").unwrap();
        std::fs::write(dir.path().join("a/z.txt"), b"1").unwrap();
        std::fs::write(outside.path().join("far.gcno"), b"1").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let mut got = regular_files(dir.path(), |p| {
            p.extension().is_some_and(|e| e == "gcno" || e == "gcda")
        })
        .unwrap();
        got.sort();
        assert_eq!(
            got,
            [
                (dir.path().join("a/b/x.gcno"), 2),
                (dir.path().join("a/y.gcda"), 1)
            ]
        );
        let e = regular_files(&dir.path().join("missing"), |_| true).unwrap_err();
        assert!(e.contains("missing"), "{e}");
    }
}
