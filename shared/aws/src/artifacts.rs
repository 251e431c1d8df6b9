//! The bucket's private `raw/` prefix behind [`ArtifactStore`]: the collected archive of an
//! end task (`raw/<task-id>/gcda.tar.gz`, kept to re-render or merge) and the collect stage's
//! facts record (`raw/<task-id>/facts.json`). Keys are built from the task id only. The
//! archive streams between S3 and a local file, never through memory as a whole.

use aws_sdk_s3::primitives::ByteStream;
use ccaas_app::{ArtifactStore, Error};
use ccaas_domain::TaskId;
use tokio::io::AsyncWriteExt;

use crate::AwsError;

const BACKEND: &str = "artifact store";
/// The facts record is small; anything larger is not ours.
const MAX_FACTS_BYTES: i64 = 1 << 20;

/// Raw artifacts in `bucket`.
#[derive(Clone, Debug)]
pub struct S3Artifacts {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Artifacts {
    /// Artifacts in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Artifacts {
            client,
            bucket: bucket.into(),
        }
    }
}

/// The key of a task's raw archive.
pub fn raw_key(id: &TaskId) -> String {
    format!("raw/{id}/gcda.tar.gz")
}

/// The key of a task's collect-stage facts.
pub fn facts_key(id: &TaskId) -> String {
    format!("raw/{id}/facts.json")
}

fn io(e: std::io::Error) -> Error {
    Error::Unavailable {
        backend: BACKEND,
        source: Box::new(e),
    }
}

impl ArtifactStore for S3Artifacts {
    async fn put_raw(&self, id: &TaskId, from: &std::path::Path) -> Result<(), Error> {
        let body = ByteStream::from_path(from)
            .await
            .map_err(|e| AwsError::sdk("s3:PutObject body", e).into_app(BACKEND))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(raw_key(id))
            .content_type("application/gzip")
            .body(body)
            .send()
            .await
            .map_err(|e| AwsError::sdk("s3:PutObject", e).into_app(BACKEND))?;
        Ok(())
    }

    async fn get_raw(
        &self,
        id: &TaskId,
        to: &std::path::Path,
        max_bytes: u64,
    ) -> Result<bool, Error> {
        let r = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(raw_key(id))
            .send()
            .await;
        let mut out = match r {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(false),
            Err(e) => return Err(AwsError::sdk("s3:GetObject", e).into_app(BACKEND)),
        };
        let too_large = || Error::Corrupt(format!("the raw archive is over {max_bytes} bytes"));
        if out.content_length().unwrap_or(0) as u64 > max_bytes {
            return Err(too_large());
        }
        let mut file = tokio::fs::File::create(to).await.map_err(io)?;
        let mut written = 0u64;
        while let Some(chunk) = out
            .body
            .try_next()
            .await
            .map_err(|e| AwsError::sdk("s3:GetObject body", e).into_app(BACKEND))?
        {
            written += chunk.len() as u64;
            if written > max_bytes {
                return Err(too_large());
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok(true)
    }

    async fn put_facts(&self, id: &TaskId, json: Vec<u8>) -> Result<(), Error> {
        crate::s3::put(
            &self.client,
            &self.bucket,
            &facts_key(id),
            "application/json",
            json,
            BACKEND,
        )
        .await
    }

    async fn get_facts(&self, id: &TaskId) -> Result<Option<Vec<u8>>, Error> {
        crate::s3::get_small(
            &self.client,
            &self.bucket,
            &facts_key(id),
            MAX_FACTS_BYTES,
            BACKEND,
        )
        .await
    }
}
