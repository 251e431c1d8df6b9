//! Publishing reports on the site: what goes under which key, in which order, with which
//! Cache-Control, and the site-wide `index.html` made from one record per report. The bucket
//! itself is the [`ReportSite`] port (put, list, delete).
//!
//! Each published report is recorded as one empty object whose key holds the task id and the
//! six totals (`site/reports/<id>/<lh>-<lt>-<fh>-<ft>-<bh>-<bt>`), so one listing gives
//! everything the site index shows, with no read-modify-write of a shared object. Keys are made
//! from the task id, numbers and checked file names only.

use ccaas_app::Error;
use ccaas_app::ports::{ReportSite, SiteTotals, is_site_file_name};
use ccaas_domain::TaskId;
use ccaas_gcov::{Counter, Totals};
use ccaas_report::{OutFile, SiteEntry};
use futures_util::{StreamExt, TryStreamExt};

/// Where the records of published reports live (private: the bucket policy makes only
/// `index.html`, `console/` and `reports/` public).
pub const RECORDS: &str = "site/reports/";
/// Uploads in flight at once for one report.
const PARALLEL_UPLOADS: usize = 16;
/// Cache-Control of report pages, styles and data: short, because a report may be re-rendered
/// from its raw data under the same id.
pub const CACHE_PAGES: &str = "public, max-age=300";
/// Cache-Control of every `index.html` (the report's and the site's): always revalidated, so
/// a new or re-published report shows at once.
pub const CACHE_INDEX: &str = "no-cache";
/// Cache-Control of the private records.
const CACHE_RECORD: &str = "no-store";

/// A report file to upload: its name, content type and bytes, read only when it is uploaded
/// (so a report on scratch disk is in memory a few files at a time).
pub trait SiteFile: Send {
    /// Its path inside the report.
    fn name(&self) -> &str;
    /// Its HTTP content type.
    fn content_type(&self) -> &'static str;
    /// Its bytes. Errors: [`Error::Unavailable`] when they cannot be read (a scratch disk
    /// error; a retry renders again).
    fn into_bytes(self) -> Result<Vec<u8>, Error>;
}

impl SiteFile for OutFile {
    fn name(&self) -> &str {
        &self.path
    }

    fn content_type(&self) -> &'static str {
        self.content_type
    }

    fn into_bytes(self) -> Result<Vec<u8>, Error> {
        Ok(self.bytes)
    }
}

impl SiteFile for crate::render::ReportFile {
    fn name(&self) -> &str {
        &self.path
    }

    fn content_type(&self) -> &'static str {
        self.content_type
    }

    fn into_bytes(self) -> Result<Vec<u8>, Error> {
        self.bytes().map_err(|e| Error::Unavailable {
            backend: "scratch disk",
            source: Box::new(e),
        })
    }
}

/// The key of a report file.
pub fn report_key(id: &TaskId, name: &str) -> String {
    format!("reports/{id}/{name}")
}

/// The record key of a published report.
pub fn record_key(id: &TaskId, t: &SiteTotals) -> String {
    format!(
        "{RECORDS}{id}/{}-{}-{}-{}-{}-{}",
        t.lines.0, t.lines.1, t.functions.0, t.functions.1, t.branches.0, t.branches.1
    )
}

/// Parses a record key; `None` for anything [`record_key`] did not make.
pub fn parse_record(key: &str) -> Option<(TaskId, SiteTotals)> {
    let rest = key.strip_prefix(RECORDS)?;
    let (id, nums) = rest.split_once('/')?;
    let id = TaskId::parse(id)?;
    let n: Vec<u64> = nums
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [lh, lt, fh, ft, bh, bt] = n[..] else {
        return None;
    };
    Some((
        id,
        SiteTotals {
            lines: (lh, lt),
            functions: (fh, ft),
            branches: (bh, bt),
        },
    ))
}

/// The Cache-Control of a report file.
pub fn cache_control(name: &str) -> &'static str {
    if name == "index.html" {
        CACHE_INDEX
    } else {
        CACHE_PAGES
    }
}

