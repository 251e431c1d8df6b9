//! The in-memory report site keeps the `ReportSite` contract: names checked before anything
//! is written, the report's index.html last, one listing per report, newest first.

use ccaas_app::Error;
use ccaas_app::memory::MemorySite;
use ccaas_app::ports::{ReportSite, SiteFile, SiteTotals};
use ccaas_domain::TaskId;

fn file(name: &str) -> SiteFile {
    SiteFile {
        name: name.into(),
        bytes: name.as_bytes().to_vec(),
        content_type: "text/html".into(),
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
    site.publish(&id, files, totals(3)).await.unwrap();
    let order = site.write_order();
    assert_eq!(
        order,
        vec![
            format!("reports/{id}/f/0.html"),
            format!("reports/{id}/report.css"),
            format!("reports/{id}/index.html"),
            "index.html".to_string(),
        ]
    );
}

#[tokio::test]
async fn unsafe_names_or_a_missing_index_write_nothing() {
    let site = MemorySite::default();
    let id = TaskId::from_parts(1, 1);
    for bad in ["../x", "", "a//b", "/abs", "a b", "x\n", "./y"] {
        let r = site
            .publish(&id, vec![file("index.html"), file(bad)], totals(1))
            .await;
        assert!(matches!(r, Err(Error::Corrupt(_))), "{bad:?}");
    }
    let r = site.publish(&id, vec![file("f/0.html")], totals(1)).await;
    assert!(matches!(r, Err(Error::Corrupt(_))));
    assert!(site.objects().is_empty());
    assert_eq!(site.index_writes(), 0);
}

#[tokio::test]
async fn republishing_lists_a_report_once_and_the_list_is_newest_first() {
    let site = MemorySite::default();
    let old = TaskId::from_parts(1_000, 5);
    let new = TaskId::from_parts(2_000, 1);
    site.publish(&new, vec![file("index.html")], totals(1))
        .await
        .unwrap();
    site.publish(&old, vec![file("index.html")], totals(2))
        .await
        .unwrap();
    site.publish(&old, vec![file("index.html")], totals(4))
        .await
        .unwrap();
    let listed = site.reports().await.unwrap();
    assert_eq!(listed, vec![(new, totals(1)), (old, totals(4))]);
    assert_eq!(site.index_writes(), 3);
}

#[tokio::test]
async fn an_outage_mid_upload_leaves_the_report_unlinked() {
    let site = MemorySite::default();
    let id = TaskId::from_parts(1, 1);
    site.fail_after(Some(1));
    let files = vec![file("index.html"), file("f/0.html"), file("f/1.html")];
    assert!(site.publish(&id, files.clone(), totals(1)).await.is_err());
    assert!(
        !site
            .objects()
            .contains_key(&format!("reports/{id}/index.html"))
    );
    assert!(site.reports().await.unwrap().is_empty());
    site.fail_after(None);
    site.publish(&id, files, totals(1)).await.unwrap();
    assert!(
        site.objects()
            .contains_key(&format!("reports/{id}/index.html"))
    );
}
