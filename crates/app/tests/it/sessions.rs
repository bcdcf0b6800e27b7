//! Logout, logout-all, the session list and revoking another device.

use api_types::{SessionDto, paths};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, Tokens, assert_problem, spawn_app};

#[tokio::test]
async fn logout_makes_the_access_token_useless_at_once() {
    let app = spawn_app().await;
    let tokens = app.register().await;
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    let response = app.post_auth(paths::LOGOUT, &tokens.access, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The JWT has not expired, yet it is refused: its session is revoked.
    assert_problem(
        app.me(&tokens.access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.refresh(&tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Logging out twice is refused, not a 500.
    let again = app.post_auth(paths::LOGOUT, &tokens.access, None).await;
    assert_problem(again, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_only() {
    let app = spawn_app().await;
    let email = "many@example.com";
    let laptop = app.register_as(email).await;
    let phone = Tokens::from_body(app.login(email, PASSWORD).await.json().await.unwrap());
    let stranger = app.register().await;

    let response = app.post_auth(paths::LOGOUT_ALL, &phone.access, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for tokens in [&laptop, &phone] {
        assert_problem(
            app.me(&tokens.access).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        assert_problem(
            app.refresh(&tokens.refresh).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    assert_eq!(app.me(&stranger.access).await.status(), StatusCode::OK);
    // Signing in again works.
    assert_eq!(app.login(email, PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sessions_are_listed_and_another_device_can_be_revoked() {
    let app = spawn_app().await;
    let email = "devices@example.com";
    let laptop = app.register_as(email).await;
    let phone_response = app
        .client
        .post(app.url(paths::LOGIN))
        .header("user-agent", "PhoneApp/1.0")
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let phone = Tokens::from_body(phone_response.json().await.unwrap());

    // `id` and the times are there, or these would not read.
    let list: Vec<SessionDto> = app
        .get_auth(paths::SESSIONS, &laptop.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s.current).count(), 1);
    let phone_session = list
        .iter()
        .find(|s| s.user_agent.as_deref() == Some("PhoneApp/1.0"))
        .expect("phone session listed");
    assert!(!phone_session.current);
    assert_eq!(phone_session.ip.as_deref(), Some("127.0.0.1"));
    let phone_id = phone_session.id.to_string();

    // Another user cannot revoke it.
    let stranger = app.register().await;
    let path = paths::fill(paths::SESSION, &[&phone_id]);
    let response = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&stranger.access)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.me(&phone.access).await.status(), StatusCode::OK);

    // The owner can, from the laptop.
    let response = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&laptop.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.me(&phone.access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(app.me(&laptop.access).await.status(), StatusCode::OK);
    let list: Vec<Value> = app
        .get_auth(paths::SESSIONS, &laptop.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);

    // Unknown and malformed ids are 404s.
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let response = app
            .client
            .delete(app.url(&paths::fill(paths::SESSION, &[&id.to_string()])))
            .bearer_auth(&laptop.access)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}
