//! The HTTP side of `ccaas-local`: the API through the submit handler, and `/site/...` from S3.

use std::sync::Arc;

use aws_sdk_s3::Client as S3;
use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Path, Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ccaas_domain::submission::MAX_BODY_BYTES;
use ccaas_submit::Deps;
use lambda_http::Body as LambdaBody;
use tracing::warn;

/// What the handlers share.
pub struct State {
    /// The task API, wired exactly as in the submit Lambda.
    pub api: Deps,
    /// The report bucket's client.
    pub s3: S3,
    /// The report bucket.
    pub bucket: String,
}

/// The routes: `/site/*` from S3, everything else to the API handler.
pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/site", get(site_root))
        .route("/site/", get(site_root))
        .route("/site/{*key}", get(site))
        .fallback(api)
        .with_state(state)
}

/// Hands the request to the submit function's handler, as API Gateway would.
async fn api(AxState(state): AxState<Arc<State>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Read one byte past the limit, so the handler still answers 413 itself.
    let limit = MAX_BODY_BYTES + 1;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            let body = r#"{"error":{"code":"body_too_large","message":"the body is over the 65536-byte limit"}}"#;
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
    };
    let req = lambda_http::http::Request::from_parts(parts, LambdaBody::from(bytes.to_vec()));
    let resp = ccaas_submit::handle(&state.api, req).await;
    let (parts, body) = resp.into_parts();
    let body = match body {
        LambdaBody::Text(t) => AxumBody::from(t),
        LambdaBody::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    Response::from_parts(parts, body)
}

async fn site_root(st: AxState<Arc<State>>) -> Response {
    site(st, Path(String::new())).await
}

/// Serves a public object of the report site: `index.html`, `dashboard/...`, `reports/...`,
/// as the bucket policy allows on AWS. Anything else is 404, as it would be there.
async fn site(AxState(state): AxState<Arc<State>>, Path(key): Path<String>) -> Response {
    let mut key = key;
    if key.is_empty() || key.ends_with('/') {
        key.push_str("index.html");
    }
    let public =
        key == "index.html" || key.starts_with("reports/") || key.starts_with("dashboard/");
    let safe = !key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..");
    if !public || !safe {
        return not_found();
    }
    let r = state
        .s3
        .get_object()
        .bucket(&state.bucket)
        .key(&key)
        .send()
        .await;
    let out = match r {
        Ok(o) => o,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return not_found(),
        Err(e) => {
            warn!(error = %e, "site read failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the report store is unavailable",
            )
                .into_response();
        }
    };
    let content_type = out
        .content_type()
        .unwrap_or("application/octet-stream")
        .to_owned();
    let cache = out.cache_control().unwrap_or("no-cache").to_owned();
    match out.body.collect().await {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, cache),
            ],
            bytes.into_bytes(),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the report store is unavailable",
        )
            .into_response(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}
