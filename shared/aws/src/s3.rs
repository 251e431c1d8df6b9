//! The report bucket's private `logs/` prefix behind [`LogStore`].

use aws_sdk_s3::primitives::ByteStream;
use ccaas_app::{Error, LogStore};
use ccaas_domain::TaskId;

use crate::AwsError;

const BACKEND: &str = "log store";
/// A command log larger than this is not served (the processor caps what it writes).
const MAX_LOG_BYTES: i64 = 8 * 1024 * 1024;

/// Command logs at `logs/<task-id>.jsonl`. Keys are built from the task id only.
#[derive(Clone, Debug)]
pub struct S3Logs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Logs {
    /// Logs in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Logs {
            client,
            bucket: bucket.into(),
        }
    }
}

/// The key of a task's log.
pub fn log_key(id: &TaskId) -> String {
    format!("logs/{id}.jsonl")
}

impl LogStore for S3Logs {
    async fn read_log(&self, id: &TaskId) -> Result<Option<Vec<u8>>, Error> {
        get_small(
            &self.client,
            &self.bucket,
            &log_key(id),
            MAX_LOG_BYTES,
            BACKEND,
        )
        .await
    }

    async fn write_log(&self, id: &TaskId, jsonl: Vec<u8>) -> Result<(), Error> {
        put(
            &self.client,
            &self.bucket,
            &log_key(id),
            "application/x-ndjson",
            jsonl,
            BACKEND,
        )
        .await
    }
}

/// Reads a small object whole: `None` when it does not exist, [`Error::Corrupt`] when it is
/// over `max` bytes (so a hostile or runaway object never fills memory).
pub(crate) async fn get_small(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    max: i64,
    backend: &'static str,
) -> Result<Option<Vec<u8>>, Error> {
    let r = client.get_object().bucket(bucket).key(key).send().await;
    let out = match r {
        Ok(o) => o,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(AwsError::sdk("s3:GetObject", e).into_app(backend)),
    };
    if out.content_length().unwrap_or(0) > max {
        return Err(Error::Corrupt(format!("{key} is over {max} bytes")));
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| AwsError::sdk("s3:GetObject body", e).into_app(backend))?;
    Ok(Some(bytes.to_vec()))
}

/// Writes (replaces) an object.
pub(crate) async fn put(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    bytes: Vec<u8>,
    backend: &'static str,
) -> Result<(), Error> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| AwsError::sdk("s3:PutObject", e).into_app(backend))?;
    Ok(())
}
