//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0) end to end:
//! a relying party's logout endpoint — a real HTTP server on loopback —
//! receives a signed logout token after every way a session ends, on either
//! instance, after the instance that ended it died, and again after it
//! answered 500. The conformance suite's back-channel checks are transcribed:
//! exactly the right `events`, no `nonce`, `sid` and `sub` of the session.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use api_types::{DiscoveryDocument, OidcTokenResponse, paths};
use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

use crate::admin::admin_of;
use crate::helpers::{PASSWORD, TestApp, Tokens, spawn_app, spawn_peer};
use crate::oidc::{CB, Rp, exchange, redirect_params, register_rp, userinfo, verified_claims};
use crate::pages::Browser;

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A relying party's `backchannel_logout_uri`: every POSTed `logout_token`
/// in order; the first `fail_first` are answered 500.
struct Receiver {
    uri: String,
    tokens: Mutex<mpsc::UnboundedReceiver<String>>,
    attempts: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct Inbox {
    sent: mpsc::UnboundedSender<String>,
    attempts: Arc<AtomicUsize>,
    fail_first: usize,
}

async fn receive(
    State(inbox): State<Inbox>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> AxumStatus {
    let attempt = inbox.attempts.fetch_add(1, Ordering::SeqCst);
    let token = form.get("logout_token").cloned().unwrap_or_default();
    let _ = inbox.sent.send(token);
    if attempt < inbox.fail_first {
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::OK
    }
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let (sent, tokens) = mpsc::unbounded_channel();
        let attempts = Arc::new(AtomicUsize::new(0));
        let inbox = Inbox {
            sent,
            attempts: Arc::clone(&attempts),
            fail_first,
        };
        let router = axum::Router::new()
            .route("/bcl", axum::routing::post(receive))
            .with_state(inbox);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!(
            "http://127.0.0.1:{}/bcl",
            listener.local_addr().unwrap().port()
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            uri,
            tokens: Mutex::new(tokens),
            attempts,
        }
    }

    /// The next logout token received (within 10 s).
    async fn next(&self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.tokens.lock().await.recv())
            .await
            .expect("a logout token within 10 s")
            .unwrap()
    }

    /// Nothing more arrives within `wait`.
    async fn quiet(&self, wait: Duration) {
        let more = tokio::time::timeout(wait, self.tokens.lock().await.recv()).await;
        assert!(more.is_err(), "unexpected logout token: {more:?}");
    }
}

/// A relying party with a back-channel logout URI.
async fn logout_rp(app: &TestApp, receiver: &Receiver) -> Rp {
    register_rp(
        app,
        json!({"name": "Wiki", "redirect_uris": [CB], "backchannel_logout_uri": receiver.uri,
               "scopes": ["openid", "email", "offline_access"]}),
    )
    .await
}

/// What a relying party holds after signing a user in.
struct SignedIn {
    tokens: OidcTokenResponse,
    /// The ID token's claims (`sid`, `sub`).
    id: Value,
}

/// The authorization code flow through `browser` (consent given if asked).
async fn sign_in(app: &TestApp, browser: &mut Browser<'_>, rp: &Rp) -> SignedIn {
    let path = crate::oidc::authorize_path(rp, &[]);
    let mut answer = browser.get(&path).await;
    if answer.status == StatusCode::OK {
        answer = browser
            .submit(&answer, paths::UI_CONSENT, &[("decision", "allow")])
            .await;
    }
    let code = redirect_params(answer.location())["code"].clone();
    let response = exchange(app, rp, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: OidcTokenResponse = response.json().await.unwrap();
    let issuer = issuer(app).await;
    let id = verified_claims(app, tokens.id_token.as_deref().unwrap(), &rp.id, &issuer).await;
    SignedIn { tokens, id }
}

async fn issuer(app: &TestApp) -> String {
    app.get_json::<DiscoveryDocument>(paths::OIDC_DISCOVERY)
        .await
        .issuer
}

/// A fresh user signed in through the pages and to `rp`; their API tokens.
async fn user_signed_in_to<'a>(app: &'a TestApp, rp: &Rp) -> (Browser<'a>, SignedIn, Tokens) {
    let mut browser = Browser::new(app);
    let email = format!("bcl-{}@example.com", uuid::Uuid::new_v4().simple());
    browser.sign_up(&email).await;
    let signed_in = sign_in(app, &mut browser, rp).await;
    let api = Tokens::from_body(app.login(&email, PASSWORD).await.json().await.unwrap());
    (browser, signed_in, api)
}

