//! The HTTP side of `ccaas-local`: the API through the submit Lambda's own router, and
//! `/site/...` from S3.

use std::sync::Arc;

use aws_sdk_s3::Client as S3;
use axum::Router;
use axum::extract::{Path, Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lambda_http::request::RequestContext;
use tracing::{info, warn};

use crate::auth::Verifier;

/// What the site handlers share.
pub struct State {
    /// The report bucket's client.
    pub s3: S3,
    /// The report bucket.
    pub bucket: String,
}

/// The API's own state, wired exactly as in the submit Lambda.
/// Its task store reports changes to the search indexer, and its search is the tantivy index.
pub type ApiState = ccaas_submit::ApiState<
    crate::indexer::Indexed<ccaas_dynamo::DynamoTaskStore>,
    ccaas_queue::SqsTaskQueue,
    ccaas_s3::S3Logs,
    ccaas_queue::KmsSealer,
    ccaas_dynamo::DynamoDevices,
    ccaas_s3::S3Indexes,
    ccaas_search::TantivySearch,
>;

/// The routes: `/site/*` from S3, everything else to the submit Lambda's own router. With
/// `verifier` (`CCAAS_AUTH=jwt`) the bearer token is checked first and its claims go into the
/// request context, as API Gateway's JWT authorizer does on AWS.
pub fn router(state: Arc<State>, api: Arc<ApiState>, verifier: Option<Arc<Verifier>>) -> Router {
    let auth_on = verifier.is_some();
    let mut api = ccaas_submit::router(api);
    if let Some(v) = verifier {
        api = api.layer(middleware::from_fn_with_state(v, authorize));
    }
    Router::new()
        .merge(crate::console::routes(auth_on))
        .route("/site", get(site_root))
        .route("/site/", get(site_root))
        .route("/site/{*key}", get(site))
        .with_state(state)
        .fallback_service(api)
}

/// API Gateway's JWT authorizer, locally: verifies the bearer token and puts its claims in the
/// request context, or answers 401 before the API sees the request.
async fn authorize(
    AxState(verifier): AxState<Arc<Verifier>>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"));
    match verifier.verify(header) {
        Ok(claims) => {
            req.extensions_mut().insert(jwt_context(claims));
            next.run(req).await
        }
        Err(e) => {
            // The reason is logged, never the token.
            info!(reason = %e, source = ?std::error::Error::source(&e), "bearer token refused");
            ccaas_submit::unauthorized(&e.to_string())
        }
    }
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

async fn site_root(st: AxState<Arc<State>>) -> Response {
    site(st, Path(String::new())).await
}

/// Serves a public object of the report site: `index.html`, `console/...`, `reports/...`,
/// as the bucket policy allows on AWS. Anything else is 404, as it would be there.
async fn site(AxState(state): AxState<Arc<State>>, Path(key): Path<String>) -> Response {
    let mut key = key;
    if key.is_empty() || key.ends_with('/') {
        key.push_str("index.html");
    }
    let public = key == "index.html" || key.starts_with("reports/") || key.starts_with("console/");
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
