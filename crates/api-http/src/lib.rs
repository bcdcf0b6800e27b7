//! The HTTP API: the axum `Router`, handlers, extractors, `problem+json` errors,
//! the OpenAPI document (generated from the handlers with utoipa) and the HTTP
//! middleware (request ids, tracing, timeouts, panics, body limits).
//!
//! The JSON shapes and the paths are the contract's (`api_types`): this crate
//! shows domain values as those types (`dto.rs`) and registers its handlers
//! under those paths. It depends on `domain`, the contract and the edge support
//! (`http_kit`): repositories, caches and identity providers reach it through
//! domain traits inside [`AppState`], wired by the `app` crate.

mod dto;
mod error;
mod extract;
mod metrics;
mod problems;
mod readiness;
mod routes;
mod state;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use http_kit::limit::PerIp;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;
pub use readiness::{Readiness, ReadinessProbe, ServiceStatus};
pub use state::{AppState, Services};

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Longest a request may take before it is answered 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "codezest-auth",
        description = "Accounts, sessions, JWT access tokens, rotating refresh tokens and profiles. \
                       Every error is an RFC 9457 `application/problem+json` document with a stable `code`.",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&BearerAuth),
    // Every failure answers one (`document_common_failures` says where).
    components(schemas(api_types::Problem, api_types::FieldProblem)),
    tags(
        (name = "auth", description = "Sign-up, sign-in, tokens"),
        (name = "sessions", description = "The user's devices"),
        (name = "gateway", description = "Forward-auth for reverse proxies in front of other services"),
        (name = "users", description = "The signed-in user"),
        (name = "account", description = "Password reset, email verification and change, the account's audit trail"),
        (name = "mfa", description = "Second factors: TOTP, recovery codes, completing a sign-in that answered `mfa_required`"),
        (name = "passkeys", description = "Passkeys (WebAuthn): registration, management, passwordless sign-in"),
        (name = "oauth", description = "Sign-in with Google, GitHub or any OpenID Connect provider; linking providers"),
        (name = "oauth2", description = "For other services: token introspection (RFC 7662), revocation (RFC 7009), server metadata (RFC 8414)"),
        (name = "admin", description = "Administration (role `admin`): users, roles, API clients"),
        (name = "system", description = "Health, readiness, keys"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // API clients at the OAuth 2.0 endpoints (or `client_secret_post`).
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

fn api(state: Option<AppState>) -> OpenApiRouter<AppState> {
    let admin = match &state {
        Some(state) => routes::admin::router(state.clone()),
        // The document alone: the admin routes without their guard (which
        // needs the services); never served.
        None => routes::admin::routes(),
    };
    let mut limited = OpenApiRouter::new()
        .merge(routes::auth::limited())
        .merge(routes::account::limited())
        .merge(routes::mfa::limited())
        .merge(routes::passkeys::limited())
        .merge(routes::federation::limited());
    if let Some(state) = &state {
        let per_ip =
            PerIp::<ApiError>::new(Arc::clone(&state.limits), state.trusted_proxies.clone());
        limited = limited.route_layer(axum::middleware::from_fn_with_state(
            per_ip,
            http_kit::limit::per_ip::<ApiError>,
        ));
    }
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(limited)
        .merge(routes::auth::router())
        .merge(routes::gateway::router())
        .merge(routes::users::router())
        .merge(routes::account::router())
        .merge(routes::mfa::router())
        .merge(routes::passkeys::router())
        .merge(routes::federation::router())
        .merge(routes::provider::router())
        .merge(routes::oidc::router())
        .merge(admin)
        .merge(routes::system::router())
}

/// The OpenAPI document, as served at `/api-docs/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_parts(None).1
}

fn api_parts(state: Option<AppState>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut openapi) = api(state).split_for_parts();
    document_common_failures(&mut openapi);
    (routes, openapi)
}

