//! The search index's files behind [`IndexFiles`]: objects under the bucket's private
//! `index/search/` prefix (docs/design.md, "Search"), which no bucket policy makes public.

use ccaas_app::Error;
use ccaas_app::ports::{IndexFile, IndexFiles};
use ccaas_aws::AwsError;

const BACKEND: &str = "search index files";

/// The prefix of the index's files.
pub const INDEX_PREFIX: &str = "index/search/";

/// The index's files in `bucket` under [`INDEX_PREFIX`] (or another prefix, for tests).
#[derive(Clone, Debug)]
pub struct S3IndexFiles {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3IndexFiles {
    /// The files under [`INDEX_PREFIX`] of `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self::with_prefix(client, bucket, INDEX_PREFIX)
    }

    /// The files under `prefix` (ending in `/`) of `bucket`.
    pub fn with_prefix(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        S3IndexFiles {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    /// The key of a file; a name that is not one file name is refused.
    fn key(&self, name: &str) -> Result<String, Error> {
        let ok = !name.is_empty()
            && name.len() <= 255
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(Error::Corrupt(format!(
                "{:?} is not an index file name",
                name.chars().take(64).collect::<String>()
            )));
        }
        Ok(format!("{}{name}", self.prefix))
    }
}

impl IndexFiles for S3IndexFiles {
    async fn list(&self) -> Result<Vec<IndexFile>, Error> {
        let mut files = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::sdk("s3:ListObjectsV2", e).into_app(BACKEND))?;
            files.extend(out.contents().iter().filter_map(|o| {
                let name = o.key()?.strip_prefix(&self.prefix)?;
                (!name.contains('/')).then(|| IndexFile {
                    name: name.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                })
            }));
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    async fn tag(&self, name: &str) -> Result<Option<String>, Error> {
        let key = self.key(name)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o.e_tag().unwrap_or("").to_owned())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(AwsError::sdk("s3:HeadObject", e).into_app(BACKEND)),
        }
    }

    async fn get(
        &self,
        name: &str,
        to: &std::path::Path,
        max_bytes: u64,
    ) -> Result<Option<String>, Error> {
        let key = self.key(name)?;
        crate::objects::get_file_tagged(&self.client, &self.bucket, &key, to, max_bytes, BACKEND)
            .await
    }

    async fn put(&self, name: &str, from: &std::path::Path) -> Result<(), Error> {
        let key = self.key(name)?;
        crate::objects::put_file(
            &self.client,
            &self.bucket,
            &key,
            "application/octet-stream",
            from,
            BACKEND,
        )
        .await
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        let key = self.key(name)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| AwsError::sdk("s3:DeleteObject", e).into_app(BACKEND))?;
        Ok(())
    }
}
