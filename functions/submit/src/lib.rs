//! The submit function's HTTP handling: routing, body limits, content types, and mapping use
//! case errors to JSON error responses. `ccaas-local` serves the API through this same code.

use ccaas_app::{Api, Caller, Error};
use ccaas_aws::{Clients, Config, DynamoTaskStore, S3Logs, SqsTaskQueue};
use ccaas_domain::submission::MAX_BODY_BYTES;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use tracing::{info, warn};

/// The API over the AWS adapters.
pub type Deps = Api<DynamoTaskStore, SqsTaskQueue, S3Logs>;

/// The production wiring: the API over the AWS adapters, from config and shared clients.
pub fn wire(config: &Config, clients: &Clients) -> Deps {
    Api {
        store: DynamoTaskStore::new(clients.dynamodb.clone(), &config.tasks_table),
        queue: SqsTaskQueue::new(
            clients.sqs.clone(),
            config.queue_url.clone(),
            config.high_queue_url.clone(),
        ),
        logs: S3Logs::new(clients.s3.clone(), &config.bucket),
        base_url: config.api_url.clone(),
    }
}

/// Handles one HTTP request. Never fails: every error is a JSON response.
pub async fn handle<S, Q, L>(api: &Api<S, Q, L>, req: Request) -> Response<Body>
where
    S: ccaas_app::TaskStore,
    Q: ccaas_app::TaskQueue,
    L: ccaas_app::LogStore,
{
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = route(api, req).await;
    info!(%method, path = %truncate(&path, 200), status = resp.status().as_u16(), "request");
    resp
}

async fn route<S, Q, L>(api: &Api<S, Q, L>, req: Request) -> Response<Body>
where
    S: ccaas_app::TaskStore,
    Q: ccaas_app::TaskQueue,
    L: ccaas_app::LogStore,
{
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (req.method(), segments.as_slice()) {
        (&Method::POST, ["v1", "tasks"]) => submit(api, req).await,
        (&Method::GET, ["v1", "tasks"]) => {
            let query = req.uri().query().unwrap_or("").to_owned();
            let params = match parse_query(&query) {
                Ok(p) => p,
                Err(e) => return error_response(&e),
            };
            let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            reply(api.list(pairs).await, StatusCode::OK)
        }
        (&Method::GET, ["v1", "tasks", id]) => reply(api.get(id).await, StatusCode::OK),
        (&Method::GET, ["v1", "tasks", id, "log"]) => match api.log(id).await {
            Ok(bytes) => Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .body(Body::from(bytes))
                .unwrap_or_default(),
            Err(e) => error_response(&e),
        },
        (_, ["v1", "tasks"]) => method_not_allowed("GET, POST"),
        (_, ["v1", "tasks", _]) | (_, ["v1", "tasks", _, "log"]) => method_not_allowed("GET"),
        _ => json_error(StatusCode::NOT_FOUND, "not_found", None, "no such route"),
    }
}

async fn submit<S, Q, L>(api: &Api<S, Q, L>, req: Request) -> Response<Body>
where
    S: ccaas_app::TaskStore,
    Q: ccaas_app::TaskQueue,
    L: ccaas_app::LogStore,
{
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Some("Content-Type"),
            "send the task as application/json",
        );
    }
    let body: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    if body.len() > MAX_BODY_BYTES {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            None,
            &format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            ),
        );
    }
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) => Some(k),
            Err(_) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    Some("Idempotency-Key"),
                    "must be visible ASCII",
                );
            }
        },
    };
    match api.submit(&Caller::Anonymous, key, body).await {
        Ok(accepted) => {
            let location = accepted.view.selflink.clone();
            let mut resp = json_response(StatusCode::ACCEPTED, &accepted.view);
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            if accepted.replayed {
                resp.headers_mut()
                    .insert("idempotent-replay", HeaderValue::from_static("true"));
            }
            resp
        }
        Err(e) => error_response(&e),
    }
}

fn reply<T: serde::Serialize>(r: Result<T, Error>, ok: StatusCode) -> Response<Body> {
    match r {
        Ok(v) => json_response(ok, &v),
        Err(e) => error_response(&e),
    }
}

fn json_response<T: serde::Serialize>(status: StatusCode, v: &T) -> Response<Body> {
    let body = serde_json::to_string(v).unwrap_or_else(|_| "{}".into());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn json_error(
    status: StatusCode,
    code: &str,
    field: Option<&str>,
    message: &str,
) -> Response<Body> {
    let mut err = json!({"code": code, "message": message});
    if let Some(f) = field {
        err["field"] = json!(f);
    }
    json_response(status, &json!({ "error": err }))
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
        &format!("allowed: {allow}"),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// Maps a use-case error to its status and JSON body. Messages never carry secrets: the
/// domain's field errors do not quote secret values and backend errors are not echoed.
pub fn error_response(e: &Error) -> Response<Body> {
    match e {
        Error::Invalid(f) => {
            let field = (!f.field.is_empty()).then_some(f.field.as_str());
            json_error(StatusCode::BAD_REQUEST, f.code, field, &f.message)
        }
        Error::NotFound => json_error(StatusCode::NOT_FOUND, "not_found", None, "no such task"),
        Error::IdempotencyConflict => json_error(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            Some("Idempotency-Key"),
            "this key was already used with a different body",
        ),
        Error::Conflict => json_error(
            StatusCode::CONFLICT,
            "conflict",
            None,
            "the task changed concurrently; retry",
        ),
        Error::Unavailable { backend, .. } => {
            warn!(error = %e, source = ?std::error::Error::source(e), "backend unavailable");
            let mut r = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                None,
                &format!("the {backend} is unavailable; retry later"),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        Error::Corrupt(m) => {
            warn!(error = %m, "corrupt stored data");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                None,
                "stored data could not be read",
            )
        }
    }
}

/// Splits and percent-decodes a query string. Bad encoding is a 400 naming the parameter.
fn parse_query(q: &str) -> Result<Vec<(String, String)>, Error> {
    let bad = |field: String| {
        Error::Invalid(ccaas_domain::FieldError {
            code: "invalid_field",
            field,
            message: "bad percent-encoding".into(),
        })
    };
    let mut out = Vec::new();
    for part in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let key = percent_decode(k).ok_or_else(|| bad(String::new()))?;
        let value = percent_decode(v).ok_or_else(|| bad(truncate(&key, 64)))?;
        out.push((key, value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_plus_and_rejects_broken_escapes() {
        assert_eq!(percent_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%e2%82"), None);
        assert_eq!(percent_decode("%"), None);
    }
}
