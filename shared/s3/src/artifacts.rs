//! The bucket's private `raw/` prefix behind [`ArtifactStore`]: the collected archive of an
//! end task (`raw/<task-id>/gcda.tar.gz`, kept to re-render or merge) and the collect stage's
//! facts record (`raw/<task-id>/facts.json`). Keys are built from the task id only. The
//! archive streams between S3 and a local file, never through memory as a whole.

use ccaas_app::{ArtifactStore, Error};
use ccaas_domain::TaskId;

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

impl ArtifactStore for S3Artifacts {
    async fn put_raw(&self, id: &TaskId, from: &std::path::Path) -> Result<(), Error> {
        crate::objects::put_file(
            &self.client,
            &self.bucket,
            &raw_key(id),
            "application/gzip",
            from,
            BACKEND,
        )
        .await
    }

    async fn get_raw(
        &self,
        id: &TaskId,
        to: &std::path::Path,
        max_bytes: u64,
    ) -> Result<bool, Error> {
        crate::objects::get_file(
            &self.client,
            &self.bucket,
            &raw_key(id),
            to,
            max_bytes,
            BACKEND,
        )
        .await
    }

    async fn put_facts(&self, id: &TaskId, json: Vec<u8>) -> Result<(), Error> {
        crate::objects::put(
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
        crate::objects::get_small(
            &self.client,
            &self.bucket,
            &facts_key(id),
            MAX_FACTS_BYTES,
            BACKEND,
        )
        .await
    }
}