/// Publishes the report of task `id`: uploads every file under `reports/<id>/`, the report's
/// `index.html` last (so a half-written report is never linked), records `totals`, then
/// rewrites the site-wide `index.html`. Idempotent: publishing again replaces the same objects
/// and the report is listed once, with the last totals.
///
/// Errors: [`Error::Corrupt`] when a name fails [`is_site_file_name`] or there is no
/// `index.html` (then nothing is written); [`Error::Unavailable`] (the report may be partly
/// uploaded but is not linked; a retry completes it).
pub async fn publish<P: ReportSite, F: SiteFile>(
    site: &P,
    id: &TaskId,
    files: Vec<F>,
    totals: SiteTotals,
) -> Result<(), Error> {
    if let Some(f) = files.iter().find(|f| !is_site_file_name(f.name())) {
        return Err(Error::Corrupt(format!(
            "report file name {:?} is not allowed",
            f.name()
        )));
    }
    if !files.iter().any(|f| f.name() == "index.html") {
        return Err(Error::Corrupt("the report has no index.html".into()));
    }
    let (index, rest): (Vec<F>, Vec<F>) = files.into_iter().partition(|f| f.name() == "index.html");
    // Everything but index.html, PARALLEL_UPLOADS at a time; index.html only once all of them
    // are in, so the report is never linked half-written. Each file's bytes are read when its
    // upload starts.
    futures_util::stream::iter(rest.into_iter().map(|f| async move {
        let key = report_key(id, f.name());
        let (content_type, cache) = (f.content_type(), cache_control(f.name()));
        site.put(&key, f.into_bytes()?, content_type, cache).await
    }))
    .buffer_unordered(PARALLEL_UPLOADS)
    .try_collect::<Vec<()>>()
    .await?;
    for f in index {
        let key = report_key(id, f.name());
        let content_type = f.content_type();
        site.put(&key, f.into_bytes()?, content_type, CACHE_INDEX)
            .await?;
    }
    // The record: the new one first, then any older one of the same id (other totals), so the
    // report is listed at every moment.
    let record = record_key(id, &totals);
    site.put(
        &record,
        Vec::new(),
        "application/octet-stream",
        CACHE_RECORD,
    )
    .await?;
    for old in site.list(&format!("{RECORDS}{id}/")).await? {
        if old != record {
            site.delete(&old).await?;
        }
    }
    refresh_index(site).await
}

/// Every published report with its totals, newest first. Read-only.
/// Errors: [`Error::Unavailable`].
pub async fn reports<P: ReportSite>(site: &P) -> Result<Vec<(TaskId, SiteTotals)>, Error> {
    let mut out: Vec<(TaskId, SiteTotals)> = site
        .list(RECORDS)
        .await?
        .iter()
        .filter_map(|k| parse_record(k))
        .collect();
    // Newest first; a report caught between its new and old record shows once.
    out.sort_by(|a, b| b.0.cmp(&a.0));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// Rewrites the site-wide `index.html` from the records. Idempotent.
/// Errors: [`Error::Unavailable`].
pub async fn refresh_index<P: ReportSite>(site: &P) -> Result<(), Error> {
    // Two publishers racing could each write an index from a listing that misses the other's
    // report; re-listing after the write and writing again until the listing is stable makes
    // the last writer's index complete.
    let mut listed = reports(site).await?;
    for _ in 0..3 {
        let entries: Vec<SiteEntry> = listed.iter().map(|(id, t)| entry(id, t)).collect();
        site.put(
            "index.html",
            ccaas_report::site_index(&entries),
            ccaas_report::HTML,
            CACHE_INDEX,
        )
        .await?;
        let again = reports(site).await?;
        if again == listed {
            break;
        }
        listed = again;
    }
    Ok(())
}

/// Where each device's published reports are recorded, one empty object per report
/// (`site/latest/<device>/<task-id>`, private), so the stable link can find the newest.
pub const LATEST_RECORDS: &str = "site/latest/";

/// A device as a path segment of its stable link: `<host>_<port>`, with an IPv6 address's
/// colons written as `-` (`127.0.0.1_2222`, `fd00--1_22`). `None` for a host with other
/// characters than a canonical one has (lower-case letters, digits, `.`, `-`, `:`).
pub fn device_slug(host: &str, port: u16) -> Option<String> {
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b));
    ok.then(|| format!("{}_{port}", host.replace(':', "-")))
}

