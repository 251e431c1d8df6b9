//! The [`TaskSearch`] port over OpenSearch: the adapter a team moves to when the embedded
//! tantivy index outgrows a Lambda's `/tmp` (docs/design.md, "Moving to OpenSearch behind the
//! same port"). One index on an OpenSearch endpoint (an OpenSearch Serverless collection, an
//! OpenSearch Service domain, or a cluster of one's own), requests signed with SigV4 when the
//! endpoint is on AWS. The request and response bodies are built and read in [`body`], with no
//! I/O; this module sends them.

pub mod body;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use ccaas_app::ports::{SearchDoc, SearchPage, TaskSearch};
use ccaas_domain::SearchQuery;
use tokio::sync::OnceCell;

/// What can go wrong talking to OpenSearch. Mapped to [`ccaas_app::Error::Unavailable`].
#[derive(Debug, thiserror::Error)]
pub enum OpenSearchError {
    /// The endpoint is not an `http(s)://host[:port]` URL, or the index name is not one
    /// OpenSearch takes.
    #[error("the OpenSearch endpoint or index is invalid: {0}")]
    Config(String),
    /// The request could not be sent or its answer read.
    #[error("OpenSearch did not answer")]
    Http(#[source] reqwest::Error),
    /// The request could not be signed (no credentials, or the signer refused).
    #[error("the OpenSearch request could not be signed")]
    Sign(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// OpenSearch answered with an error status.
    #[error("OpenSearch answered {status}: {reason}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The error's `type` and `reason`, or the body's first bytes.
        reason: String,
    },
    /// A `_bulk` item failed.
    #[error("OpenSearch refused the document of task {id}: {reason}")]
    Item {
        /// The task.
        id: String,
        /// OpenSearch's reason.
        reason: String,
    },
    /// The answer is longer than [`MAX_RESPONSE`].
    #[error("the OpenSearch answer is over {MAX_RESPONSE} bytes")]
    TooLarge,
    /// The answer is not JSON.
    #[error("the OpenSearch answer is not JSON")]
    Response(#[source] serde_json::Error),
    /// The answer lacks a field, or holds one of another type: its path.
    #[error("the OpenSearch answer has no valid {0}")]
    Shape(String),
}

impl From<OpenSearchError> for ccaas_app::Error {
    fn from(e: OpenSearchError) -> Self {
        ccaas_app::Error::Unavailable {
            backend: "search index",
            source: Box::new(e),
        }
    }
}

/// The most bytes of an answer read: a page is at most 100 hits of shown values and 150-character
/// snippets (the log is never returned), far below it.
pub const MAX_RESPONSE: usize = 4 << 20;
/// The most bytes of documents one `_bulk` request carries (a document holds at most 64 KiB of
/// log text); larger upserts are split.
pub const MAX_BULK: usize = 4 << 20;
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub enum Auth {
    /// None (a local cluster with its security plugin off, as the contract runs on).
    None,
    /// SigV4 with the function's role: `service` is `aoss` for OpenSearch Serverless, `es`
    /// for an OpenSearch Service domain.
    SigV4 {
        /// Where credentials come from (the SDK config's provider).
        credentials: SharedCredentialsProvider,
        /// The endpoint's region.
        region: String,
        /// The signing name.
        service: String,
    },
}

/// The task index on an OpenSearch endpoint. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct OpenSearchTasks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// `https://host[:port]`, without a trailing slash.
    endpoint: String,
    index: String,
    auth: Auth,
    /// Set once the index is known to exist (made by the first upsert when missing).
    created: OnceCell<()>,
}

/// Whether `name` is an index name OpenSearch takes and that needs no escaping in a path:
/// lower-case letters, digits, `-` and `_`, not starting with `-` or `_`, 1 to 100 bytes.
fn valid_index(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.starts_with(['-', '_'])
}

impl OpenSearchTasks {
    /// The index `index` on `endpoint` (`https://host[:port]`; `http://` only for a loopback
    /// cluster in tests). Sends nothing yet. Errors: [`OpenSearchError::Config`].
    pub fn new(endpoint: &str, index: &str, auth: Auth) -> Result<Self, OpenSearchError> {
        let endpoint = endpoint.trim_end_matches('/');
        let url = reqwest::Url::parse(endpoint)
            .map_err(|e| OpenSearchError::Config(format!("endpoint: {e}")))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback))
            || url.path() != "/"
            || url.query().is_some()
            || !url.username().is_empty()
        {
            return Err(OpenSearchError::Config(
                "endpoint: must be https://host[:port] (http:// only on loopback)".into(),
            ));
        }
        if !valid_index(index) {
            return Err(OpenSearchError::Config(format!(
                "index: {index:?} must be 1 to 100 of a-z, 0-9, - and _"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(OpenSearchError::Http)?;
        Ok(OpenSearchTasks {
            inner: Arc::new(Inner {
                http,
                endpoint: endpoint.to_owned(),
                index: index.to_owned(),
                auth,
                created: OnceCell::new(),
            }),
        })
    }
}

impl OpenSearchTasks {
    /// The index `index` on `endpoint` as a function on AWS reaches it: requests signed for
    /// `service` (`aoss` or `es`) with `credentials` in `region`, the SDK configuration's; or
    /// unsigned when `service` is `none`. Sends nothing yet. Errors:
    /// [`OpenSearchError::Config`], also when signing is asked for without credentials or a
    /// region.
    pub fn on_aws(
        endpoint: &str,
        index: &str,
        service: &str,
        credentials: Option<SharedCredentialsProvider>,
        region: Option<&str>,
    ) -> Result<Self, OpenSearchError> {
        let auth = if service == "none" {
            Auth::None
        } else {
            Auth::SigV4 {
                credentials: credentials.ok_or_else(|| {
                    OpenSearchError::Config("no AWS credentials to sign requests with".into())
                })?,
                region: region
                    .ok_or_else(|| OpenSearchError::Config("no AWS region to sign for".into()))?
                    .to_owned(),
                service: service.to_owned(),
            }
        };
        Self::new(endpoint, index, auth)
    }
}

/// The OpenSearch index of `settings` (with `CCAAS_SEARCH=opensearch`), as the submit and
/// indexer functions reach it: requests signed with the SDK configuration's credentials and
/// region. Errors: [`OpenSearchError::Config`] (no `CCAAS_OPENSEARCH_ENDPOINT`; an endpoint or
/// index OpenSearch would not take; no credentials or region to sign with).
pub fn from_settings(
    settings: &ccaas_aws::SearchSettings,
    sdk: &ccaas_aws::SdkConfig,
) -> Result<OpenSearchTasks, OpenSearchError> {
    let at = settings.opensearch.as_ref().ok_or_else(|| {
        OpenSearchError::Config("CCAAS_SEARCH=opensearch needs CCAAS_OPENSEARCH_ENDPOINT".into())
    })?;
    OpenSearchTasks::on_aws(
        &at.endpoint,
        &at.index,
        &at.service,
        sdk.credentials_provider(),
        sdk.region().map(|r| r.as_ref()),
    )
}

impl Inner {
    /// Sends one request and returns the status and the body (at most [`MAX_RESPONSE`] bytes).
    async fn send(
        &self,
        method: http::Method,
        path_and_query: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), OpenSearchError> {
        let url = format!("{}{path_and_query}", self.endpoint);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header(http::header::CONTENT_TYPE, content_type);
        if let Auth::SigV4 {
            credentials,
            region,
            service,
        } = &self.auth
        {
            let creds = credentials
                .provide_credentials()
                .await
                .map_err(|e| OpenSearchError::Sign(Box::new(e)))?;
            let identity = creds.into();
            let mut settings = SigningSettings::default();
            // OpenSearch Serverless requires the payload's hash as a header.
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name(service)
                .time(SystemTime::now())
                .settings(settings)
                .build()
                .map_err(|e| OpenSearchError::Sign(Box::new(e)))?
                .into();
            let signable = SignableRequest::new(
                method.as_str(),
                &url,
                [("content-type", content_type)].into_iter(),
                SignableBody::Bytes(&body),
            )
            .map_err(|e| OpenSearchError::Sign(Box::new(e)))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| OpenSearchError::Sign(Box::new(e)))?
                .into_parts();
            for (name, value) in instructions.headers() {
                req = req.header(name, value);
            }
        }
        let mut resp = req.body(body).send().await.map_err(OpenSearchError::Http)?;
        let status = resp.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(OpenSearchError::Http)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE {
                return Err(OpenSearchError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, bytes))
    }

    /// Sends a JSON request and fails on an error status.
    async fn call(
        &self,
        method: http::Method,
        path_and_query: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, OpenSearchError> {
        let (status, bytes) = self
            .send(method, path_and_query, content_type, body)
            .await?;
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(status_error(status, &bytes))
        }
    }

    /// Makes the index when it does not exist. Idempotent: an index made meanwhile by another
    /// writer is fine.
    async fn ensure_index(&self) -> Result<(), OpenSearchError> {
        self.created
            .get_or_try_init(|| async {
                let path = format!("/{}", self.index);
                let (status, bytes) = self
                    .send(http::Method::HEAD, &path, "application/json", Vec::new())
                    .await?;
                match status {
                    200 => return Ok(()),
                    404 => {}
                    s => return Err(status_error(s, &bytes)),
                }
                let definition = body::index_definition().to_string().into_bytes();
                let (status, bytes) = self
                    .send(http::Method::PUT, &path, "application/json", definition)
                    .await?;
                if (200..300).contains(&status)
                    || String::from_utf8_lossy(&bytes).contains("resource_already_exists_exception")
                {
                    tracing::info!(index = %self.index, "made the search index");
                    Ok(())
                } else {
                    Err(status_error(status, &bytes))
                }
            })
            .await
            .map(|_| ())
    }
}

/// The error of an answer with `status`: OpenSearch's `error.type: error.reason`, or the
/// body's first 200 characters.
fn status_error(status: u16, body: &[u8]) -> OpenSearchError {
    let reason = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            let kind = e.get("type").and_then(|t| t.as_str()).unwrap_or("error");
            let reason = e.get("reason").and_then(|r| r.as_str()).unwrap_or_default();
            Some(format!("{kind}: {reason}"))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    OpenSearchError::Status { status, reason }
}

impl TaskSearch for OpenSearchTasks {
    async fn upsert(&self, docs: &[SearchDoc]) -> Result<(), ccaas_app::Error> {
        let inner = &self.inner;
        inner.ensure_index().await?;
        // `refresh=wait_for`: the call returns once the documents are searchable, as the port
        // promises (OpenSearch refreshes about once a second).
        let path = format!("/{}/_bulk?refresh=wait_for", inner.index);
        let mut start = 0;
        while start < docs.len() {
            let mut end = start;
            let mut body = String::new();
            while end < docs.len() && (end == start || body.len() < MAX_BULK) {
                body.push_str(&body::bulk(&docs[end..=end]));
                end += 1;
            }
            let answer = inner
                .call(
                    http::Method::POST,
                    &path,
                    "application/x-ndjson",
                    body.into_bytes(),
                )
                .await?;
            if let Some((id, reason)) = body::bulk_failure(&answer)? {
                return Err(OpenSearchError::Item { id, reason }.into());
            }
            start = end;
        }
        Ok(())
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, ccaas_app::Error> {
        let inner = &self.inner;
        let path = format!("/{}/_search", inner.index);
        let request = body::search(query).to_string().into_bytes();
        let (status, answer) = inner
            .send(http::Method::POST, &path, "application/json", request)
            .await?;
        match status {
            200..=299 => Ok(body::page(&answer)?),
            // Nothing indexed yet: no task matches.
            404 if String::from_utf8_lossy(&answer).contains("index_not_found_exception") => {
                Ok(SearchPage::default())
            }
            s => Err(status_error(s, &answer).into()),
        }
    }
}
