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
use ccaas_submit::{Auth, Deps};
use lambda_http::Body as LambdaBody;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use tracing::{info, warn};

use crate::auth::Verifier;

/// What the handlers share.
pub struct State {
    /// The task API, wired exactly as in the submit Lambda.
    pub api: Deps,
    /// How the handler learns the caller (as in the submit Lambda).
    pub auth: Auth,
    /// With `CCAAS_AUTH=jwt`: the bearer-token check API Gateway's authorizer does on AWS.
    pub verifier: Option<Verifier>,
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

/// Hands the request to the submit function's handler, as API Gateway would: with auth on,
/// the bearer token is verified first and its claims go into the request context.
async fn api(AxState(state): AxState<Arc<State>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let context = match &state.verifier {
        None => None,
        Some(v) => {
            let header = parts
                .headers
                .get(header::AUTHORIZATION)
                .map(|h| h.to_str().unwrap_or("\u{fffd}"));
            match v.verify(header) {
                Ok(claims) => Some(jwt_context(claims)),
                Err(e) => {
                    // The reason is logged, never the token.
                    info!(reason = %e, source = ?std::error::Error::source(&e), "bearer token refused");
                    return lambda_to_axum(ccaas_submit::unauthorized(&e.to_string()));
                }
            }
        }
    };
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
    let mut req = lambda_http::http::Request::from_parts(parts, LambdaBody::from(bytes.to_vec()));
    if let Some(ctx) = context {
        req = req.with_request_context(ctx);
    }
    lambda_to_axum(ccaas_submit::handle(&state.api, &state.auth, req).await)
}

/// The request context API Gateway's JWT authorizer gives a function: claims as strings.
fn jwt_context(claims: std::collections::HashMap<String, String>) -> RequestContext {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
        ApiGatewayV2httpRequestContext,
    };
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims = claims;
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.authorizer = Some(authorizer);
    RequestContext::ApiGatewayV2(ctx)
}

fn lambda_to_axum(resp: lambda_http::Response<LambdaBody>) -> Response {
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
