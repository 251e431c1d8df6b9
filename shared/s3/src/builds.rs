//! The bucket's private `builds/` prefix behind [`BuildStore`]: the notes
//! (`builds/<build-id>/notes.tar.gz`) and sources (`builds/<build-id>/sources.tar.gz`) that
//! `ccaas build publish` uploads for devices that keep no `.gcno`. Keys come from
//! [`ccaas_app::ports::build_key`] (a validated build id and a fixed name). Archives stream
//! between S3 and local files, never through memory as a whole.

use ccaas_app::Error;
use ccaas_app::ports::{BuildPart, BuildStore, build_key};
use ccaas_domain::BuildId;

const BACKEND: &str = "build store";

/// Build parts in `bucket`.
#[derive(Clone, Debug)]
pub struct S3Builds {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Builds {
    /// Build parts in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Builds {
            client,
            bucket: bucket.into(),
        }
    }
}

impl BuildStore for S3Builds {
    async fn put_part(
        &self,
        build: &BuildId,
        part: BuildPart,
        from: &std::path::Path,
    ) -> Result<(), Error> {
        crate::objects::put_file(
            &self.client,
            &self.bucket,
            &build_key(build, part),
            "application/gzip",
            from,
            BACKEND,
        )
        .await
    }

    async fn get_part(
        &self,
        build: &BuildId,
        part: BuildPart,
        to: &std::path::Path,
        max_bytes: u64,
    ) -> Result<bool, Error> {
        crate::objects::get_file(
            &self.client,
            &self.bucket,
            &build_key(build, part),
            to,
            max_bytes,
            BACKEND,
        )
        .await
    }
}