/// Checks `token` as a relying party must (Back-Channel Logout 1.0 §2.6):
/// signed by the provider's published key, explicitly typed, `iss` and `aud`,
/// exactly the logout event, no `nonce`, and the session of `signed_in`.
async fn assert_logout_token(app: &TestApp, token: &str, rp: &Rp, signed_in: &SignedIn) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let claims = verified_claims(app, token, &rp.id, &issuer(app).await).await;
    assert_eq!(claims["events"], json!({LOGOUT_EVENT: {}}));
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
    assert!(claims["iat"].as_i64().is_some());
    assert_eq!(claims["sid"], signed_in.id["sid"], "{claims}");
    assert_eq!(claims["sub"], signed_in.id["sub"], "{claims}");
    claims
}

async fn refresh(app: &TestApp, rp: &Rp, token: &str) -> reqwest::Response {
    crate::oidc::token(
        app,
        rp,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

/// A pool of the test's own on `app`'s database (which outlives instances).
async fn inspect(app: &TestApp) -> sqlx::PgPool {
    sqlx::PgPool::connect(&app.env["DATABASE_URL"])
        .await
        .unwrap()
}

/// The application's access token is dead on `app`.
async fn ended(app: &TestApp, signed_in: &SignedIn) {
    assert_eq!(
        userinfo(app, &signed_in.tokens.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Every way a session ends, on either instance, sends exactly one logout
/// token per ended application session to its client.
#[tokio::test]
async fn every_way_a_session_ends_reaches_the_relying_party() {
    let app = spawn_app().await;
    let peer = spawn_peer(&app, &[]).await;
    let receiver = Receiver::start(0).await;
    let rp = logout_rp(&app, &receiver).await;
    // Another application without a logout URI is never called.
    let silent = register_rp(
        &app,
        json!({"name": "Silent", "redirect_uris": [CB], "scopes": ["openid"]}),
    )
    .await;
    let admin = admin_of(&app).await;

    // Signing out of the pages (on the peer's cookie-less twin: the same DB).
    let (mut browser, signed_in, _) = user_signed_in_to(&app, &rp).await;
    sign_in(&app, &mut browser, &silent).await;
    let account = browser.get(paths::UI_ACCOUNT).await;
    browser.submit(&account, paths::UI_SIGN_OUT, &[]).await;
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;
    ended(&peer, &signed_in).await;

    // RP-initiated logout with the ID token as hint.
    let (mut browser, signed_in, _) = user_signed_in_to(&app, &rp).await;
    let logout = format!(
        "{}?id_token_hint={}",
        paths::OIDC_LOGOUT,
        signed_in.tokens.id_token.as_deref().unwrap()
    );
    browser.get(&logout).await;
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;

    // Logout-all, on the peer.
    let (_browser, signed_in, api) = user_signed_in_to(&app, &rp).await;
    let response = peer.post_auth(paths::LOGOUT_ALL, &api.access, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;
    ended(&app, &signed_in).await;

    // Revoking the browser session from the API.
    let (_browser, signed_in, api) = user_signed_in_to(&app, &rp).await;
    let sid = signed_in.id["sid"].as_str().unwrap();
    let response = app
        .delete_auth(
            &paths::fill(paths::SESSION, &[sid]),
            &api.access,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;

    // A password change ends every other session.
    let (_browser, signed_in, api) = user_signed_in_to(&app, &rp).await;
    let body = json!({"current_password": PASSWORD, "new_password": "another long passphrase 42"});
    let response = peer
        .post_auth(paths::PASSWORD_CHANGE, &api.access, Some(&body))
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;

    // A password reset by mail ends every session.
    let (_browser, signed_in, api) = user_signed_in_to(&app, &rp).await;
    let email = api.response.user.email.clone();
    let forgot = app
        .post(paths::PASSWORD_FORGOT, &json!({"email": email}))
        .await;
    assert!(forgot.status().is_success(), "{}", forgot.status());
    let token = app.mailed_link(&email, "reset-password").await;
    let reset = peer
        .post(
            paths::PASSWORD_RESET,
            &json!({"token": token, "new_password": "a reset long passphrase 7"}),
        )
        .await;
    assert!(reset.status().is_success(), "{}", reset.status());
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;

    // An administrator disables the account; another deletes one.
    let (_browser, signed_in, api) = user_signed_in_to(&app, &rp).await;
    let path = paths::fill(paths::ADMIN_USER_DISABLE, &[&api.user_id]);
    let response = app.post_auth(&path, &admin.access, None).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;
    let (_browser, signed_in, api) = user_signed_in_to(&app, &rp).await;
    let path = paths::fill(paths::ADMIN_USER, &[&api.user_id]);
    let response = peer.delete_auth(&path, &admin.access, &json!({})).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;

    // The application's refresh token used twice (theft): its session ends.
    let (_browser, signed_in, _) = user_signed_in_to(&app, &rp).await;
    // (Rotated twice, so the first is no longer the grace window's twin.)
    let first = signed_in.tokens.refresh_token.clone().unwrap();
    let mut current = first.clone();
    for _ in 0..2 {
        let response = refresh(&app, &rp, &current).await;
        assert_eq!(response.status(), StatusCode::OK);
        let rotated: OidcTokenResponse = response.json().await.unwrap();
        current = rotated.refresh_token.unwrap();
    }
    let reused = refresh(&app, &rp, &first).await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;

    // The user revokes the application.
    let (_browser, signed_in, api) = user_signed_in_to(&app, &rp).await;
    let response = app
        .delete_auth(
            &paths::fill(paths::GRANT, &[&rp.id]),
            &api.access,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_logout_token(&app, &receiver.next().await, &rp, &signed_in).await;

    // One token per ended session, nothing for the silent client, nothing twice.
    receiver.quiet(Duration::from_millis(1500)).await;
    assert_eq!(receiver.attempts.load(Ordering::SeqCst), 10);
}

/// The outbox is durable: the instance that ended the session dies after the
/// relying party answered 500; another instance, started later, delivers the
/// retry. Sessions that reach their expiry are told too.
#[tokio::test]
async fn logouts_survive_a_crash_and_are_retried_after_a_failure() {
    let (server, app) = crate::helpers::build_app(&[]).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let receiver = Receiver::start(1).await;
    let rp = logout_rp(&app, &receiver).await;
    let (mut browser, signed_in, _) = user_signed_in_to(&app, &rp).await;
    let (_other_browser, expiring, _) = user_signed_in_to(&app, &rp).await;

    let account = browser.get(paths::UI_ACCOUNT).await;
    browser.submit(&account, paths::UI_SIGN_OUT, &[]).await;
    // The first attempt is refused (500); the instance dies before its retry.
    let first = receiver.next().await;
    assert_logout_token(&app, &first, &rp, &signed_in).await;
    let inspection = inspect(&app).await;
    let failed_once = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM oidc_logout_outbox WHERE attempts = 1 AND last_error LIKE '%500%'",
        )
        .fetch_one(&inspection)
        .await
        .unwrap()
    };
    for _ in 0..100 {
        if failed_once().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    assert_eq!(
        failed_once().await,
        1,
        "the failed logout waits in the outbox"
    );

    // The other user's session reaches its expiry while no instance runs.
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1 OR parent_id = $1")
        .bind(uuid::Uuid::parse_str(expiring.id["sid"].as_str().unwrap()).unwrap())
        .execute(&inspection)
        .await
        .unwrap();

    // Another instance delivers both: the retry and the expiry.
    let peer = spawn_peer(&app, &[]).await;
    let mut received = [receiver.next().await, receiver.next().await];
    received.sort_by_key(|token| crate::tokens::claims_json(token)["sub"] == signed_in.id["sub"]);
    let [expired, retried] = &received;
    let retried = assert_logout_token(&peer, retried, &rp, &signed_in).await;
    assert_ne!(
        retried["jti"],
        crate::tokens::claims_json(&first)["jti"],
        "each attempt is a fresh token"
    );
    assert_logout_token(&peer, expired, &rp, &expiring).await;
    ended(&peer, &expiring).await;
    receiver.quiet(Duration::from_millis(1500)).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM oidc_logout_outbox")
        .fetch_one(&inspection)
        .await
        .unwrap();
    assert_eq!(left, 0, "delivered logouts are forgotten");
    let metrics = peer
        .client
        .get(format!("{}{}", peer.metrics_address, paths::METRICS))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("backchannel_logout_total{outcome=\"delivered\"}")
            && metrics.contains("backchannel_logout_pending"),
        "{metrics}"
    );
}
