//! The submit function's HTTP API: one axum router (routing, the caller check, body limits,
//! content types, use case errors as JSON error responses), served by the Lambda through
//! lambda_http and by `ccaas-local` through axum: the same code on AWS and locally. Behind the
//! `openapi` feature, [`openapi`] generates the API's OpenAPI document (docs/openapi.yaml).

use std::sync::Arc;

use axum::Router;
use axum::body::HttpBody;
use axum::extract::{Path, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use ccaas_app::ports::HostKeyPins;
use ccaas_app::{
    Api, Caller, Devices, Error, Impacts, IndexStore, LogStore, NoSearch, Sealer, Search,
    SessionStore, TaskQueue, TaskSearch, TaskStore, UsageStore,
};
use ccaas_aws::SdkConfig;
use ccaas_domain::submission::MAX_BODY_BYTES;
use ccaas_dynamo::{DynamoDevices, DynamoTaskStore};
use ccaas_opensearch::{OpenSearchError, OpenSearchTasks};
use ccaas_queue::{KmsSealer, SqsTaskQueue};
use ccaas_s3::{S3IndexFiles, S3Indexes, S3Logs};
use ccaas_search::replica::ReplicaSearch;
use lambda_http::request::RequestContext;
use tracing::{info, warn};

pub mod config;
#[cfg(feature = "openapi")]
pub mod openapi;

pub use config::{Config, SearchBackend};

/// The API over the AWS adapters.
pub type Deps = Api<DynamoTaskStore, SqsTaskQueue, S3Logs, KmsSealer>;

/// The production wiring: the API over the AWS adapters, from the config and the process's
/// SDK configuration (built once in `main`; every client shares its connection pool).
pub fn wire(config: &Config, sdk: &SdkConfig) -> Deps {
    let stack = &config.stack;
    Api {
        store: DynamoTaskStore::new(
            ccaas_dynamo::client(sdk),
            &stack.tasks_table,
            &stack.usage_table,
        ),
        queue: SqsTaskQueue::new(
            ccaas_queue::sqs_client(sdk),
            stack.queue_url.clone(),
            stack.high_queue_url.clone(),
        ),
        sealer: KmsSealer::new(ccaas_queue::kms_client(sdk), stack.kms_key.clone()),
        logs: S3Logs::new(ccaas_s3::client(sdk), &stack.bucket),
        base_url: config.api_url.clone(),
        clock: ccaas_app::Clock::default(),
        allow: config.device_allow.clone(),
        admins: config.admins.clone(),
        email: config.stack.mail_from.is_some(),
    }
}

/// The production wiring of `GET /v1/devices`: the open sessions of the devices table.
pub fn wire_devices(config: &Config, sdk: &SdkConfig) -> Devices<DynamoDevices> {
    Devices {
        sessions: DynamoDevices::new(ccaas_dynamo::client(sdk), &config.devices_table),
        base_url: config.api_url.clone(),
    }
}

/// The production wiring of `POST /v1/impact`: the coverage indexes on the bucket.
pub fn wire_impacts(config: &Config, sdk: &SdkConfig) -> Impacts<S3Indexes> {
    Impacts {
        indexes: S3Indexes::new(ccaas_s3::client(sdk), &config.stack.bucket),
    }
}

/// The search of the Lambda, as `CCAAS_SEARCH` says (docs/design.md, "Search").
pub enum LambdaSearch {
    /// `none`: every search answers `503 search_unavailable`.
    Off(NoSearch),
    /// `tantivy`: a copy, under `/tmp`, of the index the indexer function keeps on the
    /// bucket's `index/search/`, refreshed at most once a second.
    Tantivy(ReplicaSearch<S3IndexFiles>),
    /// `opensearch`: the OpenSearch index the indexer function writes.
    OpenSearch(OpenSearchTasks),
}

impl TaskSearch for LambdaSearch {
    async fn upsert(&self, docs: &[ccaas_app::SearchDoc]) -> Result<(), Error> {
        match self {
            LambdaSearch::Off(s) => s.upsert(docs).await,
            LambdaSearch::Tantivy(s) => s.upsert(docs).await,
            LambdaSearch::OpenSearch(s) => s.upsert(docs).await,
        }
    }

    async fn search(
        &self,
        query: &ccaas_domain::SearchQuery,
    ) -> Result<ccaas_app::SearchPage, Error> {
        match self {
            LambdaSearch::Off(s) => s.search(query).await,
            LambdaSearch::Tantivy(s) => s.search(query).await,
            LambdaSearch::OpenSearch(s) => s.search(query).await,
        }
    }
}

/// The production wiring of `GET /v1/search`: [`NoSearch`] (`503 search_unavailable`) with
/// `CCAAS_SEARCH=none`, the replica of the bucket's index with `tantivy`, the OpenSearch
/// index with `opensearch`. Errors: [`ccaas_opensearch::from_settings`]'s, at start, not at
/// the first search.
pub fn wire_search(
    config: &Config,
    sdk: &SdkConfig,
) -> Result<Search<LambdaSearch>, OpenSearchError> {
    let index = match config.search.backend {
        SearchBackend::None => LambdaSearch::Off(NoSearch),
        SearchBackend::Tantivy => LambdaSearch::Tantivy(ReplicaSearch::new(
            S3IndexFiles::new(ccaas_s3::client(sdk), &config.stack.bucket),
            config.search.index_dir.clone(),
        )),
        SearchBackend::OpenSearch => {
            LambdaSearch::OpenSearch(ccaas_opensearch::from_settings(&config.search, sdk)?)
        }
    };
    Ok(Search {
        index,
        base_url: config.api_url.clone(),
    })
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
        /// The claim that lists the caller's groups and the group whose members are admins
        /// (`CCAAS_AUTH_GROUPS_CLAIM`, `CCAAS_ADMIN_GROUP`), when an admin group is set.
        admin_group: Option<(String, String)>,
    },
}

impl Auth {
    /// The mode the configuration asks for.
    pub fn from_config(config: &Config) -> Self {
        if config.auth {
            Auth::Jwt {
                user_claim: config.auth_user_claim.clone(),
                admin_group: config
                    .admin_group
                    .clone()
                    .map(|g| (config.auth_groups_claim.clone(), g)),
            }
        } else {
            Auth::Off
        }
    }
}

