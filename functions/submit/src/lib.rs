//! The submit function's HTTP handling: routing, body limits, content types, and mapping use
//! case errors to JSON error responses. `ccaas-local` serves the API through this same code.

use ccaas_app::{Api, Caller, Error};
use ccaas_aws::{Clients, Config, DynamoTaskStore, KmsSealer, S3Logs, SqsTaskQueue};
use ccaas_domain::submission::MAX_BODY_BYTES;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use tracing::{info, warn};

/// The API over the AWS adapters.
pub type Deps = Api<DynamoTaskStore, SqsTaskQueue, S3Logs, KmsSealer>;

/// The production wiring: the API over the AWS adapters, from config and shared clients.
pub fn wire(config: &Config, clients: &Clients) -> Deps {
    Api {
        store: DynamoTaskStore::new(clients.dynamodb.clone(), &config.tasks_table),
        queue: SqsTaskQueue::new(
            clients.sqs.clone(),
            config.queue_url.clone(),
            config.high_queue_url.clone(),
        ),
        sealer: KmsSealer::new(clients.kms.clone(), config.kms_key.clone()),
        logs: S3Logs::new(clients.s3.clone(), &config.bucket),
        base_url: config.api_url.clone(),
    }
}

/// How the handler knows who calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// No auth (`CCAAS_AUTH=off`): the body's `user` is honoured.
    Off,
    /// `CCAAS_AUTH=jwt`: the bearer token was verified before the handler runs (by API
    /// Gateway's JWT authorizer on AWS, by `ccaas-local` locally), which puts its claims in
    /// the request context; this claim names the user. A request without them is refused,
    /// so a route left without the authorizer fails closed.
    Jwt {
        /// The claim that names the user (`CCAAS_AUTH_USER_CLAIM`, default `sub`).
        user_claim: String,
    },
}

impl Auth {
    /// The mode the configuration asks for.
    pub fn from_config(config: &Config) -> Self {
        if config.auth {
            Auth::Jwt {
                user_claim: config.auth_user_claim.clone(),
            }
        } else {
            Auth::Off
        }
    }
}

/// Handles one HTTP request. Never fails: every error is a JSON response.
pub async fn handle<S, Q, L, K>(api: &Api<S, Q, L, K>, auth: &Auth, req: Request) -> Response<Body>
where
    S: ccaas_app::TaskStore,
    Q: ccaas_app::TaskQueue,
    L: ccaas_app::LogStore,
    K: ccaas_app::Sealer,
{
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = match caller(auth, &req) {
        Ok(caller) => route(api, &caller, req).await,
        Err(refused) => refused,
    };
    info!(%method, path = %truncate(&path, 200), status = resp.status().as_u16(), "request");
    resp
}

/// The caller named by the verified token's claims, or the 401/403 response.
#[allow(clippy::result_large_err)]
fn caller(auth: &Auth, req: &Request) -> Result<Caller, Response<Body>> {
    let Auth::Jwt { user_claim } = auth else {
        return Ok(Caller::Anonymous);
    };
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|j| &j.claims),
        _ => None,
    };
    let Some(claims) = claims else {
        return Err(unauthorized("send a valid bearer token"));
    };
    let Some(user) = claims.get(user_claim) else {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
            &format!(
                "the token has no `{}` claim to name the user",
                truncate(user_claim, 64)
            ),
        ));
    };
    if ccaas_domain::submission::check_user(user).is_err() {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
            &format!(
                "the token's `{}` claim is not a valid user name (1 to 64 of A-Z a-z 0-9 . _ - @)",
                truncate(user_claim, 64)
            ),
        ));
    }
    Ok(Caller::Verified(user.clone()))
}

/// A 401 with the `WWW-Authenticate` challenge of RFC 6750.
pub fn unauthorized(message: &str) -> Response<Body> {
    let mut r = json_error(StatusCode::UNAUTHORIZED, "unauthorized", None, message);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"ccaas\""),
    );
    r
}