/// The key of a device's stable link page: `reports/latest/<slug>/index.html` (public, like
/// every report).
pub fn latest_key(slug: &str) -> String {
    format!("reports/latest/{slug}/index.html")
}

/// Points the stable link of device `host:port` at its newest published report: records
/// `id` for the device, then rewrites the link page to the newest recorded report (so
/// re-publishing an older report never moves the link back), then drops older records.
/// Call it after [`publish`]. Idempotent.
///
/// Errors: [`Error::Corrupt`] for a host no canonical device has (nothing is written);
/// [`Error::Unavailable`].
pub async fn publish_latest<P: ReportSite>(
    site: &P,
    host: &str,
    port: u16,
    id: &TaskId,
) -> Result<(), Error> {
    let slug = device_slug(host, port)
        .ok_or_else(|| Error::Corrupt(format!("device host {host:?} is not canonical")))?;
    let prefix = format!("{LATEST_RECORDS}{slug}/");
    site.put(
        &format!("{prefix}{id}"),
        Vec::new(),
        "application/octet-stream",
        CACHE_RECORD,
    )
    .await?;
    // As with the site index: two publishers of one device (a re-render beside a new end)
    // re-list after writing until the listing is stable, so the last writer's page names the
    // newest report.
    let mut newest = newest_recorded(site, &prefix).await?;
    for _ in 0..3 {
        let Some(top) = &newest else { break };
        site.put(
            &latest_key(&slug),
            ccaas_report::latest_page(top.as_str()),
            ccaas_report::HTML,
            CACHE_INDEX,
        )
        .await?;
        let again = newest_recorded(site, &prefix).await?;
        if again == newest {
            break;
        }
        newest = again;
    }
    if let Some(top) = &newest {
        for key in site.list(&prefix).await? {
            if key.strip_prefix(&prefix) < Some(top.as_str()) {
                site.delete(&key).await?;
            }
        }
    }
    Ok(())
}

/// The newest task id recorded under `prefix`.
async fn newest_recorded<P: ReportSite>(site: &P, prefix: &str) -> Result<Option<TaskId>, Error> {
    Ok(site
        .list(prefix)
        .await?
        .iter()
        .filter_map(|k| k.strip_prefix(prefix).and_then(TaskId::parse))
        .max())
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time in milliseconds.
fn utc(ms: u64) -> String {
    ccaas_domain::UtcTime::from_unix_ms(ms).minutes()
}

fn entry(id: &TaskId, t: &SiteTotals) -> SiteEntry {
    let c = |(hit, total): (u64, u64)| Counter { hit, total };
    SiteEntry {
        id: id.to_string(),
        when: Some(utc(id.unix_ms())),
        totals: Totals {
            lines: c(t.lines),
            functions: c(t.functions),
            branches: c(t.branches),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_key_parses_back_to_its_id_and_totals() {
        let id = TaskId::from_parts(1_764_000_000_000, 42);
        let t = SiteTotals {
            lines: (1, 2),
            functions: (3, 4),
            branches: (5, u64::MAX),
        };
        let k = record_key(&id, &t);
        assert!(k.starts_with(&format!("site/reports/{id}/")));
        assert_eq!(parse_record(&k), Some((id, t)));
    }

    #[test]
    fn foreign_or_malformed_record_keys_are_ignored() {
        for k in [
            "site/reports/x/1-2-3-4-5-6",
            "site/reports/01ARZ3NDEKTSV4RRFFQ69G5FAV/1-2-3",
            "site/reports/01ARZ3NDEKTSV4RRFFQ69G5FAV/1-2-3-4-5-x",
            "site/reports/01ARZ3NDEKTSV4RRFFQ69G5FAV/1-2-3-4-5-6-7",
            "reports/01ARZ3NDEKTSV4RRFFQ69G5FAV/1-2-3-4-5-6",
        ] {
            assert_eq!(parse_record(k), None, "{k}");
        }
    }

    #[test]
    fn unix_times_format_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_764_417_300_000), "2025-11-29 11:55 UTC");
    }

    #[test]
    fn only_index_pages_are_revalidated_on_every_request() {
        assert_eq!(cache_control("index.html"), CACHE_INDEX);
        assert_eq!(cache_control("f/1.html"), CACHE_PAGES);
        assert_eq!(cache_control("d/index.html"), CACHE_PAGES);
    }
}
