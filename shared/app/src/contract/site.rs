//! The [`ReportSite`] contract: a plain object store. Puts replace, listing is by prefix, in
//! byte order, across pages, and deletes are idempotent.

use super::{fresh_token, ok, same};
use crate::ports::ReportSite;

/// Runs every check on `site`. `many` keys are listed in one call (past S3's 1000-key page).
pub async fn run<P: ReportSite>(site: &P, many: usize) {
    let c = "objects put under a prefix are listed in order and a delete removes one";
    let p = format!("reports/{}/", fresh_token());
    same(
        c,
        "empty prefix",
        ok(c, "list", site.list(&p).await),
        Vec::<String>::new(),
    );
    for (k, body) in [("index.html", "a"), ("f/0.html", "b"), ("index.html", "c")] {
        ok(
            c,
            "put",
            site.put(&format!("{p}{k}"), body.into(), "text/html", "no-cache")
                .await,
        );
    }
    // A neighbour that shares the prefix's text but not its directory.
    let neighbour = format!("{}-x/index.html", p.trim_end_matches('/'));
    ok(
        c,
        "put",
        site.put(&neighbour, vec![], "text/html", "no-cache").await,
    );
    same(
        c,
        "listing",
        ok(c, "list", site.list(&p).await),
        vec![format!("{p}f/0.html"), format!("{p}index.html")],
    );
    ok(c, "delete", site.delete(&format!("{p}index.html")).await);
    ok(
        c,
        "delete again",
        site.delete(&format!("{p}index.html")).await,
    );
    ok(
        c,
        "delete a key never written",
        site.delete(&format!("{p}nope")).await,
    );
    same(
        c,
        "after delete",
        ok(c, "list", site.list(&p).await),
        vec![format!("{p}f/0.html")],
    );
    ok(c, "delete neighbour", site.delete(&neighbour).await);

    let c = "a listing returns every key across pages";
    let p = format!("site/reports/{}/", fresh_token());
    let mut want: Vec<String> = (0..many).map(|i| format!("{p}{i:05}")).collect();
    for k in &want {
        ok(
            c,
            "put",
            site.put(k, vec![], "application/octet-stream", "no-store")
                .await,
        );
    }
    want.sort();
    let got = ok(c, "list", site.list(&p).await);
    same(c, "count", got.len(), many);
    same(c, "keys", got, want);
}
