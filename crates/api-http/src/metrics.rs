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

use axum::http::Method;
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
    /// Counts and times one answered request.
    pub(crate) fn record(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
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