/// The answers any operation may give whatever its handler says, so the
/// handlers' lists stay about their own outcomes: 503 (a dependency down, or the
/// request timed out) everywhere; 413 (over [`BODY_LIMIT`]) wherever a body is
/// read, and 400 (malformed JSON) and 415 (not `application/json`) wherever a
/// JSON body is. And every failure is a problem document: a 4xx or 5xx that a
/// handler or a family (`problems.rs`) lists without content gets the
/// `Problem` schema as `application/problem+json` here, once.
fn document_common_failures(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    let with_body = [
        ("400", "`malformed_json`: the body is not JSON"),
        ("413", "`payload_too_large`: the body is over 64 KiB"),
        (
            "415",
            "`unsupported_media_type`: the body is not `application/json`",
        ),
    ];
    let everywhere = [(
        "503",
        "`service_unavailable`: a dependency is down, or the request timed out",
    )];
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            // JSON bodies: the form-encoded OAuth 2.0 endpoints answer their
            // own 400 `invalid_request` instead of 400 `malformed_json` / 415.
            let body = operation.request_body.as_ref();
            let reads_json = body.is_some_and(|body| body.content.contains_key("application/json"));
            let responses = &mut operation.responses.responses;
            let common = everywhere.iter().chain(
                with_body
                    .iter()
                    .filter(|(status, _)| reads_json || (body.is_some() && *status == "413")),
            );
            for (status, description) in common {
                responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| problem(description));
            }
            for (status, response) in responses.iter_mut() {
                let failure = status.starts_with('4') || status.starts_with('5');
                if let RefOr::T(response) = response
                    && failure
                    && response.content.is_empty()
                {
                    response.content.insert(
                        "application/problem+json".to_owned(),
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    );
                }
            }
        }
    }
}

/// The whole service: every route of the API and, when given, the hosted
/// pages (a router of their own, with their own headers), all behind the
/// same middleware (request ids, the access log and HTTP metrics, panics,
/// timeouts).
pub fn router(state: AppState, pages: Option<Router>) -> Router {
    let (routes, openapi) = api_parts(Some(state.clone()));
    // Serialised once: the document never changes while the process runs.
    let openapi = axum::body::Bytes::from(
        serde_json::to_vec(&openapi).expect("the OpenAPI document serialises"),
    );
    let x_request_id = HeaderName::from_static("x-request-id");
    let access_trace_id_of = state.trace_id_of.clone();
    let http_metrics = metrics::HttpMetrics::default();
    let measure: http_kit::access::Measure = Arc::new(move |method, route, status, seconds| {
        http_metrics.record(method, route, status, seconds);
    });
    // A span per request only when spans are exported (a disabled span
    // costs nothing): the log lines get the request's fields from its context
    // (`http_kit::access`) either way.
    let trace_id_of = state.trace_id_of.clone();
    let trace = TraceLayer::new_for_http()
        .make_span_with(move |request: &Request| {
            let Some(trace_id_of) = &trace_id_of else {
                return tracing::Span::none();
            };
            let span = request_span(request);
            if let Some(trace_id) = trace_id_of(&span) {
                span.record("trace_id", trace_id);
            }
            span
        })
        // The access line and a 5xx's error line are the context's.
        .on_response(())
        .on_failure(());

    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            RequestIds::new(),
        ))
        .layer(SetSensitiveHeadersLayer::new([
            AUTHORIZATION,
            COOKIE,
            SET_COOKIE,
        ]))
        .layer(trace)
        .layer(axum::middleware::from_fn(move |request, next| {
            http_kit::access::log(access_trace_id_of.clone(), measure.clone(), request, next)
        }))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ));

    let api = routes
        .route(
            "/api-docs/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { ([(CONTENT_TYPE, "application/json")], openapi) }
            }),
        )
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Every answer is JSON (or a redirect): the JSON API's header set.
        .layer(http_kit::headers::json_api())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    // The pages come with their own fallback under `/ui/…`; anything else
    // unknown is the API's 404.
    let service = match pages {
        Some(pages) => api.merge(pages),
        None => api,
    };
    service.layer(middleware)
}

/// Request ids without a system call per request: a random 64-bit prefix drawn
/// once per process and a counter, shown as a UUID. Unique across instances
/// (the prefixes differ) and within one (the counter does not repeat).
#[derive(Clone)]
struct RequestIds {
    prefix: u64,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        Self {
            prefix: uuid::Uuid::new_v4().as_u64_pair().0,
            next: Arc::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut buf = [0_u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::from_u64_pair(self.prefix, n)
            .hyphenated()
            .encode_lower(&mut buf);
        HeaderValue::from_str(id).ok().map(RequestId::new)
    }
}

fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        trace_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    )
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    let problem = ApiError::internal("handler panicked").problem();
    error::problem_response(StatusCode::INTERNAL_SERVER_ERROR, &problem, false)
}
