//! The bucket's private `index/` prefix behind [`IndexStore`]: per-session coverage indexes
//! (`index/coverage/<build-id>/<session-id>.idx`) read back in byte ranges (S3 `Range`
//! requests), merge tasks' indexes (`index/merged/<build-id>/<task-id>.idx`, which no listing
//! shows), and the newest-build records (`index/latest.json`, `index/latest/<device>.json`).
//! Keys come from [`index_key`], [`merged_index_key`] and [`latest_key`] only.

use aws_sdk_s3::primitives::ByteStream;
use ccaas_app::Error;
use ccaas_app::ports::{
    IndexStore, LatestBuild, MAX_INDEX_READ, index_key, latest_key, merged_index_key,
};
use ccaas_aws::AwsError;
use ccaas_domain::{BuildId, TaskId};

use crate::objects::get_small;

const BACKEND: &str = "index store";
/// The most keys one listing walks (100 pages of 1,000).
const MAX_LISTED: usize = 100_000;

/// Coverage indexes in `bucket`.
#[derive(Clone, Debug)]
pub struct S3Indexes {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Indexes {
    /// Coverage indexes in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Indexes {
            client,
            bucket: bucket.into(),
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), Error> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .cache_control("no-store")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| AwsError::sdk("s3:PutObject", e).into_app(BACKEND))?;
        Ok(())
    }

    /// Bytes `offset .. offset + len` of the object at `key` (a ranged GET), as
    /// [`IndexStore::read_index`] documents them.
    async fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>, Error> {
        if len > MAX_INDEX_READ {
            return Err(Error::Corrupt(format!(
                "a read of {len} bytes of an index is over {MAX_INDEX_READ}"
            )));
        }
        if len == 0 {
            return Ok(Some(Vec::new()));
        }
        let r = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={offset}-{}", offset.saturating_add(len - 1)))
            .send()
            .await;
        let out = match r {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            // 416: the range starts past the object's end.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                return Ok(Some(Vec::new()));
            }
            Err(e) => return Err(AwsError::sdk("s3:GetObject", e).into_app(BACKEND)),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| AwsError::sdk("s3:GetObject body", e).into_app(BACKEND))?
            .to_vec();
        if bytes.len() as u64 > len {
            return Err(Error::Corrupt(format!(
                "asked {len} bytes of an index, got {}",
                bytes.len()
            )));
        }
        Ok(Some(bytes))
    }
}

impl IndexStore for S3Indexes {
    async fn put_index(
        &self,
        build: &BuildId,
        session: &TaskId,
        bytes: Vec<u8>,
    ) -> Result<(), Error> {
        self.put(
            &index_key(build, session),
            bytes,
            "application/octet-stream",
        )
        .await
    }

    async fn list_sessions(&self, build: &BuildId, max: usize) -> Result<Vec<TaskId>, Error> {
        let prefix = format!("index/coverage/{build}/");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut seen = 0usize;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::sdk("s3:ListObjectsV2", e).into_app(BACKEND))?;
            for o in page.contents() {
                seen += 1;
                let id = o
                    .key()
                    .and_then(|k| k.strip_prefix(&prefix))
                    .and_then(|k| k.strip_suffix(".idx"))
                    .and_then(TaskId::parse);
                if let Some(id) = id {
                    out.push(id);
                }
            }
            // Keys list in byte order, which is time order for session ids: keeping the tail
            // keeps the newest.
            if out.len() > max {
                out.drain(..out.len() - max);
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) && seen < MAX_LISTED => {
                    token = Some(t.to_string())
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn read_index(
        &self,
        build: &BuildId,
        session: &TaskId,
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.read_range(&index_key(build, session), offset, len)
            .await
    }

    async fn put_merged_index(
        &self,
        build: &BuildId,
        task: &TaskId,
        bytes: Vec<u8>,
    ) -> Result<(), Error> {
        self.put(
            &merged_index_key(build, task),
            bytes,
            "application/octet-stream",
        )
        .await
    }

    async fn read_merged_index(
        &self,
        build: &BuildId,
        task: &TaskId,
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.read_range(&merged_index_key(build, task), offset, len)
            .await
    }

    async fn put_latest(&self, device: Option<&str>, latest: &LatestBuild) -> Result<(), Error> {
        let bytes = serde_json::to_vec(latest).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.put(&latest_key(device), bytes, "application/json")
            .await
    }

    async fn latest(&self, device: Option<&str>) -> Result<Option<LatestBuild>, Error> {
        let key = latest_key(device);
        match get_small(&self.client, &self.bucket, &key, 4096, BACKEND).await? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("{key}: {e}"))),
        }
    }
}
