//! HTTP metrics: `http_requests_total{method,route,status}` and
//! `http_request_duration_seconds{method,route}`. The route is the matched
//! pattern (`/api/v1/auth/sessions/{id}`), never the raw path, so ids and
//! probes for random URLs cannot blow up the number of series.
//!
//! Handles are registered once per (method, route, status) and kept here, so a
//! request records with two atomic updates instead of a registry lookup that
//! allocates its labels.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};

/// The handles of one route and method.
struct RouteHandles {
    duration: Histogram,
    /// By status code; a route answers with a handful.
    requests: Vec<(u16, Counter)>,
}

/// The handles of one route, by method.
type ByMethod = Vec<(&'static str, RouteHandles)>;

/// Metric handles by route, then method; filled on first use.
#[derive(Clone, Default)]
pub(crate) struct HttpMetrics {
    routes: Arc<RwLock<HashMap<Box<str>, ByMethod>>>,
}

impl HttpMetrics {
    fn record(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            let handles = routes
                .get(route)
                .and_then(|methods| methods.iter().find(|(m, _)| *m == method))
                .map(|(_, handles)| handles);
            if let Some(handles) = handles
                && let Some((_, counter)) = handles.requests.iter().find(|(s, _)| *s == status)
            {
                handles.duration.record(seconds);
                counter.increment(1);
                return;
            }
        }
        // The first request of this route, method or status: register its handles.
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let methods = routes.entry(Box::from(route)).or_default();
        let index = match methods.iter().position(|(m, _)| *m == method) {
            Some(index) => index,
            None => {
                let duration = metrics::histogram!(
                    "http_request_duration_seconds",
                    "method" => method,
                    "route" => route.to_owned()
                );
                methods.push((
                    method,
                    RouteHandles {
                        duration,
                        requests: Vec::new(),
                    },
                ));
                methods.len() - 1
            }
        };
        let handles = &mut methods[index].1;
        let counter = match handles.requests.iter().find(|(s, _)| *s == status) {
            Some((_, counter)) => counter.clone(),
            None => {
                let counter = metrics::counter!(
                    "http_requests_total",
                    "method" => method,
                    "route" => route.to_owned(),
                    "status" => status.to_string()
                );
                handles.requests.push((status, counter.clone()));
                counter
            }
        };
        handles.duration.record(seconds);
        counter.increment(1);
    }
}

pub(crate) async fn record(
    State(handles): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    handles.record(
        method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