/// What the API's handlers share: the use cases and how callers are known.
pub struct ApiState<S, Q, L, K, D, X, Y = NoSearch> {
    /// The task API.
    pub api: Api<S, Q, L, K>,
    /// The open sessions (`GET /v1/devices`).
    pub devices: Devices<D>,
    /// Test impact over the coverage indexes (`POST /v1/impact`); its index store also serves
    /// `GET /v1/compare`.
    pub impacts: Impacts<X>,
    /// Full-text search of tasks (`GET /v1/search`): [`LambdaSearch`] in the Lambda (the
    /// bucket's index, or `503 search_unavailable` with `CCAAS_SEARCH=none`), the tantivy
    /// index in `ccaas-local`.
    pub search: Search<Y>,
    /// How the caller is known.
    pub auth: Auth,
    /// Where `TasksSubmitted` goes ([`ccaas_app::metrics`]): stdout in the Lambda and
    /// `ccaas-local` ([`stdout_metrics`]).
    pub metrics: ccaas_app::Metrics,
}

/// The metrics sink of the submit function and `ccaas-local`: each EMF object as one line on
/// stdout, where CloudWatch Logs extracts the metrics. The objects hold task types and
/// numbers only: never a credential, host or user.
pub fn stdout_metrics() -> ccaas_app::Metrics {
    ccaas_app::Metrics::to(|line| {
        use std::io::Write;
        // One write of the whole line, so it never interleaves with a log line.
        let _ = std::io::stdout()
            .lock()
            .write_all(format!("{line}\n").as_bytes());
    })
}

/// The v1 API's routes, as (path, methods): the router below serves exactly these (each also
/// with a trailing `/`), the generated OpenAPI document (docs/openapi.yaml) has exactly these
/// operations (both held by tests), and scripts/test.d/12-api-contract.py holds template.yaml's
/// API Gateway routes to that document.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/v1/tasks", &["GET", "POST"]),
    ("/v1/tasks/{id}", &["GET", "DELETE"]),
    ("/v1/tasks/{id}/log", &["GET"]),
    ("/v1/devices", &["GET"]),
    ("/v1/devices/{device}/pin", &["DELETE"]),
    ("/v1/usage", &["GET"]),
    ("/v1/usage/coverage", &["GET"]),
    ("/v1/impact", &["POST"]),
    ("/v1/compare", &["GET"]),
    ("/v1/search", &["GET"]),
];

/// The handlers' view of the router's state.
type Shared<S, Q, L, K, D, X, Y> = AxState<Arc<ApiState<S, Q, L, K, D, X, Y>>>;

/// The one HTTP router of the API, served by the submit Lambda (through lambda_http) and by
/// `ccaas-local` (through axum) alike. Never fails: every error is a JSON response. The caller
/// is checked first, for every route (unknown ones included), so a request without verified
/// claims is a 401 whatever it asks for.
pub fn router<S, Q, L, K, D, X, Y>(state: Arc<ApiState<S, Q, L, K, D, X, Y>>) -> Router
where
    S: TaskStore + UsageStore + 'static,
    Q: TaskQueue + 'static,
    L: LogStore + 'static,
    K: Sealer + 'static,
    D: SessionStore + HostKeyPins + 'static,
    X: IndexStore + 'static,
    Y: TaskSearch + 'static,
{
    let mut r = Router::new();
    for suffix in ["", "/"] {
        r = r
            .route(
                &format!("/v1/tasks{suffix}"),
                get(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, req: Request| async move {
                        s.list(req).await
                    },
                )
                .post(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, req: Request| async move {
                        s.submit(req).await
                    },
                )
                .fallback(|| async { method_not_allowed("GET, POST") }),
            )
            .route(
                &format!("/v1/tasks/{{id}}{suffix}"),
                get(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, Path(id): Path<String>| async move {
                        s.get_task(&id).await
                    },
                )
                .delete(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>,
                     Path(id): Path<String>,
                     req: Request| async move { s.cancel(&id, req).await },
                )
                .fallback(|| async { method_not_allowed("GET, DELETE") }),
            )
            .route(
                &format!("/v1/impact{suffix}"),
                post(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, req: Request| async move {
                        s.impact(req).await
                    },
                )
                .fallback(|| async { method_not_allowed("POST") }),
            )
            .route(
                &format!("/v1/compare{suffix}"),
                get(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, req: Request| async move {
                        s.compare(req).await
                    },
                )
                .fallback(|| async { method_not_allowed("GET") }),
            )
            .route(
                &format!("/v1/devices{suffix}"),
                get(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, req: Request| async move {
                        s.devices(req).await
                    },
                )
                .fallback(|| async { method_not_allowed("GET") }),
            )
            .route(
                &format!("/v1/devices/{{device}}/pin{suffix}"),
                delete(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>,
                     Path(device): Path<String>,
                     req: Request| async move { s.drop_pin(&device, req).await },
                )
                .fallback(|| async { method_not_allowed("DELETE") }),
            )
            .route(
                &format!("/v1/usage{suffix}"),
                get(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, req: Request| async move {
                        s.usage(req).await
                    },
                )
                .fallback(|| async { method_not_allowed("GET") }),
            )
            .route(
                &format!("/v1/usage/coverage{suffix}"),
                get(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, req: Request| async move {
                        s.coverage(req).await
                    },
                )
                .fallback(|| async { method_not_allowed("GET") }),
            )
            .route(
                &format!("/v1/search{suffix}"),
                get(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, req: Request| async move {
                        s.search(req).await
                    },
                )
                .fallback(|| async { method_not_allowed("GET") }),
            )
            .route(
                &format!("/v1/tasks/{{id}}/log{suffix}"),
                get(
                    |AxState(s): Shared<S, Q, L, K, D, X, Y>, Path(id): Path<String>| async move {
                        s.log(&id).await
                    },
                )
                .fallback(|| async { method_not_allowed("GET") }),
            );
    }
    r.fallback(|| async { json_error(StatusCode::NOT_FOUND, "not_found", None, "no such route") })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            identify::<S, Q, L, K, D, X, Y>,
        ))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Logs each request's method, path and status (never its query, headers or body).
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = truncate(req.uri().path(), 200);
    let resp = next.run(req).await;
    info!(%method, %path, status = resp.status().as_u16(), "request");
    resp
}

/// Names the caller (a [`Caller`] in the request's extensions) or answers 401/403.
async fn identify<S, Q, L, K, D, X, Y>(
    AxState(state): Shared<S, Q, L, K, D, X, Y>,
    mut req: Request,
    next: Next,
) -> Response
where
    S: TaskStore,
    Q: TaskQueue,
    L: LogStore,
    K: Sealer,
    D: SessionStore + HostKeyPins,
    X: IndexStore,
    Y: TaskSearch,
{
    match caller(&state.auth, req.extensions().get::<RequestContext>()) {
        Ok(c) => {
            req.extensions_mut().insert(c);
            next.run(req).await
        }
        Err(refused) => refused,
    }
}

