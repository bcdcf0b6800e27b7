//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, request spans leave the process over
//! OTLP/HTTP. Its own test binary: the tracing subscriber is global.

#[allow(dead_code)]
#[path = "it/helpers.rs"]
mod helpers;

use api_types::paths;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use reqwest::StatusCode;

#[tokio::test]
async fn request_spans_are_exported_over_otlp_http() {
    // A stand-in collector: records what is POSTed to /v1/traces.
    let received: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let sink = Arc::clone(&received);
    let collector = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(body);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let telemetry = app::telemetry::init(&app::config::TelemetrySettings {
        log_format: app::config::LogFormat::Json,
        access_log: true,
        otlp_endpoint: Some(endpoint.clone()),
    });
    assert!(telemetry.exporting());
    let app = helpers::spawn_app_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]).await;
    let tokens = app.register().await;
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);

    // The batch exporter sends from its own thread, with a blocking client.
    tokio::task::spawn_blocking(move || telemetry.flush())
        .await
        .unwrap();
    let bodies = received.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "no OTLP export arrived");
    let all: Vec<u8> = bodies.iter().flat_map(|b| b.iter().copied()).collect();
    let contains = |needle: &[u8]| all.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b"codezest-auth"), "service name missing");
    assert!(
        contains(paths::ME.as_bytes()),
        "the request span (with its route) missing"
    );
    assert!(
        !contains(tokens.access.as_bytes()),
        "a token left the process in a span"
    );
}