async fn route<S, Q, L, K>(api: &Api<S, Q, L, K>, caller: &Caller, req: Request) -> Response<Body>
where
    S: ccaas_app::TaskStore,
    Q: ccaas_app::TaskQueue,
    L: ccaas_app::LogStore,
    K: ccaas_app::Sealer,
{
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (req.method(), segments.as_slice()) {
        (&Method::POST, ["v1", "tasks"]) => submit(api, caller, req).await,
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

async fn submit<S, Q, L, K>(api: &Api<S, Q, L, K>, caller: &Caller, req: Request) -> Response<Body>
where
    S: ccaas_app::TaskStore,
    Q: ccaas_app::TaskQueue,
    L: ccaas_app::LogStore,
    K: ccaas_app::Sealer,
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
    match api.submit(caller, key, body).await {
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
    use ccaas_app::memory::{MemoryLogs, MemoryQueue, MemorySealer, MemoryStore};

    fn api() -> Api<MemoryStore, MemoryQueue, MemoryLogs, MemorySealer> {
        Api {
            store: MemoryStore::default(),
            queue: MemoryQueue::default(),
            sealer: MemorySealer::default(),
            logs: MemoryLogs::default(),
            base_url: String::new(),
        }
    }

    const BODY: &str = r#"{"type":"code-coverage-start","user":"mallory",
        "data":{"device":{"host":"10.0.0.1","username":"root","password":"pw"},"modules":["tmm"]}}"#;

    fn post(claims: Option<&[(&str, &str)]>) -> Request {
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/tasks")
            .header("content-type", "application/json")
            .body(Body::from(BODY))
            .unwrap();
        match claims {
            None => req,
            Some(c) => {
                let claims: serde_json::Map<String, serde_json::Value> =
                    c.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
                let ctx = serde_json::from_value(json!({
                    "http": {"method": "POST", "path": "/v1/tasks"},
                    "authorizer": {"jwt": {"claims": claims, "scopes": null}},
                }))
                .unwrap();
                req.with_request_context(RequestContext::ApiGatewayV2(ctx))
            }
        }
    }

    fn jwt(claim: &str) -> Auth {
        Auth::Jwt {
            user_claim: claim.into(),
        }
    }

    fn body_json(r: &Response<Body>) -> serde_json::Value {
        match r.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("not a text body: {other:?}"),
        }
    }

    #[tokio::test]
    async fn with_auth_on_the_verified_claim_becomes_the_user_whatever_the_body_says() {
        let api = api();
        let r = handle(
            &api,
            &jwt("email"),
            post(Some(&[("sub", "u-1"), ("email", "alice@example.com")])),
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{:?}", r.body());
        let id = body_json(&r)["id"].as_str().unwrap().to_owned();
        let task = api.get(&id).await.unwrap();
        assert_eq!(
            serde_json::to_value(&task).unwrap()["user"],
            "alice@example.com"
        );
    }

    #[tokio::test]
    async fn with_auth_on_a_request_without_verified_claims_is_a_401_and_writes_nothing() {
        let api = api();
        let r = handle(&api, &jwt("sub"), post(None)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(body_json(&r)["error"]["code"], "unauthorized");
        assert!(api.queue.sent().is_empty());
        let get = lambda_http::http::Request::builder()
            .uri("/v1/tasks")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(
            handle(&api, &jwt("sub"), get).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn a_token_whose_user_claim_is_missing_or_not_a_user_name_is_a_403() {
        let api = api();
        for claims in [&[("email", "a@b.c")][..], &[("sub", "a b;rm -rf /")][..]] {
            let r = handle(&api, &jwt("sub"), post(Some(claims))).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{claims:?}");
            let b = body_json(&r);
            assert_eq!(b["error"]["code"], "forbidden");
            assert!(
                b["error"]["message"].as_str().unwrap().contains("`sub`"),
                "{b}"
            );
            assert!(!b.to_string().contains("rm -rf"), "{b}");
        }
        assert!(api.queue.sent().is_empty());
    }

    #[tokio::test]
    async fn with_auth_off_the_body_user_is_honoured_and_claims_are_ignored() {
        let api = api();
        let r = handle(&api, &Auth::Off, post(Some(&[("sub", "bob")]))).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let id = body_json(&r)["id"].as_str().unwrap().to_owned();
        let task = api.get(&id).await.unwrap();
        assert_eq!(serde_json::to_value(&task).unwrap()["user"], "mallory");
    }

    #[test]
    fn percent_decoding_handles_plus_and_rejects_broken_escapes() {
        assert_eq!(percent_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%e2%82"), None);
        assert_eq!(percent_decode("%"), None);
    }
}
