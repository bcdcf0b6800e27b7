//! Refresh tokens rotate on every use; reuse revokes; concurrent refreshes of one
//! token share one successor instead of logging the user out.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Tokens, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn refresh_rotates_the_pair() {
    let app = spawn_app().await;
    let first = app.register().await;
    let response = app.refresh(&first.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second = Tokens::from_body(response.json().await.unwrap());
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(second.user_id, first.user_id);
    assert_eq!(second.response.token_type, "Bearer");
    assert_eq!(app.me(&second.access).await.status(), StatusCode::OK);

    // The new token rotates again, and so on.
    let third = Tokens::from_body(app.refresh(&second.refresh).await.json().await.unwrap());
    assert_ne!(third.refresh, second.refresh);
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 1, "rotation stays inside one session");
}

#[tokio::test]
async fn reusing_a_rotated_token_revokes_the_session() {
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE", "0")]).await;
    let first = app.register().await;
    let second = Tokens::from_body(app.refresh(&first.refresh).await.json().await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // The stolen, already-rotated token comes back: theft is assumed.
    assert_problem(
        app.refresh(&first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_reused",
    )
    .await;
    // The whole session is gone: the legitimate holder's tokens die too.
    assert_problem(
        app.refresh(&second.refresh).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.me(&second.access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let reason: String = sqlx::query_scalar("SELECT revoked_reason FROM sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reason, "refresh_token_reuse");
}

#[tokio::test]
async fn an_older_token_in_the_chain_is_reuse_too() {
    let app = spawn_app().await;
    let first = app.register().await;
    let second = Tokens::from_body(app.refresh(&first.refresh).await.json().await.unwrap());
    let third = Tokens::from_body(app.refresh(&second.refresh).await.json().await.unwrap());
    // `first` is two rotations old: never a concurrent refresh, even inside the window.
    assert_problem(
        app.refresh(&first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_reused",
    )
    .await;
    assert_problem(
        app.refresh(&third.refresh).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn concurrent_refreshes_inside_the_grace_window_share_one_successor() {
    let app = spawn_app().await;
    let first = app.register().await;
    let responses = futures::future::join_all((0..5).map(|_| app.refresh(&first.refresh))).await;
    let mut successors = Vec::new();
    for response in responses {
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "no concurrent refresh may log the user out"
        );
        let body: Value = response.json().await.unwrap();
        successors.push(Tokens::from_body(body));
    }
    // One chain: every caller got the same refresh token.
    assert!(successors.windows(2).all(|w| w[0].refresh == w[1].refresh));
    for tokens in &successors {
        assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    }
    // Presented again a moment later (the same client retrying): still the same.
    let again = Tokens::from_body(app.refresh(&first.refresh).await.json().await.unwrap());
    assert_eq!(again.refresh, successors[0].refresh);

    // And the chain continues normally.
    let next = app.refresh(&successors[0].refresh).await;
    assert_eq!(next.status(), StatusCode::OK);
    let active: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(active, 1);
}

#[tokio::test]
async fn invalid_refresh_tokens_are_rejected() {
    let app = spawn_app().await;
    let tokens = app.register().await;
    for token in ["", "short", &"A".repeat(43), &tokens.access] {
        assert_problem(
            app.refresh(token).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
}

#[tokio::test]
async fn expired_sessions_cannot_refresh() {
    let app = spawn_app().await;
    let tokens = app.register().await;
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_problem(
        app.refresh(&tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.me(&tokens.access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}
