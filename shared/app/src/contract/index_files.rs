//! The [`IndexFiles`] contract: nothing before a put; a file reads back as written with a
//! tag that changes when it is replaced; the listing names every file with its size, across
//! pages; a delete is idempotent; a download over the cap is refused.

use super::{fail, fresh_token, ok, same};
use crate::ports::{IndexFile, IndexFiles};

/// Runs every check on `files`, which must start empty (a fresh prefix). `many` files are
/// listed (pass more than one page of the store's listing).
pub async fn run<F: IndexFiles>(files: &F, many: usize) {
    let c = "index files read back with tags, list with sizes and delete idempotently";
    let dir = ok(c, "temp dir", tempdir());
    let local = dir.join("local");
    let back = dir.join("back");
    same(
        c,
        "empty listing",
        ok(c, "list", files.list().await),
        Vec::new(),
    );
    same(
        c,
        "no tag",
        ok(c, "tag", files.tag("meta.json").await),
        None,
    );
    same(
        c,
        "no file",
        ok(c, "get", files.get("meta.json", &back, 1 << 20).await),
        None,
    );
    if back.exists() {
        fail(c, "a get of an absent file wrote a local file");
    }
    ok(c, "write", std::fs::write(&local, b"{\"segments\":[]}"));
    ok(c, "put", files.put("meta.json", &local).await);
    let first = ok(c, "tag", files.tag("meta.json").await);
    let Some(first) = first else {
        fail(c, "no tag after a put")
    };
    let got = ok(c, "get", files.get("meta.json", &back, 1 << 20).await);
    same(c, "get's tag", got.as_deref(), Some(first.as_str()));
    same(
        c,
        "bytes back",
        ok(c, "read", std::fs::read(&back)),
        b"{\"segments\":[]}".to_vec(),
    );
    ok(c, "rewrite", std::fs::write(&local, b"{\"segments\":[1]}"));
    ok(c, "put again", files.put("meta.json", &local).await);
    let second = ok(c, "tag", files.tag("meta.json").await);
    if second.as_deref() == Some(first.as_str()) || second.is_none() {
        fail(
            c,
            format!("the tag did not change on a replace: {first} then {second:?}"),
        );
    }
    if files.get("meta.json", &back, 3).await.is_ok() {
        fail(c, "a download over the cap was not refused");
    }
    let mut names = vec!["meta.json".to_owned()];
    for i in 0..many {
        let name = format!("{}{i:05}.idx", fresh_token());
        ok(c, "write", std::fs::write(&local, vec![7u8; i % 3]));
        ok(c, "put", files.put(&name, &local).await);
        names.push(name);
    }
    names.sort();
    let listed = ok(c, "list", files.list().await);
    same(
        c,
        "every file listed once, in name order",
        listed.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        names.clone(),
    );
    let one: Vec<&IndexFile> = listed.iter().filter(|f| f.name == "meta.json").collect();
    same(c, "size", one.first().map(|f| f.size), Some(16));
    ok(c, "delete", files.delete("meta.json").await);
    ok(c, "delete again", files.delete("meta.json").await);
    same(
        c,
        "deleted",
        ok(c, "tag", files.tag("meta.json").await),
        None,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::io::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("ccaas-index-files-{}", fresh_token()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