/// The caller named by the verified token's claims (put in the request context by API
/// Gateway's JWT authorizer, or by `ccaas-local`), or the 401/403 response.
#[allow(clippy::result_large_err)]
fn caller(auth: &Auth, context: Option<&RequestContext>) -> Result<Caller, Response> {
    let Auth::Jwt {
        user_claim,
        admin_group,
    } = auth
    else {
        return Ok(Caller::Anonymous);
    };
    let claims = match context {
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
    let in_admin_group = admin_group.as_ref().is_some_and(|(claim, group)| {
        claims
            .get(claim)
            .is_some_and(|c| config::groups_of(c).any(|g| g == group))
    });
    Ok(if in_admin_group {
        Caller::Admin(user.clone())
    } else {
        Caller::Verified(user.clone())
    })
}

/// A 401 with the `WWW-Authenticate` challenge of RFC 6750.
pub fn unauthorized(message: &str) -> Response {
    let mut r = json_error(StatusCode::UNAUTHORIZED, "unauthorized", None, message);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"ccaas\""),
    );
    r
}

impl<S, Q, L, K, D, X, Y> ApiState<S, Q, L, K, D, X, Y>
where
    S: TaskStore + UsageStore,
    Q: TaskQueue,
    L: LogStore,
    K: Sealer,
    D: SessionStore + HostKeyPins,
    X: IndexStore,
    Y: TaskSearch,
{
    /// `GET /v1/tasks`.
    async fn list(&self, req: Request) -> Response {
        let params = match parse_query(req.uri().query().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => return error_response(&e),
        };
        let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        reply(self.api.list(pairs).await, StatusCode::OK)
    }

    /// `DELETE /v1/tasks/{id}`: cancels a pending task (202 with the task).
    async fn cancel(&self, id: &str, req: Request) -> Response {
        let caller = req
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous);
        reply(self.api.cancel(&caller, id).await, StatusCode::ACCEPTED)
    }

    /// `DELETE /v1/devices/{device}/pin` (admins only; any caller with auth off).
    async fn drop_pin(&self, device: &str, req: Request) -> Response {
        let caller = req
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous);
        // Fails closed: with auth on, an admin call needs a verified caller.
        if matches!(self.auth, Auth::Jwt { .. }) && caller == Caller::Anonymous {
            return unauthorized("send a valid bearer token");
        }
        reply(
            self.devices
                .drop_pin(&caller, &self.api.admins, device)
                .await,
            StatusCode::OK,
        )
    }

    /// `GET /v1/usage` (admins only with auth on; any caller with auth off).
    async fn usage(&self, req: Request) -> Response {
        let caller = req
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous);
        // Fails closed: with auth on, an admin call needs a verified caller.
        if matches!(self.auth, Auth::Jwt { .. }) && caller == Caller::Anonymous {
            return unauthorized("send a valid bearer token");
        }
        let params = match parse_query(req.uri().query().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => return error_response(&e),
        };
        let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        reply(self.api.usage(&caller, pairs).await, StatusCode::OK)
    }

    /// `GET /v1/usage/coverage`.
    async fn coverage(&self, req: Request) -> Response {
        let params = match parse_query(req.uri().query().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => return error_response(&e),
        };
        let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        reply(self.api.coverage(pairs).await, StatusCode::OK)
    }

    /// `GET /v1/devices`.
    async fn devices(&self, req: Request) -> Response {
        let params = match parse_query(req.uri().query().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => return error_response(&e),
        };
        let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        reply(self.devices.list(pairs).await, StatusCode::OK)
    }

    /// `POST /v1/impact`: a JSON body of at most [`ccaas_app::impact::MAX_IMPACT_BODY`] bytes.
    async fn impact(&self, req: Request) -> Response {
        use ccaas_app::impact::MAX_IMPACT_BODY;
        let (parts, body) = req.into_parts();
        if let Some(r) = not_json(&parts.headers, "send the diff as application/json") {
            return r;
        }
        let body = match read_capped(body, MAX_IMPACT_BODY).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        reply(self.impacts.impact(&body).await, StatusCode::OK)
    }

    /// `GET /v1/compare`: two end tasks' coverage, line by line. Any caller who may read tasks
    /// may compare them.
    async fn compare(&self, req: Request) -> Response {
        let params = match parse_query(req.uri().query().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => return error_response(&e),
        };
        let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        reply(
            ccaas_app::compare::compare(&self.api.store, &self.impacts.indexes, pairs).await,
            StatusCode::OK,
        )
    }

    /// `GET /v1/search`.
    async fn search(&self, req: Request) -> Response {
        let params = match parse_query(req.uri().query().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => return error_response(&e),
        };
        let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        reply(self.search.search(pairs).await, StatusCode::OK)
    }

    /// `GET /v1/tasks/{id}`.
    async fn get_task(&self, id: &str) -> Response {
        reply(self.api.get(id).await, StatusCode::OK)
    }

    /// `GET /v1/tasks/{id}/log`.
    async fn log(&self, id: &str) -> Response {
        match self.api.log(id).await {
            Ok(bytes) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-ndjson")],
                bytes,
            )
                .into_response(),
            Err(e) => error_response(&e),
        }
    }

    /// `POST /v1/tasks`.
    async fn submit(&self, req: Request) -> Response {
        let caller = req
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous);
        let (parts, body) = req.into_parts();
        if let Some(r) = not_json(&parts.headers, "send the task as application/json") {
            return r;
        }
        let body = match read_capped(body, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let key = match parts.headers.get("idempotency-key") {
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
        match self.api.submit(&caller, key, &body).await {
            Ok(accepted) => {
                let location = accepted.view.selflink.clone();
                let mut resp = json_response(StatusCode::ACCEPTED, &accepted.view);
                if let Ok(v) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                if accepted.replayed {
                    resp.headers_mut()
                        .insert("idempotent-replay", HeaderValue::from_static("true"));
                } else {
                    let task_type = accepted.view.task_type;
                    self.metrics.record(
                        ccaas_app::metrics::Event::Submitted { task_type },
                        self.api.clock.now_ms(),
                    );
                }
                resp
            }
            Err(e) => error_response(&e),
        }
    }
}

fn reply<T: serde::Serialize>(r: Result<T, Error>, ok: StatusCode) -> Response {
    match r {
        Ok(v) => json_response(ok, &v),
        Err(e) => error_response(&e),
    }
}

