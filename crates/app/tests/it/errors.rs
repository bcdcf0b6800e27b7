//! Bad input is a clear 4xx problem, never a 500.

use api_types::paths;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    for body in [
        "{",
        "not json",
        r#"{"email": "a@example.com", "password": "x", "name": "n"} trailing"#,
        "",
    ] {
        let response = app
            .client
            .post(app.url(paths::REGISTER))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    }
}

#[tokio::test]
async fn missing_or_mistyped_fields_are_a_422_naming_the_field() {
    let app = spawn_app().await;
    let response = app
        .post(
            paths::REGISTER,
            &json!({"email": "a@example.com", "name": "A"}),
        )
        .await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem.errors.as_ref().unwrap()[0].field, "password");
    assert_eq!(problem.errors.as_ref().unwrap()[0].message, "is required");

    let response = app
        .post(paths::LOGIN, &json!({"email": 42, "password": "x"}))
        .await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem.errors.as_ref().unwrap()[0].field, "email");

    let response = app.post(paths::REFRESH, &json!([])).await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn wrong_content_type_and_huge_bodies_are_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url(paths::LOGIN))
        .header("content-type", "text/plain")
        .body(r#"{"email":"a@example.com","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let huge = json!({"email": "a@example.com", "password": "x".repeat(100_000)});
    let response = app.post(paths::LOGIN, &huge).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url(&format!("{}/nope", paths::API)))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.client.get(app.url(paths::LOGIN)).send().await.unwrap();
    assert_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
}
