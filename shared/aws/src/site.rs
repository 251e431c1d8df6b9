//! The public report site in the S3 bucket behind [`ReportSite`]: `reports/<task-id>/...`,
//! the site-wide `index.html`, and the private `site/reports/` records it is made from.
//!
//! Each published report is recorded as one empty object whose key holds the task id and the
//! six totals (`site/reports/<id>/<lh>-<lt>-<fh>-<ft>-<bh>-<bt>`), so one listing (1000 keys
//! a page) gives everything the site index shows, with no read-modify-write of a shared
//! object. Keys are built from the task id, numbers and the renderer's checked file names only.

use aws_sdk_s3::primitives::ByteStream;
use ccaas_app::Error;
use ccaas_app::ports::{ReportSite, SiteFile, SiteTotals, is_site_file_name};
use ccaas_domain::TaskId;
use ccaas_gcov::{Counter, Totals};
use ccaas_report::SiteEntry;

use crate::AwsError;

const BACKEND: &str = "report site";
/// Where the records of published reports live (private: the bucket policy makes only
/// `index.html`, `dashboard/` and `reports/` public).
const RECORDS: &str = "site/reports/";
/// Uploads in flight at once for one report.
const PARALLEL_UPLOADS: usize = 16;
/// Cache-Control of report pages, styles and data: short, because a report may be re-rendered
/// from its raw data under the same id.
pub const CACHE_PAGES: &str = "public, max-age=300";
/// Cache-Control of every `index.html` (the report's and the site's): always revalidated, so
/// a new or re-published report shows at once.
pub const CACHE_INDEX: &str = "no-cache";

/// The report site in `bucket`.
#[derive(Clone, Debug)]
pub struct S3Site {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Site {
    /// The site in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Site {
            client,
            bucket: bucket.into(),
        }
    }

    async fn put(
        &self,
        key: String,
        bytes: Vec<u8>,
        content_type: &str,
        cache: &str,
    ) -> Result<(), Error> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(cache)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| AwsError::sdk("s3:PutObject", e).into_app(BACKEND))?;
        Ok(())
    }

    /// Every record key under `prefix`, all pages.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::sdk("s3:ListObjectsV2", e).into_app(BACKEND))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AwsError::sdk("s3:DeleteObject", e).into_app(BACKEND))?;
        Ok(())
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

/// Parses a record key; `None` for anything this module did not write.
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

/// `YYYY-MM-DD HH:MM UTC` of a Unix time in milliseconds.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
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

impl ReportSite for S3Site {
    async fn publish(
        &self,
        id: &TaskId,
        files: Vec<SiteFile>,
        totals: SiteTotals,
    ) -> Result<(), Error> {
        if let Some(f) = files.iter().find(|f| !is_site_file_name(&f.name)) {
            return Err(Error::Corrupt(format!(
                "report file name {:?} is not allowed",
                f.name
            )));
        }
        if !files.iter().any(|f| f.name == "index.html") {
            return Err(Error::Corrupt("the report has no index.html".into()));
        }
        let (index, rest): (Vec<SiteFile>, Vec<SiteFile>) =
            files.into_iter().partition(|f| f.name == "index.html");
        // Everything but index.html, PARALLEL_UPLOADS at a time.
        let mut rest = rest.into_iter();
        loop {
            let mut set = tokio::task::JoinSet::new();
            for f in rest.by_ref().take(PARALLEL_UPLOADS) {
                let me = self.clone();
                let key = report_key(id, &f.name);
                set.spawn(async move {
                    me.put(key, f.bytes, &f.content_type, cache_control(&f.name))
                        .await
                });
            }
            if set.is_empty() {
                break;
            }
            while let Some(r) = set.join_next().await {
                r.map_err(|e| Error::Unavailable {
                    backend: BACKEND,
                    source: Box::new(e),
                })??;
            }
        }
        for f in index {
            self.put(
                report_key(id, &f.name),
                f.bytes,
                &f.content_type,
                CACHE_INDEX,
            )
            .await?;
        }
        // The record: the new one first, then any older one of the same id (other totals).
        let record = record_key(id, &totals);
        self.put(
            record.clone(),
            Vec::new(),
            "application/octet-stream",
            "no-store",
        )
        .await?;
        for old in self.list(&format!("{RECORDS}{id}/")).await? {
            if old != record {
                self.delete(&old).await?;
            }
        }
        self.refresh_index().await
    }

    async fn reports(&self) -> Result<Vec<(TaskId, SiteTotals)>, Error> {
        let mut out: Vec<(TaskId, SiteTotals)> = self
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

    async fn refresh_index(&self) -> Result<(), Error> {
        // Two publishers racing could each write an index from a listing that misses the
        // other's report; re-listing after the write and writing again until the listing is
        // stable makes the last writer's index complete.
        let mut listed = self.reports().await?;
        for _ in 0..3 {
            let entries: Vec<SiteEntry> = listed.iter().map(|(id, t)| entry(id, t)).collect();
            self.put(
                "index.html".into(),
                ccaas_report::site_index(&entries),
                ccaas_report::HTML,
                CACHE_INDEX,
            )
            .await?;
            let again = self.reports().await?;
            if again == listed {
                break;
            }
            listed = again;
        }
        Ok(())
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
