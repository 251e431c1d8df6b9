//! The report bucket's private `logs/` prefix behind [`LogStore`].

use aws_sdk_s3::primitives::ByteStream;
use ccaas_app::{Error, LogStore};
use ccaas_domain::TaskId;

use ccaas_aws::AwsError;

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

/// Uploads the local file `from` as `key`, streamed from disk.
pub(crate) async fn put_file(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    from: &std::path::Path,
    backend: &'static str,
) -> Result<(), Error> {
    let body = ByteStream::from_path(from)
        .await
        .map_err(|e| AwsError::sdk("s3:PutObject body", e).into_app(backend))?;
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| AwsError::sdk("s3:PutObject", e).into_app(backend))?;
    Ok(())
}

/// Streams `key` into the local file `to` (created or truncated): `false` when it does not
/// exist, [`Error::Corrupt`] as soon as it is over `max` bytes (by its length or by what
/// arrives), so a hostile or runaway object never fills the disk.
pub(crate) async fn get_file(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    to: &std::path::Path,
    max: u64,
    backend: &'static str,
) -> Result<bool, Error> {
    Ok(get_file_tagged(client, bucket, key, to, max, backend)
        .await?
        .is_some())
}

/// [`get_file`], answering the object's ETag (empty when S3 gave none) instead of `true`.
pub(crate) async fn get_file_tagged(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    to: &std::path::Path,
    max: u64,
    backend: &'static str,
) -> Result<Option<String>, Error> {
    use tokio::io::AsyncWriteExt;
    let io = |e: std::io::Error| Error::Unavailable {
        backend,
        source: Box::new(e),
    };
    let r = client.get_object().bucket(bucket).key(key).send().await;
    let mut out = match r {
        Ok(o) => o,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(AwsError::sdk("s3:GetObject", e).into_app(backend)),
    };
    let tag = out.e_tag().unwrap_or("").to_owned();
    let too_large = || Error::Corrupt(format!("{key} is over {max} bytes"));
    if out.content_length().unwrap_or(0) as u64 > max {
        return Err(too_large());
    }
    let mut file = tokio::fs::File::create(to).await.map_err(io)?;
    let mut written = 0u64;
    while let Some(chunk) = out
        .body
        .try_next()
        .await
        .map_err(|e| AwsError::sdk("s3:GetObject body", e).into_app(backend))?
    {
        written += chunk.len() as u64;
        if written > max {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(Some(tag))
}
