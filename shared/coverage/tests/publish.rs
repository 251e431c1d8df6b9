//! The publishing use case on the in-memory site: names checked before anything is written,
//! the report's index.html last, then its record, then the site index; one listing per
//! report, newest first; an outage mid-upload leaves the report unlinked.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccaas_app::Error;
use ccaas_app::memory::MemorySite;
use ccaas_app::ports::SiteTotals;
use ccaas_coverage::publish::{CACHE_INDEX, CACHE_PAGES, publish, record_key, reports};
use ccaas_domain::TaskId;
use ccaas_report::OutFile;

fn file(name: &str) -> OutFile {
    OutFile {
        path: name.into(),
        bytes: name.as_bytes().to_vec(),
        content_type: "text/html",
    }
}

fn totals(n: u64) -> SiteTotals {
    SiteTotals {
        lines: (n, 10),
        ..SiteTotals::default()
    }
}

#[tokio::test]
async fn the_report_index_is_written_after_every_other_file_and_then_the_site_index() {
    let site = MemorySite::default();
    let id = TaskId::from_parts(1, 1);
    let files = vec![file("index.html"), file("f/0.html"), file("report.css")];
    publish(&site, &id, files, totals(3)).await.unwrap();
    let order = site.write_order();
    // The pages go up in parallel, in any order; then the report's index, its record, and the
    // site index, in that order.
    let mut pages = order[..2].to_vec();
    pages.sort();
    assert_eq!(
        pages,
        vec![
            format!("reports/{id}/f/0.html"),
            format!("reports/{id}/report.css"),
        ]
    );
    assert_eq!(
        order[2..],
        [
            format!("reports/{id}/index.html"),
            record_key(&id, &totals(3)),
            "index.html".to_string(),
        ]
    );
    let (_, ty, cache) = site.object(&format!("reports/{id}/f/0.html")).unwrap();
    assert_eq!((ty.as_str(), cache.as_str()), ("text/html", CACHE_PAGES));
    let (index, ty, cache) = site.object("index.html").unwrap();
    assert_eq!(
        (ty.as_str(), cache.as_str()),
        ("text/html; charset=utf-8", CACHE_INDEX)
    );
    let index = String::from_utf8(index).unwrap();
    assert!(
        index.contains(&format!("reports/{id}/index.html")),
        "{index}"
    );
}

#[tokio::test]
async fn unsafe_names_or_a_missing_index_write_nothing() {
    let site = MemorySite::default();
    let id = TaskId::from_parts(1, 1);
    for bad in ["../x", "", "a//b", "/abs", "a b", "x\n", "./y"] {
        let r = publish(&site, &id, vec![file("index.html"), file(bad)], totals(1)).await;
        assert!(matches!(r, Err(Error::Corrupt(_))), "{bad:?}");
    }
    let r = publish(&site, &id, vec![file("f/0.html")], totals(1)).await;
    assert!(matches!(r, Err(Error::Corrupt(_))));
    assert!(site.objects().is_empty());
    assert_eq!(site.index_writes(), 0);
}

#[tokio::test]
async fn republishing_lists_a_report_once_and_the_list_is_newest_first() {
    let site = MemorySite::default();
    let old = TaskId::from_parts(1_000, 5);
    let new = TaskId::from_parts(2_000, 1);
    publish(&site, &new, vec![file("index.html")], totals(1))
        .await
        .unwrap();
    publish(&site, &old, vec![file("index.html")], totals(2))
        .await
        .unwrap();
    publish(&site, &old, vec![file("index.html")], totals(4))
        .await
        .unwrap();
    let listed = reports(&site).await.unwrap();
    assert_eq!(listed, vec![(new, totals(1)), (old, totals(4))]);
    assert_eq!(site.index_writes(), 3);
}

#[tokio::test]
async fn an_outage_mid_upload_leaves_the_report_unlinked() {
    let site = MemorySite::default();
    let id = TaskId::from_parts(1, 1);
    site.fail_after(Some(1));
    let files = vec![file("index.html"), file("f/0.html"), file("f/1.html")];
    assert!(publish(&site, &id, files.clone(), totals(1)).await.is_err());
    assert!(
        !site
            .objects()
            .contains_key(&format!("reports/{id}/index.html"))
    );
    assert!(reports(&site).await.unwrap().is_empty());
    site.fail_after(None);
    publish(&site, &id, files, totals(1)).await.unwrap();
    assert!(
        site.objects()
            .contains_key(&format!("reports/{id}/index.html"))
    );
}

mod latest {
    use super::*;
    use ccaas_coverage::publish::{device_slug, latest_key, publish_latest};

    fn target(site: &MemorySite, slug: &str) -> String {
        let (page, ty, cache) = site.object(&latest_key(slug)).unwrap();
        assert_eq!(
            (ty.as_str(), cache.as_str()),
            ("text/html; charset=utf-8", CACHE_INDEX)
        );
        let page = String::from_utf8(page).unwrap();
        let at = page.find("url=../../").unwrap() + "url=../../".len();
        page[at..at + 26].to_string()
    }

    #[test]
    fn devices_become_path_segments_and_odd_hosts_none() {
        assert_eq!(
            device_slug("127.0.0.1", 2222).as_deref(),
            Some("127.0.0.1_2222")
        );
        assert_eq!(device_slug("fd00::1", 22).as_deref(), Some("fd00--1_22"));
        assert_eq!(
            device_slug("bigip-7.lab", 22).as_deref(),
            Some("bigip-7.lab_22")
        );
        for bad in ["", "../x", "a/b", "UPPER", "a b", "x\n"] {
            assert_eq!(device_slug(bad, 22), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_stable_link_follows_the_newest_report_and_never_moves_back() {
        let site = MemorySite::default();
        let (old, new) = (TaskId::from_parts(1_000, 1), TaskId::from_parts(2_000, 1));
        publish_latest(&site, "127.0.0.1", 2222, &old)
            .await
            .unwrap();
        assert_eq!(target(&site, "127.0.0.1_2222"), old.to_string());
        publish_latest(&site, "127.0.0.1", 2222, &new)
            .await
            .unwrap();
        assert_eq!(target(&site, "127.0.0.1_2222"), new.to_string());
        // Re-publishing the older report (a re-render) leaves the link on the newest.
        publish_latest(&site, "127.0.0.1", 2222, &old)
            .await
            .unwrap();
        assert_eq!(target(&site, "127.0.0.1_2222"), new.to_string());
        // Another device has its own link; old records are dropped.
        publish_latest(&site, "127.0.0.1", 2223, &old)
            .await
            .unwrap();
        assert_eq!(target(&site, "127.0.0.1_2223"), old.to_string());
        let records: Vec<String> = site
            .objects()
            .into_keys()
            .filter(|k| k.starts_with("site/latest/127.0.0.1_2222/"))
            .collect();
        assert_eq!(records, vec![format!("site/latest/127.0.0.1_2222/{new}")]);
    }

    #[tokio::test]
    async fn an_odd_host_writes_nothing() {
        let site = MemorySite::default();
        let r = publish_latest(&site, "../x", 22, &TaskId::from_parts(1, 1)).await;
        assert!(matches!(r, Err(Error::Corrupt(_))));
        assert!(site.objects().is_empty());
    }
}
