//! The request's context and its access line.
//!
//! Every request runs inside a [`RequestContext`] — its method, matched route,
//! request id and (once authenticated) user — held in a task-local rather than
//! a `tracing` span: the log formatter (`app::telemetry`) prints it on every
//! line the request logs, and a request that logs nothing pays for no span
//! (its registry slot, its fields formatted into a string, enter and exit on
//! every poll). A span is still made when spans are exported (OpenTelemetry):
//! that is the `TraceLayer` in `api-http`.
//!
//! The access line — one per answered request — is written by a sink the
//! binary installs (`app::telemetry`: pre-formatted, batched), not through
//! `tracing`'s formatter: it costs a few hundred nanoseconds instead of a
//! per-event subscriber walk, a per-line allocation and a queue message. With
//! nothing installed (tests, `ACCESS_LOG=off`) no line is written.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use domain::UserId;

/// What one access line says.
#[derive(Debug)]
pub struct AccessRecord<'a> {
    pub method: &'a Method,
    /// The matched route pattern (`unmatched` for a 404), never the raw path.
    pub route: &'a str,
    pub status: u16,
    pub latency: Duration,
    /// `x-request-id`: kept from the client or generated (any visible ASCII).
    pub request_id: &'a str,
    /// Once the request was authenticated.
    pub user_id: Option<UserId>,
    /// The OpenTelemetry trace id, when spans are exported.
    pub trace_id: Option<String>,
}

/// Where access lines go.
pub trait AccessSink: Send + Sync + 'static {
    fn record(&self, record: &AccessRecord<'_>);
}

static SINK: OnceLock<Arc<dyn AccessSink>> = OnceLock::new();

/// Installs the process's access log; `false` if one already was (the first
/// stays, like the global `tracing` subscriber).
pub fn install(sink: Arc<dyn AccessSink>) -> bool {
    SINK.set(sink).is_ok()
}

/// Finds the trace id of a request's span (OpenTelemetry, wired by `app`), so
/// log lines carry it beside the request id.
pub type TraceIdOf = Arc<dyn Fn(&tracing::Span) -> Option<String> + Send + Sync>;

/// Where an authenticating extractor leaves the user, for the log lines and
/// the access line.
#[derive(Clone, Default)]
pub struct UserSlot(Arc<OnceLock<UserId>>);

impl UserSlot {
    pub fn set(&self, user_id: UserId) {
        let _ = self.0.set(user_id);
    }

    pub fn get(&self) -> Option<UserId> {
        self.0.get().copied()
    }
}

/// What every log line of a request says about it.
#[derive(Clone)]
pub struct RequestContext {
    method: Method,
    route: Option<MatchedPath>,
    request_id: Option<HeaderValue>,
    user: UserSlot,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

impl RequestContext {
    /// The context of the request this task is answering, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The matched route pattern, `unmatched` for a 404.
    pub fn route(&self) -> &str {
        self.route.as_ref().map_or("unmatched", MatchedPath::as_str)
    }

    pub fn request_id(&self) -> &str {
        self.request_id
            .as_ref()
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default()
    }

    pub fn user_id(&self) -> Option<UserId> {
        self.user.get()
    }
}

/// What the request middleware does besides keeping the context: count and
/// time the request (`api-http`'s metrics), given its method, route, status
/// and seconds.
pub type Measure = Arc<dyn Fn(&Method, &str, u16, f64) + Send + Sync>;

/// The middleware: runs the request inside its [`RequestContext`], then —
/// still inside it, so an error line names the request — measures it, logs a
/// 5xx and hands its line to the sink. `Instant::now()` once for all of them.
pub async fn log(
    trace_id_of: Option<TraceIdOf>,
    measure: Measure,
    mut request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let user = UserSlot::default();
    request.extensions_mut().insert(user.clone());
    let context = RequestContext {
        method: request.method().clone(),
        route: request.extensions().get::<MatchedPath>().cloned(),
        request_id: request.headers().get("x-request-id").cloned(),
        user,
    };
    CURRENT
        .scope(context, async move {
            let response = next.run(request).await;
            let latency = start.elapsed();
            let status = response.status().as_u16();
            CURRENT.with(|context| {
                measure(
                    context.method(),
                    context.route(),
                    status,
                    latency.as_secs_f64(),
                );
                if status >= 500 {
                    let latency_us = latency.as_micros() as u64;
                    tracing::error!(status, latency_us, "response failed");
                }
                if let Some(sink) = SINK.get() {
                    let trace_id = trace_id_of
                        .as_ref()
                        .and_then(|of| of(&tracing::Span::current()));
                    sink.record(&AccessRecord {
                        method: context.method(),
                        route: context.route(),
                        status,
                        latency,
                        request_id: context.request_id(),
                        user_id: context.user_id(),
                        trace_id,
                    });
                }
            });
            response
        })
        .await
}
