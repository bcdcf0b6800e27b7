//! Forward-auth (`GET /api/v1/auth/verify`) on its own and behind a real nginx
//! (`auth_request`, the shipped `deploy/nginx/forward-auth.conf`) in front of a
//! small upstream: valid, missing, tampered, expired and revoked-elsewhere
//! tokens, and a client unable to forge the identity headers.

use api_types::paths;
use axum::http::HeaderMap;
use domain::tokens::AccessClaims;
use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_peer};
use crate::tokens::{claims_of, kid, sign};

const VERIFY: &str = paths::VERIFY;

async fn verify(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let request = app.client.get(app.url(VERIFY));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("request")
}

async fn assert_denied(app: &TestApp, token: Option<&str>) {
    let response = verify(app, token).await;
    assert!(response.headers().contains_key("www-authenticate"));
    assert!(!response.headers().contains_key("x-auth-user-id"));
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn forward_auth_answers_with_the_identity_or_401() {
    let app = spawn_app().await;
    let peer = spawn_peer(&app, &[]).await;
    let tokens = app.register().await;

    let response = verify(&app, Some(&tokens.access)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("x-auth-user-id"), tokens.user_id);
    let sid = claims_of(&tokens.access).sid.to_string();
    assert_eq!(header("x-auth-session-id"), sid);
    assert_eq!(header("x-auth-email"), tokens.response.user.email);
    assert_eq!(header("x-auth-email-verified"), "false");
    assert_eq!(header("x-auth-roles"), "");
    assert!(response.bytes().await.unwrap().is_empty());
    // A Unicode address travels as its UTF-8 bytes, not as a 500.
    let unicode = app.register_as("zoë@exämple.com").await;
    let response = verify(&app, Some(&unicode.access)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["x-auth-email"].as_bytes(),
        "zoë@exämple.com".as_bytes()
    );

    assert_denied(&app, None).await;
    let mut tampered = tokens.access.clone();
    tampered.pop();
    tampered.push(if tokens.access.ends_with('A') {
        'B'
    } else {
        'A'
    });
    assert_denied(&app, Some(&tampered)).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = AccessClaims {
        iat: now - 3600,
        exp: now - 600,
        ..claims_of(&tokens.access)
    };
    let expired = sign(&app.signing_pem, &kid(&app).await, "at+jwt", &expired);
    assert_denied(&app, Some(&expired)).await;

    // Logged out on one instance: the other refuses it at once.
    assert_eq!(
        verify(&peer, Some(&tokens.access)).await.status(),
        StatusCode::OK
    );
    let logout = app.post_auth(paths::LOGOUT, &tokens.access, None).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_denied(&peer, Some(&tokens.access)).await;
}

/// Envoy's `ext_authz` asks with the original method and path appended.
#[tokio::test]
async fn envoy_style_checks_with_any_method_and_path_get_the_same_answer() {
    let app = spawn_app().await;
    let tokens = app.register().await;
    for (method, path) in [
        (reqwest::Method::POST, "/orders/42?expand=items"),
        (reqwest::Method::DELETE, "/a/b/c"),
        (reqwest::Method::PUT, "/"),
        (reqwest::Method::GET, "/x"),
    ] {
        let url = app.url(&format!("{VERIFY}{path}"));
        let allowed = app
            .client
            .request(method.clone(), &url)
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), StatusCode::OK, "{method} {path}");
        assert_eq!(allowed.headers()["x-auth-user-id"], tokens.user_id.as_str());
        let denied = app
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        assert_problem(denied, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

/// What the upstream behind nginx received as the identity headers.
#[derive(serde::Serialize, serde::Deserialize)]
struct Echoed {
    user_id: String,
    email: String,
    email_verified: String,
}

/// The upstream behind nginx: answers with the identity headers it received.
async fn upstream() -> String {
    let app = axum::Router::new().route(
        "/hello",
        axum::routing::get(|headers: HeaderMap| async move {
            let get = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            axum::Json(Echoed {
                user_id: get("x-user-id"),
                email: get("x-user-email"),
                email_verified: get("x-user-email-verified"),
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address.to_string()
}

#[tokio::test]
async fn nginx_auth_request_lets_signed_in_users_through_until_they_log_out() {
    let app = spawn_app().await;
    // nginx asks a second instance; the logout happens on the first.
    let peer = spawn_peer(&app, &[]).await;
    let site = include_str!("../../../../deploy/nginx/forward-auth.conf")
        .replace("127.0.0.1:8080", peer.address.trim_start_matches("http://"))
        .replace("127.0.0.1:3000", &upstream().await);
    let nginx = testkit::Nginx::start(&site);
    let tokens = app.register().await;
    let client = reqwest::Client::new();
    let get = |token: Option<&str>, forged: bool| {
        let mut request = client.get(nginx.url("/hello"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if forged {
            request = request
                .header("X-User-Id", "someone-else")
                .header("X-User-Email-Verified", "true");
        }
        request.send()
    };

    let response = get(Some(&tokens.access), true).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", nginx.error_log());
    let body: Echoed = response.json().await.unwrap();
    assert_eq!(
        body.user_id, tokens.user_id,
        "nginx sets the identity, not the client"
    );
    assert_eq!(body.email, tokens.response.user.email);
    assert_eq!(
        body.email_verified, "false",
        "nobody verified the address (and the client's own header is replaced)"
    );

    for token in [None, Some("not-a-token")] {
        assert_eq!(
            get(token, true).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }

    let logout = app.post_auth(paths::LOGOUT, &tokens.access, None).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(Some(&tokens.access), false).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the next proxied request after a logout is refused"
    );
}
