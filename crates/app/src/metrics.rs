//! The Prometheus exporter: one recorder per process (the `metrics` facade is
//! global), rendered at `GET /metrics` on `METRICS_ADDR`, off the public port.

use std::sync::OnceLock;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Buckets in seconds: sub-millisecond cache hits and Redis round trips up to
/// argon2 logins (50–100 ms) and slow requests.
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Installs the global recorder (once per process; later calls reuse it) and
/// describes the metrics. Call before anything records a metric: handles taken
/// earlier (the cache's) would be no-ops.
pub fn install() -> &'static PrometheusHandle {
    &EXPORTER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("non-empty buckets")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            let process = metrics_process::Collector::default();
            process.describe();
            metrics::gauge!(
                "build_info",
                "version" => env!("CARGO_PKG_VERSION"),
                "cache" => if cfg!(feature = "cache") { "enabled" } else { "disabled" },
            )
            .set(1.0);
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .expect("spawn metrics upkeep");
            Exporter { handle, process }
        })
        .handle
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "HTTP requests by method, matched route and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and matched route"
    );
    describe_counter!(
        "cache_requests_total",
        "Cache lookups by entity, tier (l1, l2) and outcome (hit, miss)"
    );
    describe_counter!(
        "cache_invalidations_total",
        "Cache keys invalidated by writes, by entity"
    );
    describe_counter!(
        "cache_errors_total",
        "Redis operations that failed or timed out, by op"
    );
    describe_histogram!(
        "cache_operation_duration_seconds",
        Unit::Seconds,
        "Redis round trips by op"
    );
    describe_gauge!("cache_l1_entries", "Entries in the in-process cache");
    describe_gauge!(
        "cache_redis_up",
        "1 while Redis answers (circuit breaker closed)"
    );
    describe_counter!(
        "db_queries_total",
        "Repository operations that reached PostgreSQL"
    );
    describe_histogram!(
        "db_query_duration_seconds",
        Unit::Seconds,
        "PostgreSQL repository operation latency"
    );
    describe_counter!("auth_events_total", "Auth events by event and outcome");
    describe_gauge!(
        "dependency_up",
        "1 while a dependency (postgres, redis) is reachable, checked every 5 s"
    );
    describe_gauge!("build_info", "Always 1; labels name the build");
}

/// The Prometheus text for the current values.
pub fn render() -> String {
    let exporter = EXPORTER.get().expect("metrics::install runs first");
    exporter.process.collect();
    exporter.handle.render()
}

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let router = Router::new().route(
        "/metrics",
        get(|| async {
            (
                [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                render(),
            )
        }),
    );
    axum::serve(listener, router).await
}
