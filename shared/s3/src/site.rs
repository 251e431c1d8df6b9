//! The report site's bucket behind [`ReportSite`]: put, list and delete of objects. What goes
//! where (report pages, the site index and the records it is made from) is the publishing use
//! case's, `ccaas_coverage::publish`.

use aws_sdk_s3::primitives::ByteStream;
use ccaas_app::Error;
use ccaas_app::ports::ReportSite;

use ccaas_aws::AwsError;

const BACKEND: &str = "report site";

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
}

impl ReportSite for S3Site {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), Error> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(cache_control)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| AwsError::sdk("s3:PutObject", e).into_app(BACKEND))?;
        Ok(())
    }

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
