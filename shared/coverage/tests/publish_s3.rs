//! The publishing use case over `S3Site` against a real emulator (a private moto_server
//! started through `localstack/up`):
//! a rendered report is uploaded under `reports/<id>/` with its content types and cache
//! headers, the site index lists every report newest first with its totals, republishing
//! replaces, and unsafe names write nothing.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::Error;
use ccaas_app::ports::SiteTotals;
use ccaas_coverage::publish::{publish, reports};
use ccaas_domain::TaskId;
use ccaas_gcov::{Coverage, FileCoverage, FunctionCoverage, LineCoverage};
use ccaas_report::OutFile;
use ccaas_s3::S3Site;
use ccaas_testkit::Emulator;

fn site(emu: &Emulator) -> S3Site {
    S3Site::new(emu.s3(), emu.var("CCAAS_BUCKET"))
}

async fn keys(emu: &Emulator) -> Vec<String> {
    let out = emu
        .s3()
        .list_objects_v2()
        .bucket(emu.var("CCAAS_BUCKET"))
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect()
}

async fn get(emu: &Emulator, key: &str) -> (String, String, String) {
    let o = emu
        .s3()
        .get_object()
        .bucket(emu.var("CCAAS_BUCKET"))
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key}: {e:?}"));
    let ct = o.content_type().unwrap_or("").to_string();
    let cc = o.cache_control().unwrap_or("").to_string();
    let body = o.body.collect().await.unwrap().to_vec();
    (ct, cc, String::from_utf8_lossy(&body).into_owned())
}

fn rendered() -> (Vec<OutFile>, SiteTotals) {
    let mut fc = FileCoverage {
        lines: vec![
            LineCoverage {
                line: 1,
                count: 2,
                branches: (0, 2),
                unexecuted_block: false,
            },
            LineCoverage {
                line: 2,
                count: 0,
                branches: (0, 0),
                unexecuted_block: false,
            },
        ],
        branches: vec![1, 0],
        functions: vec![FunctionCoverage {
            name: "main".into(),
            start_line: 1,
            start_column: 0,
            end_line: 2,
            end_column: 0,
            count: 1,
        }],
        totals: Default::default(),
    };
    fc.compute_totals();
    let mut cov = Coverage::default();
    cov.files.insert("src/a.c".into(), fc.clone());
    cov.files
        .insert("src/sub/<script>alert(1)</script>.c".into(), fc);
    cov.compute_totals();
    let files = ccaas_report::render(&cov, &ccaas_report::Options::default(), &|_: &str| {
        Some(b"int main() {\n  return 0;\n}\n".to_vec())
    });
    let t = cov.totals;
    let totals = SiteTotals {
        lines: (t.lines.hit, t.lines.total),
        functions: (t.functions.hit, t.functions.total),
        branches: (t.branches.hit, t.branches.total),
    };
    (files, totals)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_report_is_served_with_its_content_types_and_cache_headers() {
    let emu = Emulator::private();
    let site = site(&emu);
    let id = TaskId::from_parts(1_764_417_300_000, 7);
    let (files, totals) = rendered();
    publish(&site, &id, files.clone(), totals).await.unwrap();

    for f in &files {
        let (ct, cc, body) = get(&emu, &format!("reports/{id}/{}", f.path)).await;
        assert_eq!(ct, f.content_type, "{}", f.path);
        let want_cc = if f.path == "index.html" {
            "no-cache"
        } else {
            "public, max-age=300"
        };
        assert_eq!(cc, want_cc, "{}", f.path);
        assert_eq!(body.as_bytes(), &f.bytes[..], "{}", f.path);
    }
    // Keys come from the task id and the renderer's numbered names only.
    for k in keys(&emu).await {
        assert!(
            k == "index.html"
                || k.starts_with(&format!("reports/{id}/"))
                || k.starts_with(&format!("site/reports/{id}/")),
            "unexpected key {k}"
        );
        assert!(!k.contains('<') && !k.contains("script"), "{k}");
    }
    let (ct, cc, index) = get(&emu, "index.html").await;
    assert_eq!(ct, "text/html; charset=utf-8");
    assert_eq!(cc, "no-cache");
    assert!(index.contains(&format!("href=\"reports/{id}/index.html\"")));
    assert!(index.contains("2025-11-29 11:55 UTC"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_index_lists_every_report_once_newest_first_with_its_latest_totals() {
    let emu = Emulator::private();
    let site = site(&emu);
    let (files, totals) = rendered();
    let old = TaskId::from_parts(1_700_000_000_000, 1);
    let new = TaskId::from_parts(1_760_000_000_000, 2);
    publish(&site, &old, files.clone(), totals).await.unwrap();
    publish(&site, &new, files.clone(), totals).await.unwrap();
    let other = SiteTotals {
        lines: (9, 10),
        functions: (1, 1),
        branches: (0, 0),
    };
    publish(&site, &old, files, other).await.unwrap();

    assert_eq!(
        reports(&site).await.unwrap(),
        vec![(new.clone(), totals), (old.clone(), other)]
    );
    let (_, _, index) = get(&emu, "index.html").await;
    let (pn, po) = (
        index.find(&new.to_string()).expect("new listed"),
        index.find(&old.to_string()).expect("old listed"),
    );
    assert!(pn < po, "newest first");
    assert_eq!(
        index.matches(&format!("reports/{old}/index.html")).count(),
        1
    );
    assert!(
        index.contains("9 / 10"),
        "latest totals of the republished report"
    );
    assert!(index.contains("90.0%"));
    let records = keys(&emu)
        .await
        .into_iter()
        .filter(|k| k.starts_with(&format!("site/reports/{old}/")))
        .count();
    assert_eq!(records, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_names_and_reports_without_an_index_write_nothing() {
    let emu = Emulator::private();
    let site = site(&emu);
    let id = TaskId::from_parts(1_764_417_300_000, 9);
    let (files, totals) = rendered();
    for bad in [
        "../index.html",
        "/etc/passwd",
        "a/../../b",
        "a b.html",
        "x\u{0}.html",
    ] {
        let mut with_bad = files.clone();
        with_bad.push(OutFile {
            path: bad.into(),
            bytes: b"x".to_vec(),
            content_type: "text/html",
        });
        let r = publish(&site, &id, with_bad, totals).await;
        assert!(matches!(r, Err(Error::Corrupt(_))), "{bad:?}: {r:?}");
    }
    let no_index: Vec<OutFile> = files
        .into_iter()
        .filter(|f| f.path != "index.html")
        .collect();
    let r = publish(&site, &id, no_index, totals).await;
    assert!(matches!(r, Err(Error::Corrupt(_))));
    assert_eq!(keys(&emu).await, Vec::<String>::new());
}