fn json_response<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    let body = serde_json::to_string(v).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The body of every error response.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Error))]
pub struct ErrorBody<'a> {
    /// What went wrong.
    pub error: ErrorDetail<'a>,
}

/// The `error` member of an error response.
#[derive(serde::Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = openapi::ERROR_CODES)
)]
pub struct ErrorDetail<'a> {
    /// A stable code from the API's error table (docs/api.md, "Errors").
    pub code: &'a str,
    /// The field, query parameter or header at fault (such as `data.modules[1]` or
    /// `Idempotency-Key`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub field: Option<&'a str>,
    /// What is wrong, for people. Never quotes a secret.
    pub message: &'a str,
    /// The task's current status, on a `409 task_not_pending`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = ccaas_domain::Status))]
    pub status: Option<&'a str>,
}

fn json_error(status: StatusCode, code: &str, field: Option<&str>, message: &str) -> Response {
    let error = ErrorDetail {
        code,
        field,
        message,
        status: None,
    };
    json_response(status, &ErrorBody { error })
}

fn method_not_allowed(allow: &'static str) -> Response {
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
pub fn error_response(e: &Error) -> Response {
    match e {
        Error::Invalid(f) => {
            let field = (!f.field.is_empty()).then_some(f.field.as_str());
            json_error(StatusCode::BAD_REQUEST, f.code, field, &f.message)
        }
        Error::NotFound => json_error(StatusCode::NOT_FOUND, "not_found", None, "no such task"),
        Error::Absent(f) => {
            let field = (!f.field.is_empty()).then_some(f.field.as_str());
            json_error(StatusCode::NOT_FOUND, f.code, field, &f.message)
        }
        Error::Incompatible(f) => {
            let field = (!f.field.is_empty()).then_some(f.field.as_str());
            json_error(StatusCode::CONFLICT, f.code, field, &f.message)
        }
        Error::IdempotencyConflict => json_error(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            Some("Idempotency-Key"),
            "this key was already used with a different body",
        ),
        Error::NotPending(status) => {
            let error = ErrorDetail {
                code: "task_not_pending",
                field: None,
                message: &e.to_string(),
                status: Some(status.as_str()),
            };
            json_response(StatusCode::CONFLICT, &ErrorBody { error })
        }
        Error::Forbidden(why) => json_error(StatusCode::FORBIDDEN, "not_owner", None, why),
        Error::Refused(f) => {
            let field = (!f.field.is_empty()).then_some(f.field.as_str());
            json_error(StatusCode::FORBIDDEN, f.code, field, &f.message)
        }
        Error::Unprocessable(f) => {
            let field = (!f.field.is_empty()).then_some(f.field.as_str());
            json_error(StatusCode::UNPROCESSABLE_ENTITY, f.code, field, &f.message)
        }
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
        Error::NotConfigured { code, message } => {
            json_error(StatusCode::SERVICE_UNAVAILABLE, code, None, message)
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

/// A 415 unless the request's Content-Type is `application/json` (parameters allowed).
#[allow(clippy::result_large_err)]
fn not_json(headers: &axum::http::HeaderMap, detail: &str) -> Option<Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    (!mime.eq_ignore_ascii_case("application/json")).then(|| {
        json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Some("Content-Type"),
            detail,
        )
    })
}

/// The body, or a 413. A body whose length is known (the Lambda's, or a request with
/// Content-Length) is refused with its size before it is read; any other is read one byte
/// past the limit at most.
#[allow(clippy::result_large_err)]
async fn read_capped(body: axum::body::Body, max: usize) -> Result<axum::body::Bytes, Response> {
    let too_large = |detail: String| {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            None,
            &detail,
        )
    };
    if let Some(n) = body.size_hint().exact()
        && n > max as u64
    {
        return Err(too_large(format!(
            "the body is {n} bytes; the limit is {max}"
        )));
    }
    match axum::body::to_bytes(body, max + 1).await {
        Ok(b) if b.len() <= max => Ok(b),
        _ => Err(too_large(format!("the body is over the {max}-byte limit"))),
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccaas_app::TaskSearch;
    use ccaas_app::memory::{
        MemoryIndexes, MemoryLogs, MemoryQueue, MemorySealer, MemorySessions, MemoryStore,
    };
    use ccaas_domain::{Task, TaskId};
    use lambda_http::{Body, RequestExt};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    type State = Arc<
        ApiState<MemoryStore, MemoryQueue, MemoryLogs, MemorySealer, MemorySessions, MemoryIndexes>,
    >;

    fn api(auth: Auth) -> State {
        api_with_admins(auth, "")
    }

    /// The state with `admins` (`CCAAS_ADMIN_USERS`'s syntax) as the admins.
    fn api_with_admins(auth: Auth, admins: &str) -> State {
        Arc::new(ApiState {
            api: Api {
                store: MemoryStore::default(),
                queue: MemoryQueue::default(),
                sealer: MemorySealer::default(),
                logs: MemoryLogs::default(),
                base_url: String::new(),
                clock: ccaas_app::Clock::default(),
                allow: Default::default(),
                admins: ccaas_app::Admins::parse(admins).unwrap(),
                email: false,
            },
            devices: Devices {
                sessions: MemorySessions::default(),
                base_url: String::new(),
            },
            impacts: Impacts {
                indexes: MemoryIndexes::default(),
            },
            search: Search {
                index: NoSearch,
                base_url: String::new(),
            },
            auth,
            metrics: Default::default(),
        })
    }

    /// One request through the router, as the Lambda runtime hands it over.
    async fn handle(state: &State, req: lambda_http::Request) -> Response {
        use tower::ServiceExt;
        match router(state.clone()).oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    const BODY: &str = r#"{"type":"code-coverage-start","user":"mallory",
        "data":{"device":{"host":"127.0.0.1","username":"root","password":"pw"},"modules":["tmm"]}}"#;

    fn post(claims: Option<&[(&str, &str)]>) -> lambda_http::Request {
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/tasks")
            .header("content-type", "application/json")
            .body(Body::from(BODY))
            .unwrap();
        with_claims(req, claims)
    }

    /// `req` as API Gateway hands it over after its JWT authorizer accepted a token with
    /// these claims (`None`: no token, no authorizer context).
    fn with_claims(
        req: lambda_http::Request,
        claims: Option<&[(&str, &str)]>,
    ) -> lambda_http::Request {
        let Some(c) = claims else { return req };
        let claims: serde_json::Map<String, serde_json::Value> =
            c.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let ctx = serde_json::from_value(json!({
            "http": {"method": req.method().as_str(), "path": req.uri().path()},
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
        }))
        .unwrap();
        req.with_request_context(RequestContext::ApiGatewayV2(ctx))
    }

    fn jwt(claim: &str) -> Auth {
        Auth::Jwt {
            user_claim: claim.into(),
            admin_group: None,
        }
    }

    #[tokio::test]
    async fn with_auth_on_a_member_of_the_admin_group_drops_a_pin_and_others_may_not() {
        let state = Arc::into_inner(api(Auth::Jwt {
            user_claim: "sub".into(),
            admin_group: Some(("cognito:groups".into(), "ccaas-admins".into())),
        }))
        .unwrap();
        let state = Arc::new(state);
        let pins = &state.devices.sessions;
        pins.pin("127.0.0.1", 22, "SHA256:a").await.unwrap();
        for groups in ["[ops]", "[ccaas-admins-x]", "ccaas", ""] {
            let claims = Some(&[("sub", "mallory"), ("cognito:groups", groups)][..]);
            let r = handle(&state, drop_pin_request("127.0.0.1:22", claims)).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{groups}");
        }
        // API Gateway's form of an array claim, then ccaas-local's JSON text.
        for groups in ["[ops ccaas-admins]", r#"["ops","ccaas-admins"]"#] {
            pins.pin("127.0.0.1", 22, "SHA256:a").await.unwrap();
            let claims = Some(&[("sub", "ops"), ("cognito:groups", groups)][..]);
            let r = handle(&state, drop_pin_request("127.0.0.1:22", claims)).await;
            assert_eq!(r.status(), StatusCode::OK, "{groups}");
            assert_eq!(body_json(r).await["dropped"], true);
        }
    }

    async fn body_json(r: Response) -> serde_json::Value {
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&b).unwrap()
    }

    /// `DELETE /v1/devices/{device}/pin` by a caller with these claims (`None`: no token).
    fn drop_pin_request(device: &str, claims: Option<&[(&str, &str)]>) -> lambda_http::Request {
        let req = lambda_http::http::Request::builder()
            .method("DELETE")
            .uri(format!("/v1/devices/{device}/pin"))
            .body(Body::Empty)
            .unwrap();
        with_claims(req, claims)
    }

    fn impact_request(content_type: &str, body: Vec<u8>) -> lambda_http::Request {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/impact")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn the_impact_route_answers_json_and_refuses_bad_bodies_with_4xx_naming_the_field() {
        let state = api(Auth::Off);
        let diff = "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n";
        let ok = serde_json::to_vec(&json!({"diff": diff})).unwrap();
        let r = handle(&state, impact_request("application/json", ok.clone())).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v = body_json(r).await;
        assert_eq!(v["changed_lines"], 1);
        assert_eq!(v["sessions"], json!([]));
        assert_eq!(v["build"], serde_json::Value::Null);
        let r = handle(&state, impact_request("text/plain", ok)).await;
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let bad = serde_json::to_vec(&json!({"diff": "nothing"})).unwrap();
        let r = handle(&state, impact_request("application/json", bad)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let e = body_json(r).await;
        assert_eq!(e["error"]["code"], "invalid_field");
        assert_eq!(e["error"]["field"], "diff");
        let huge = vec![b' '; ccaas_app::impact::MAX_IMPACT_BODY + 1];
        let r = handle(&state, impact_request("application/json", huge)).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    fn compare_request(query: &str, claims: Option<&[(&str, &str)]>) -> lambda_http::Request {
        let req = lambda_http::http::Request::builder()
            .method("GET")
            .uri(format!("/v1/compare{query}"))
            .body(Body::Empty)
            .unwrap();
        with_claims(req, claims)
    }

    #[tokio::test]
    async fn the_compare_route_answers_json_and_maps_refusals_to_400_404_409_naming_the_field() {
        use ccaas_app::ports::IndexStore;
        let state = api(jwt("sub"));
        let build = ccaas_domain::BuildId::parse("17.1.0-0.0.16").unwrap();
        let mut ids = Vec::new();
        for (n, executed) in [(1u64, vec![1u32]), (2, vec![2])] {
            let session = TaskId::from_parts(1_764_000_000_000 + n, 1);
            let id = TaskId::from_parts(1_764_000_100_000 + n, 1);
            let mut t = ccaas_app::contract::task_store::task(id.clone(), "alice");
            t.status = ccaas_domain::Status::Succeeded;
            t.result = Some(json!({"session": session.to_string(), "build": build.to_string()}));
            state.api.store.create(&t, None).await.unwrap();
            let mut ib = ccaas_impact::IndexBuilder::new(Default::default());
            ib.file("src/a.c", [1, 2, 3], executed);
            let bytes = ib.finish().unwrap();
            state
                .impacts
                .indexes
                .put_index(&build, &session, bytes)
                .await
                .unwrap();
            ids.push(id.to_string());
        }
        let bob = Some(&[("sub", "bob")][..]);
        let q = format!("?base={}&head={}", ids[0], ids[1]);
        let r = handle(&state, compare_request(&q, None)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Another user may compare, as they may read the tasks.
        let r = handle(&state, compare_request(&q, bob)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v = body_json(r).await;
        assert_eq!(v["files"][0]["file"], "src/a.c");
        assert_eq!(v["files"][0]["newly_covered"], json!([2]));
        assert_eq!(v["files"][0]["lost"], json!([1]));
        assert_eq!(v["delta"]["covered"], 0);
        let unknown = TaskId::from_parts(1_764_000_200_000, 9);
        for (query, status, code, field) in [
            (format!("?head={}", ids[1]), 400, "missing_field", "base"),
            ("?base=x&head=y".to_owned(), 400, "invalid_field", "base"),
            (
                format!("?base={}&head={unknown}", ids[0]),
                404,
                "not_found",
                "head",
            ),
            (
                format!("?base={unknown}&head={}", ids[0]),
                404,
                "not_found",
                "base",
            ),
        ] {
            let r = handle(&state, compare_request(&query, bob)).await;
            assert_eq!(r.status().as_u16(), status, "{query}");
            let e = body_json(r).await;
            assert_eq!(e["error"]["code"], code, "{query}");
            assert_eq!(e["error"]["field"], field, "{query}");
        }
        let mut start = ccaas_app::contract::task_store::task(unknown.clone(), "alice");
        start.task_type = ccaas_domain::TaskType::CoverageStart;
        state.api.store.create(&start, None).await.unwrap();
        let query = format!("?base={}&head={unknown}", ids[0]);
        let r = handle(&state, compare_request(&query, bob)).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(body_json(r).await["error"]["code"], "not_comparable");
        let r = handle(&state, compare_request(&q.replace("?", "/?"), bob)).await;
        assert_eq!(r.status(), StatusCode::OK, "with a trailing slash too");
    }

    #[tokio::test]
    async fn with_auth_on_only_a_listed_admin_drops_a_pin() {
        let mut state = Arc::into_inner(api(jwt("sub"))).unwrap();
        state.api.admins = ccaas_app::Admins::parse("ops").unwrap();
        let pins = &state.devices.sessions;
        pins.pin("127.0.0.1", 22, "SHA256:a").await.unwrap();
        let state = Arc::new(state);
        let r = handle(&state, drop_pin_request("127.0.0.1:22", None)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let mallory = Some(&[("sub", "mallory")][..]);
        let r = handle(&state, drop_pin_request("127.0.0.1:22", mallory)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(body_json(r).await["error"]["code"], "forbidden");
        let pins = &state.devices.sessions;
        assert!(pins.pinned("127.0.0.1", 22).await.unwrap().is_some());
        // `127.1%3A22`: the path segment percent-encoded, another spelling of the device.
        let ops = Some(&[("sub", "ops")][..]);
        let r = handle(&state, drop_pin_request("127.1%3A22", ops)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            body_json(r).await,
            json!({"device": "127.0.0.1:22", "dropped": true})
        );
        assert!(pins.pinned("127.0.0.1", 22).await.unwrap().is_none());
        let r = handle(&state, drop_pin_request("%5B%3A%3A1%5D%3A22", ops)).await;
        assert_eq!(
            body_json(r).await,
            json!({"device": "[::1]:22", "dropped": false})
        );
    }

    #[tokio::test]
    async fn a_task_for_a_device_outside_the_allow_list_is_a_403_naming_the_host_field() {
        let mut state = Arc::into_inner(api(Auth::Off)).unwrap();
        // BODY names 127.0.0.1, outside this one-address list.
        state.api.allow = ccaas_domain::DeviceAllow::parse("127.0.0.2/32").unwrap();
        let state = Arc::new(state);
        let r = handle(&state, post(None)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let e = body_json(r).await;
        assert_eq!(e["error"]["code"], "device_not_allowed");
        assert_eq!(e["error"]["field"], "data.device.host");
        assert!(state.api.store.is_empty());
    }

    #[tokio::test]
    async fn with_auth_on_the_verified_claim_becomes_the_user_whatever_the_body_says() {
        let api = api(jwt("email"));
        let r = handle(
            &api,
            post(Some(&[("sub", "u-1"), ("email", "alice@example.com")])),
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let id = body_json(r).await["id"].as_str().unwrap().to_owned();
        let task = api.api.get(&id).await.unwrap();
        assert_eq!(
            serde_json::to_value(&task).unwrap()["user"],
            "alice@example.com"
        );
    }

    #[tokio::test]
    async fn with_auth_on_a_request_without_verified_claims_is_a_401_and_writes_nothing() {
        let api = api(jwt("sub"));
        let r = handle(&api, post(None)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(body_json(r).await["error"]["code"], "unauthorized");
        assert!(api.api.queue.sent().is_empty());
        for uri in ["/v1/tasks", "/v1/nowhere"] {
            let get = lambda_http::http::Request::builder()
                .uri(uri)
                .body(Body::Empty)
                .unwrap();
            assert_eq!(
                handle(&api, get).await.status(),
                StatusCode::UNAUTHORIZED,
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn a_token_whose_user_claim_is_missing_or_not_a_user_name_is_a_403() {
        let api = api(jwt("sub"));
        for claims in [&[("email", "a@b.c")][..], &[("sub", "a b;rm -rf /")][..]] {
            let r = handle(&api, post(Some(claims))).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{claims:?}");
            let b = body_json(r).await;
            assert_eq!(b["error"]["code"], "forbidden");
            assert!(
                b["error"]["message"].as_str().unwrap().contains("`sub`"),
                "{b}"
            );
            assert!(!b.to_string().contains("rm -rf"), "{b}");
        }
        assert!(api.api.queue.sent().is_empty());
    }

    #[tokio::test]
    async fn with_auth_off_the_body_user_is_honoured_and_claims_are_ignored() {
        let api = api(Auth::Off);
        let r = handle(&api, post(Some(&[("sub", "bob")]))).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let id = body_json(r).await["id"].as_str().unwrap().to_owned();
        let task = api.api.get(&id).await.unwrap();
        assert_eq!(serde_json::to_value(&task).unwrap()["user"], "mallory");
    }

    #[tokio::test]
    async fn a_lambda_body_over_the_limit_is_a_413_naming_its_size_and_writes_nothing() {
        let api = api(Auth::Off);
        let big = "x".repeat(MAX_BODY_BYTES + 10);
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/tasks")
            .header("content-type", "application/json")
            .body(Body::from(big))
            .unwrap();
        let r = handle(&api, req).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let b = body_json(r).await;
        assert_eq!(b["error"]["code"], "body_too_large");
        assert_eq!(
            b["error"]["message"],
            format!(
                "the body is {} bytes; the limit is 65536",
                MAX_BODY_BYTES + 10
            )
        );
        assert!(api.api.queue.sent().is_empty());
    }

    #[tokio::test]
    async fn search_answers_hits_bad_queries_a_400_naming_q_and_no_index_a_503() {
        use ccaas_app::memory::MemorySearch;
        let plain = Arc::into_inner(api(Auth::Off)).unwrap();
        let index = MemorySearch::default();
        let task: Task = serde_json::from_value(json!({
            "id": "01M8KGNN77WZXS3YCVX8M82WG8", "name": "nightly tmm", "user": "alice",
            "type": "code-coverage-end", "priority": "normal", "status": "failed",
            "version": 2, "created": "2026-11-29T11:22:31.015Z",
            "updated": "2026-11-29T11:22:32.015Z", "device": "10.1.2.3", "port": 22,
            "modules": ["tmm"], "session": null, "flush": "signal", "webhook": null,
            "lease_until": null, "result": null,
            "error": {"code": "no_data", "message": "no counters were written"},
        }))
        .unwrap();
        index
            .upsert(&[ccaas_app::search::doc_of(&task, None)])
            .await
            .unwrap();
        let state = Arc::new(ApiState {
            api: plain.api,
            devices: plain.devices,
            impacts: plain.impacts,
            search: Search {
                index,
                base_url: "https://api.example".into(),
            },
            auth: Auth::Off,
            metrics: Default::default(),
        });
        let get = |uri: &str| {
            lambda_http::http::Request::builder()
                .uri(uri)
                .body(Body::Empty)
                .unwrap()
        };
        let r = router(state.clone())
            .oneshot(get("/v1/search?q=counters+user%3Aalice"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = body_json(r).await;
        assert_eq!(
            (body["count"].clone(), body["total"].clone()),
            (json!(1), json!(1))
        );
        let hit = &body["hits"][0];
        assert_eq!(hit["id"], "01M8KGNN77WZXS3YCVX8M82WG8");
        assert_eq!(
            hit["selflink"],
            "https://api.example/v1/tasks/01M8KGNN77WZXS3YCVX8M82WG8"
        );
        assert_eq!(
            (hit["device"].clone(), hit["type"].clone()),
            (json!("10.1.2.3:22"), json!("code-coverage-end"))
        );
        assert_eq!(hit["snippet"]["field"], "error");
        assert_eq!(body["next"], Value::Null);
        for (uri, field) in [
            ("/v1/search?q=%22open", "q"),
            ("/v1/search?q=stauts%3Afailed", "q"),
            ("/v1/search?limit=0", "limit"),
            ("/v1/search?cursor=zz", "cursor"),
            ("/v1/search?sort=new", "sort"),
        ] {
            let r = router(state.clone()).oneshot(get(uri)).await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(body_json(r).await["error"]["field"], field, "{uri}");
        }
        // The Lambda's wiring has no index: a 503 that says so.
        let r = handle(&api(Auth::Off), get("/v1/search?q=x")).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let e = body_json(r).await;
        assert_eq!(e["error"]["code"], "search_unavailable");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("SearchBackend=none")
        );
    }

    #[tokio::test]
    async fn routes_answer_with_and_without_a_trailing_slash_and_other_methods_get_a_json_405() {
        let api = api(Auth::Off);
        let req = |m: &str, uri: &str| {
            lambda_http::http::Request::builder()
                .method(m)
                .uri(uri)
                .body(Body::Empty)
                .unwrap()
        };
        for uri in ["/v1/tasks", "/v1/tasks/"] {
            assert_eq!(
                handle(&api, req("GET", uri)).await.status(),
                StatusCode::OK,
                "{uri}"
            );
        }
        let r = handle(&api, req("DELETE", "/v1/tasks")).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, POST");
        assert_eq!(body_json(r).await["error"]["code"], "method_not_allowed");
        let r = handle(
            &api,
            req("PUT", "/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV/log/"),
        )
        .await;
        assert_eq!(r.headers()[header::ALLOW], "GET");
        let r = handle(&api, req("GET", "/v2/tasks")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(body_json(r).await["error"]["code"], "not_found");
    }

    #[tokio::test]
    async fn the_router_serves_exactly_the_route_table() {
        let api = api(Auth::Off);
        let id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
        let all = ["GET", "POST", "PUT", "DELETE", "PATCH"];
        for (path, methods) in ROUTES {
            let uri = path.replace("{id}", id);
            for m in all {
                let req = lambda_http::http::Request::builder()
                    .method(m)
                    .uri(&uri)
                    .body(Body::Empty)
                    .unwrap();
                let r = handle(&api, req).await;
                let allow = r.headers().get(header::ALLOW).cloned();
                let (status, body) = (r.status(), body_json(r).await);
                if methods.contains(&m) {
                    assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {uri}");
                    assert_ne!(body["error"]["message"], "no such route", "{m} {uri}");
                } else {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {uri}");
                    assert_eq!(allow.unwrap(), methods.join(", ").as_str(), "{m} {uri}");
                }
            }
        }
        for uri in [
            "/",
            "/v1",
            "/v1/task",
            "/v1/tasks/x/logs",
            "/v1/tasks/x/log/y",
        ] {
            let req = lambda_http::http::Request::builder()
                .uri(uri)
                .body(Body::Empty)
                .unwrap();
            let r = handle(&api, req).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(body_json(r).await["error"]["message"], "no such route");
        }
    }

    #[tokio::test]
    async fn an_error_body_is_written_byte_for_byte_as_before_the_typed_error_body() {
        for (field, want) in [
            (
                Some("name"),
                r#"{"error":{"code":"invalid_field","field":"name","message":"m"}}"#,
            ),
            (None, r#"{"error":{"code":"invalid_field","message":"m"}}"#),
        ] {
            let r = json_error(StatusCode::BAD_REQUEST, "invalid_field", field, "m");
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
            let b = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
            assert_eq!(std::str::from_utf8(&b).unwrap(), want);
        }
    }

    #[tokio::test]
    async fn an_accepted_task_is_counted_once_as_submitted_and_a_replay_is_not() {
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        let mut state = Arc::into_inner(api(Auth::Off)).unwrap();
        state.metrics = ccaas_app::Metrics::to(move |l| seen.lock().unwrap().push(l));
        let state = Arc::new(state);
        let keyed = || {
            let mut r = post(None);
            r.headers_mut()
                .insert("idempotency-key", HeaderValue::from_static("k1"));
            r
        };
        for req in [keyed(), keyed()] {
            assert_eq!(handle(&state, req).await.status(), StatusCode::ACCEPTED);
        }
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (v["TasksSubmitted"].clone(), v["Type"].clone()),
            (json!(1), json!("code-coverage-start"))
        );
        assert!(!lines[0].contains("mallory") && !lines[0].contains("pw"));
    }

    /// `GET <uri>` by a caller with these claims (`None`: no token).
    fn get_request(uri: &str, claims: Option<&[(&str, &str)]>) -> lambda_http::Request {
        let req = lambda_http::http::Request::builder()
            .uri(uri)
            .body(Body::Empty)
            .unwrap();
        with_claims(req, claims)
    }

    #[tokio::test]
    async fn with_auth_on_only_an_admin_reads_the_usage_history_and_it_counts_submitted_tasks() {
        let state = api_with_admins(jwt("sub"), "root");
        for who in ["alice", "root"] {
            let r = handle(&state, post(Some(&[("sub", who)]))).await;
            assert_eq!(r.status(), StatusCode::ACCEPTED);
        }
        let r = handle(&state, get_request("/v1/usage", Some(&[("sub", "alice")]))).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(body_json(r).await["error"]["code"], "forbidden");
        let r = handle(&state, get_request("/v1/usage", None)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = handle(&state, get_request("/v1/usage/", Some(&[("sub", "root")]))).await;
        assert_eq!(r.status(), StatusCode::OK);
        let b = body_json(r).await;
        assert_eq!(
            (b["by"].as_str(), b["interval"].as_str()),
            (Some("user"), Some("day"))
        );
        let mut users: Vec<(String, u64)> = b["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["group"].as_str().unwrap().to_owned(),
                    x["requested"].as_u64().unwrap(),
                )
            })
            .collect();
        users.sort();
        assert_eq!(users, [("alice".to_string(), 1), ("root".to_string(), 1)]);
        assert_eq!(b["buckets"][0]["duration_ms"], serde_json::Value::Null);
        assert_eq!(b["failures"], json!([]));
        // Coverage trends are anyone's to read, as tasks are.
        let r = handle(
            &state,
            get_request(
                "/v1/usage/coverage?device=127.0.0.1:22",
                Some(&[("sub", "alice")]),
            ),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            body_json(r).await,
            json!({"points": [], "truncated": false})
        );
    }

    #[tokio::test]
    async fn bad_usage_queries_are_400s_naming_the_field() {
        let api = api(Auth::Off);
        for (uri, code, field) in [
            ("/v1/usage?by=team", "invalid_field", "by"),
            ("/v1/usage?interval=month", "invalid_field", "interval"),
            (
                "/v1/usage?from=2020-01-01&to=2026-01-01",
                "invalid_field",
                "to",
            ),
            ("/v1/usage?from=2026-13-01", "invalid_field", "from"),
            ("/v1/usage?limit=3", "unknown_field", "limit"),
            ("/v1/usage/coverage", "missing_field", "device"),
            (
                "/v1/usage/coverage?device=h:22&build=1-2",
                "invalid_field",
                "build",
            ),
            ("/v1/usage/coverage?build=..", "invalid_field", "build"),
            ("/v1/usage/coverage?device=h:22&to=x", "invalid_field", "to"),
        ] {
            let r = handle(&api, get_request(uri, None)).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}");
            let b = body_json(r).await;
            assert_eq!(b["error"]["code"], code, "{uri}");
            assert_eq!(b["error"]["field"], field, "{uri}");
        }
    }

    #[tokio::test]
    async fn a_bad_or_unbounded_date_range_is_a_400_naming_the_field() {
        let api = api(Auth::Off);
        for (query, field) in [
            ("from=yesterday", "from"),
            ("to=2026-02-30T00:00:00Z", "to"),
            ("from=2026-03-01T00:00:00Z&to=2026-02-01T00:00:00Z", "to"),
            ("from=2020-01-01&to=2026-01-01", "to"),
            ("device=127.0.0.1%3A0", "device"),
        ] {
            let req = lambda_http::http::Request::builder()
                .uri(format!("/v1/tasks?{query}"))
                .body(Body::Empty)
                .unwrap();
            let r = handle(&api, req).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
            let b = body_json(r).await;
            assert_eq!(b["error"]["code"], "invalid_field", "{query}");
            assert_eq!(b["error"]["field"], field, "{query}");
        }
    }

    #[tokio::test]
    async fn a_device_key_and_a_date_range_list_that_device_s_tasks_with_a_total() {
        let api = api(Auth::Off);
        assert_eq!(
            handle(&api, post(None)).await.status(),
            StatusCode::ACCEPTED
        );
        for (query, count) in [
            ("device=127.1%3A22&from=2020-01-01T00:00:00Z", 1),
            ("device=127.0.0.1%3A2222", 0),
            ("device=127.0.0.1&to=2020-01-01", 0),
        ] {
            let req = lambda_http::http::Request::builder()
                .uri(format!("/v1/tasks?{query}"))
                .body(Body::Empty)
                .unwrap();
            let r = handle(&api, req).await;
            assert_eq!(r.status(), StatusCode::OK, "{query}");
            let b = body_json(r).await;
            assert_eq!(
                (b["count"].clone(), b["total"].clone()),
                (json!(count), json!(count)),
                "{query}"
            );
        }
    }

    #[test]
    fn percent_decoding_handles_plus_and_rejects_broken_escapes() {
        assert_eq!(percent_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%e2%82"), None);
        assert_eq!(percent_decode("%"), None);
    }

    #[tokio::test]
    async fn the_lambda_reads_the_bucket_index_with_tantivy_opensearch_with_opensearch_and_answers_503_with_none()
     {
        // A region of its own: the signer needs one, whatever this machine's environment says.
        let sdk = ccaas_aws::sdk_config(std::time::Duration::from_secs(1))
            .await
            .to_builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let config = |backend: &'static str, endpoint: &'static str| {
            Config::read(&ccaas_aws::Env::new(move |k: &str| match k {
                "CCAAS_SEARCH" => Some(backend.to_string()),
                "CCAAS_OPENSEARCH_ENDPOINT" => Some(endpoint.to_string()),
                "CCAAS_DEVICE_ALLOW"
                | "CCAAS_MAIL_FROM"
                | "CCAAS_AUTH"
                | "CCAAS_ADMIN_GROUP"
                | "CCAAS_AWS_TIMEOUT_SECS"
                | "CCAAS_INDEX_DIR"
                | "CCAAS_OPENSEARCH_INDEX"
                | "CCAAS_OPENSEARCH_SERVICE" => None,
                k if k.starts_with("CCAAS_") => Some("x".to_string()),
                _ => None,
            }))
            .unwrap()
        };
        let q = ccaas_domain::SearchQuery::parse([("q", "tmm")]).unwrap();
        let off = wire_search(&config("none", ""), &sdk).unwrap();
        assert!(matches!(off.index, LambdaSearch::Off(_)));
        assert!(matches!(
            off.index.search(&q).await,
            Err(Error::NotConfigured {
                code: "search_unavailable",
                ..
            })
        ));
        let on = wire_search(&config("tantivy", ""), &sdk).unwrap();
        assert!(matches!(on.index, LambdaSearch::Tantivy(_)));
        // The replica refuses writes: the indexer function is the one writer.
        assert!(on.index.upsert(&[]).await.is_err());
        let os = wire_search(
            &config("opensearch", "https://abc.us-east-1.aoss.amazonaws.com"),
            &sdk,
        )
        .unwrap();
        assert!(matches!(os.index, LambdaSearch::OpenSearch(_)));
        // An endpoint OpenSearch cannot be is refused at start, not at the first search.
        let e = wire_search(&config("opensearch", "http://10.0.0.1:9200"), &sdk)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("endpoint"), "{e}");
    }
}
