//! The access log: one line per answered request, written by a sink the
//! binary installs (`app::telemetry`: pre-formatted, batched), not through
//! `tracing`'s formatter — the line every request pays for costs a few
//! hundred nanoseconds instead of a per-event subscriber walk, a per-line
//! allocation and a queue message.
//!
//! Nothing installed (tests, `ACCESS_LOG=off`): the middleware passes the
//! request through untouched.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
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

/// Where an authenticating extractor leaves the user for the access line.
#[derive(Clone, Default)]
pub struct UserSlot(Arc<OnceLock<UserId>>);

impl UserSlot {
    pub fn set(&self, user_id: UserId) {
        let _ = self.0.set(user_id);
    }
}

/// Finds the trace id of a request's span (OpenTelemetry, wired by `app`), so
/// log lines carry it beside the request id.
pub type TraceIdOf = Arc<dyn Fn(&tracing::Span) -> Option<String> + Send + Sync>;

/// The middleware: times the request and hands its line to the sink.
pub async fn log(trace_id_of: Option<TraceIdOf>, mut request: Request, next: Next) -> Response {
    let Some(sink) = SINK.get() else {
        return next.run(request).await;
    };
    let start = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let request_id = request.headers().get("x-request-id").cloned();
    let slot = UserSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let trace_id = trace_id_of
        .as_ref()
        .and_then(|of| of(&tracing::Span::current()));
    sink.record(&AccessRecord {
        method: &method,
        route: route.as_ref().map_or("unmatched", MatchedPath::as_str),
        status: response.status().as_u16(),
        latency: start.elapsed(),
        request_id: request_id
            .as_ref()
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default(),
        user_id: slot.0.get().copied(),
        trace_id,
    });
    response
}
