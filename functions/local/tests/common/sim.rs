//! The real BIG-IP simulator (`ccaas_testkit::Sim`) and gcov's own line counts, for live-stack
//! tests.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

#[allow(unused_imports)] // not every test binary starts a simulator
pub use ccaas_testkit::Sim;
use serde_json::Value;

/// Runs gcov itself on one `.gcda` (its notes beside it) and adds each instrumented line's
/// count to `lines`, keyed by (file, line). Relative file names (`simd.c` is built into both
/// daemons) are joined to the unit's build directory, as the engine does.
pub fn add_gcov_lines(gcda: &Path, lines: &mut HashMap<(String, u64), u64>) {
    let o = Command::new("gcov")
        .args(["--json-format", "--stdout"])
        .arg(gcda.file_name().expect("a file"))
        .current_dir(gcda.parent().expect("a directory"))
        .output()
        .expect("gcov runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("gcov JSON");
        let cwd = v["current_working_directory"].as_str().unwrap_or("");
        for f in v["files"].as_array().expect("files") {
            let name = f["file"].as_str().expect("file");
            let file = if name.starts_with('/') {
                name.to_string()
            } else {
                format!("{cwd}/{name}")
            };
            for l in f["lines"].as_array().expect("lines") {
                let n = l["line_number"].as_u64().expect("line_number");
                *lines.entry((file.clone(), n)).or_insert(0) += l["count"].as_u64().expect("count");
            }
        }
    }
}

/// One object's bytes (panics naming the key when it cannot be read).
pub async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key}: {e}"))
        .body
        .collect()
        .await
        .expect("body")
        .to_vec()
}

/// Unpacks the archive and asks gcov itself: `(covered, total)` instrumented lines, each
/// (file, line) counted once with its counts summed over translation units.
pub fn gcov_lines(archive: &[u8], dir: &Path) -> (u64, u64) {
    let gz = flate2::read::GzDecoder::new(archive);
    tar::Archive::new(gz).unpack(dir).expect("unpack");
    let mut lines: HashMap<(String, u64), u64> = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "gcda") {
                add_gcov_lines(&p, &mut lines);
            }
        }
    }
    let covered = lines.values().filter(|c| **c > 0).count() as u64;
    (covered, lines.len() as u64)
}
