//! The metrics contract, scraped from `/metrics` of a running service. Its own
//! test binary: the recorder is global to a process, so no other test's traffic
//! moves these numbers.

#[allow(dead_code)]
#[path = "it/helpers.rs"]
mod helpers;

use api_types::paths;
use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use helpers::{PASSWORD, TestApp, spawn_app};

/// The recorder is shared by the tests of this binary: they take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `name{labels}` → value, from the Prometheus text format.
async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app
        .client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    testkit::parse_metrics(&response.text().await.unwrap())
}

/// The value of the one series of `name` whose labels include all of `labels`.
fn value(metrics: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    testkit::metric_sum(metrics, name, labels)
}

fn delta(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    value(after, name, labels) - value(before, name, labels)
}

#[tokio::test]
async fn every_contract_metric_moves_by_what_the_traffic_did() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app().await;
    let email = format!("metrics-{}@example.com", uuid::Uuid::new_v4().simple());
    let tokens = app.register_as(&email).await;
    let before = scrape(&app).await;

    // 1 failed login, 1 login, 5 /me (the first of the new session misses),
    // 1 refresh, 1 unknown route.
    assert_eq!(
        app.login(&email, "wrong password!").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let login = app.login(&email, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    }
    for token in [tokens.access.as_str(), "garbage"] {
        let _ = app
            .client
            .get(app.url(paths::VERIFY))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    let not_found = app
        .client
        .get(app.url("/no/such/route/42"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
    let _ = app.post(paths::REGISTER, &json!({})).await;

    let after = scrape(&app).await;
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);

    // HTTP: matched route patterns, never raw paths.
    let me = [("method", "GET"), ("route", paths::ME), ("status", "200")];
    assert_eq!(d("http_requests_total", &me), 5.0);
    assert_eq!(
        d(
            "http_requests_total",
            &[("route", paths::LOGIN), ("status", "401")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "http_requests_total",
            &[("route", paths::LOGIN), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert!(
        after
            .keys()
            .all(|series| !series.contains("/no/such/route"))
    );
    assert_eq!(
        d(
            "http_request_duration_seconds_count",
            &[("method", "GET"), ("route", paths::ME)]
        ),
        5.0
    );
    assert!(
        after
            .keys()
            .any(|s| s.starts_with("http_request_duration_seconds_bucket")
                && s.contains("le=\"0.0001\""))
    );

    // Auth events.
    assert_eq!(
        d(
            "auth_events_total",
            &[("event", "login"), ("outcome", "failure")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "auth_events_total",
            &[("event", "login"), ("outcome", "success")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "auth_events_total",
            &[("event", "refresh"), ("outcome", "success")]
        ),
        1.0
    );

    // Forward-auth: one allowed, one denied.
    for outcome in ["allow", "deny"] {
        assert_eq!(d("forward_auth_total", &[("outcome", outcome)]), 1.0);
    }

    // Cache: 5 /me × (session, user, profile) lookups in L1; the database saw
    // only what missed.
    #[cfg(feature = "cache")]
    {
        let l1_lookups = d("cache_requests_total", &[("tier", "l1")]);
        assert!(l1_lookups >= 15.0, "{l1_lookups}");
        assert!(
            d(
                "cache_requests_total",
                &[("entity", "session"), ("tier", "l1"), ("outcome", "hit")]
            ) >= 4.0
        );
        assert!(
            d("cache_invalidations_total", &[("entity", "session")]) >= 1.0,
            "the refresh rotated a session"
        );
        assert!(
            after
                .keys()
                .any(|s| s.starts_with("cache_operation_duration_seconds_bucket"))
        );
        assert!(after.keys().any(|s| s.starts_with("cache_errors_total")));
        assert_eq!(value(&after, "cache_redis_up", &[]), 1.0);
        assert_eq!(
            d(
                "db_queries_total",
                &[("repo", "sessions"), ("op", "find_by_id")]
            ),
            d(
                "cache_requests_total",
                &[("entity", "session"), ("tier", "l2"), ("outcome", "miss")]
            )
        );
    }
    // Without the cache: 5 /me and the allowed forward-auth each read the session.
    #[cfg(not(feature = "cache"))]
    assert_eq!(
        d(
            "db_queries_total",
            &[("repo", "sessions"), ("op", "find_by_id")]
        ),
        6.0
    );
    // The database: the failed and the good login read credentials.
    assert_eq!(
        d(
            "db_queries_total",
            &[("repo", "users"), ("op", "credentials_by_email")]
        ),
        2.0
    );
    assert_eq!(
        d(
            "db_queries_total",
            &[("repo", "sessions"), ("op", "rotate")]
        ),
        1.0
    );
    assert!(
        after
            .keys()
            .any(|s| s.starts_with("db_query_duration_seconds_bucket"))
    );

    // Build and process.
    let cache = if cfg!(feature = "cache") {
        "enabled"
    } else {
        "disabled"
    };
    assert_eq!(value(&after, "build_info", &[("cache", cache)]), 1.0);
    assert!(value(&after, "process_resident_memory_bytes", &[]) > 0.0);
}

#[cfg(feature = "cache")]
/// Metric names a PromQL expression refers to (histogram series reduced to
/// their family), recognised by this service's prefixes and Prometheus's `up`.
fn metric_names(expr: &str) -> Vec<String> {
    const PREFIXES: [&str; 7] = [
        "http_",
        "cache_",
        "db_",
        "auth_",
        "build_",
        "process_",
        "dependency_",
    ];
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|token| *token == "up" || PREFIXES.iter().any(|p| token.starts_with(p)))
        .map(|token| {
            ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| token.strip_suffix(suffix))
                .unwrap_or(token)
                .to_owned()
        })
        .collect()
}

/// With the cache compiled in (the default build), every series the dashboards
/// and alerts use exists.
#[cfg(feature = "cache")]
#[tokio::test]
async fn dashboards_and_alerts_name_only_exported_metrics() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app().await;
    let tokens = app.register().await;
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    let mut text = String::new();
    // `dependency_up` appears after the first readiness check.
    for _ in 0..50 {
        text = app
            .client
            .get(format!("{}/metrics", app.metrics_address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("dependency_up") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let exported: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .chain(["up"])
        .collect();

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/dashboards/codezest-auth.json"))
            .unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    let alerts = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let alert_exprs: Vec<String> = alerts
        .lines()
        .filter_map(|line| line.trim().strip_prefix("expr: "))
        .map(str::to_owned)
        .collect();
    assert!(
        exprs.len() >= 20 && alert_exprs.len() >= 8,
        "{} / {}",
        exprs.len(),
        alert_exprs.len()
    );
    for expr in exprs.iter().chain(&alert_exprs) {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric in {expr}");
        for name in names {
            assert!(
                exported.contains(name.as_str()),
                "{name} (in `{expr}`) is not exported; exported: {exported:?}"
            );
        }
    }
}
