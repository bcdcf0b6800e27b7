//! RFC 7662 introspection and RFC 7009 revocation for API clients, and the
//! RFC 8414 metadata that advertises them.

use api_types::{
    ClientDto, CreatedClientResponse, IntrospectionResponse, ServerMetadata, TokenResponse, paths,
};
use domain::tokens::AccessClaims;
use std::process::Command;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::admin_of;
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_peer};
use crate::oidc::oauth_error;
use crate::tokens::{claims_of, kid, sign};

struct ApiClient {
    id: String,
    secret: String,
}

async fn new_client(app: &TestApp, admin: &str) -> ApiClient {
    let response = app
        .post_auth(
            paths::ADMIN_CLIENTS,
            admin,
            Some(&json!({"name": "billing-service"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: CreatedClientResponse = response.json().await.unwrap();
    assert_eq!(created.client.name, "billing-service");
    assert!(!created.client.public && created.client.redirect_uris.is_empty());
    ApiClient {
        id: created.client_id.to_string(),
        secret: created
            .client_secret
            .expect("a confidential client has a secret"),
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// `POST path` with a form, authenticated with HTTP Basic.
async fn post_form(
    app: &TestApp,
    path: &str,
    client: &ApiClient,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("authorization", basic(&client.id, &client.secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The introspection answer as raw JSON (its shape is what RFC 7662 checks).
async fn introspect_json(app: &TestApp, client: &ApiClient, token: &str) -> Value {
    let response = post_form(app, paths::INTROSPECT, client, &[("token", token)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn introspect(app: &TestApp, client: &ApiClient, token: &str) -> IntrospectionResponse {
    serde_json::from_value(introspect_json(app, client, token).await).unwrap()
}

async fn eventually_inactive(app: &TestApp, client: &ApiClient, token: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while introspect(app, client, token).await.active {
        assert!(
            std::time::Instant::now() < deadline,
            "still active after 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn introspection_answers_every_rfc_7662_case() {
    let a = spawn_app().await;
    let b = spawn_peer(&a, &[]).await;
    let admin = admin_of(&a).await;
    let client = new_client(&a, &admin.access).await;
    let user = a.register().await;

    // Active, HTTP Basic.
    let active = introspect(&b, &client, &user.access).await;
    let claims = claims_of(&user.access);
    assert!(active.active);
    assert_eq!(active.sub, Some(user.user_id.clone()));
    assert_eq!(active.sid, Some(claims.sid.to_string()));
    assert_eq!(active.exp, Some(claims.exp));
    assert_eq!(active.iat, Some(claims.iat));
    assert_eq!(active.iss, Some(claims.iss.clone()));
    assert_eq!(active.aud, Some(claims.aud.clone()));
    assert_eq!(active.token_type.as_deref(), Some("Bearer"));
    assert_eq!(active.roles, Some(vec![]));
    assert_eq!(active.client_id, Some(claims.aud.clone()));

    // client_secret_post, and a refresh token with the wrong hint.
    let posted = a
        .client
        .post(a.url(paths::INTROSPECT))
        .form(&[
            ("token", user.refresh.as_str()),
            ("token_type_hint", "access_token"),
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    let refresh: IntrospectionResponse = posted.json().await.unwrap();
    assert!(refresh.active);
    assert_eq!(refresh.token_type.as_deref(), Some("refresh_token"));
    assert_eq!(refresh.sid, Some(claims.sid.to_string()));

    // Inactive: garbage, foreign, expired, each as `{"active": false}` alone.
    let foreign = sign(
        &crate::helpers::ed25519_pem(),
        &kid(&a).await,
        "at+jwt",
        &claims,
    );
    let expired_claims = AccessClaims {
        exp: claims.iat - 60,
        ..claims.clone()
    };
    let expired = sign(&a.signing_pem, &kid(&a).await, "at+jwt", &expired_claims);
    for token in ["garbage", "a.b.c", &foreign, &expired, &"A".repeat(43)] {
        assert_eq!(
            introspect_json(&b, &client, token).await,
            json!({"active": false}),
            "{token}"
        );
    }

    // Revoked on A: inactive on B at once.
    let logout = a.post_auth(paths::LOGOUT, &user.access, None).await;
    assert!(logout.status().is_success());
    eventually_inactive(&b, &client, &user.access).await;
    assert_eq!(
        introspect_json(&b, &client, &user.refresh).await,
        json!({"active": false})
    );

    // Counted by outcome.
    let metrics = b
        .client
        .get(format!("{}/metrics", b.metrics_address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for outcome in ["active", "inactive"] {
        let series = format!(r#"introspection_total{{outcome="{outcome}"}}"#);
        assert!(metrics.lines().any(|l| l.starts_with(&series)), "{metrics}");
    }
}

#[tokio::test]
async fn clients_must_authenticate_and_requests_must_be_forms() {
    let app = spawn_app().await;
    let admin = admin_of(&app).await;
    let client = new_client(&app, &admin.access).await;
    let user = app.register().await;
    let token = [("token", user.access.as_str())];
    for (id, secret) in [
        (uuid::Uuid::now_v7().to_string(), client.secret.clone()),
        (client.id.clone(), "A".repeat(43)),
        (client.id.clone(), "short".to_owned()),
        ("not-a-uuid".to_owned(), client.secret.clone()),
    ] {
        for path in [paths::INTROSPECT, paths::REVOKE] {
            let wrong = ApiClient {
                id: id.clone(),
                secret: secret.clone(),
            };
            let response = post_form(&app, path, &wrong, &token).await;
            assert_eq!(
                response.headers()["www-authenticate"],
                r#"Basic realm="codezest-auth""#
            );
            oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
        }
    }
    // No credentials at all; a bearer token is not client authentication.
    let none = app
        .client
        .post(app.url(paths::INTROSPECT))
        .form(&token)
        .send()
        .await
        .unwrap();
    oauth_error(none, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let bearer = app
        .client
        .post(app.url(paths::INTROSPECT))
        .bearer_auth(&user.access)
        .form(&token)
        .send()
        .await
        .unwrap();
    oauth_error(bearer, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Missing token, JSON instead of a form, two methods at once: 400 invalid_request.
    let missing = post_form(
        &app,
        paths::INTROSPECT,
        &client,
        &[("token_type_hint", "access_token")],
    )
    .await;
    oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    let json_body = app
        .client
        .post(app.url(paths::REVOKE))
        .header("authorization", basic(&client.id, &client.secret))
        .json(&json!({"token": user.access}))
        .send()
        .await
        .unwrap();
    oauth_error(json_body, StatusCode::BAD_REQUEST, "invalid_request").await;
    let both = post_form(
        &app,
        paths::INTROSPECT,
        &client,
        &[("token", &user.access), ("client_secret", &client.secret)],
    )
    .await;
    oauth_error(both, StatusCode::BAD_REQUEST, "invalid_request").await;

    // A body over the limit is refused as every other is, as a problem.
    let huge = "x".repeat(70 * 1024);
    let too_large = post_form(&app, paths::INTROSPECT, &client, &[("token", &huge)]).await;
    assert_problem(
        too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    // Deleting the client stops its secret at once.
    let deleted = app
        .client
        .delete(app.url(&paths::fill(paths::ADMIN_CLIENT, &[&client.id.to_string()])))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let after = post_form(&app, paths::INTROSPECT, &client, &token).await;
    oauth_error(after, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let listed: Vec<ClientDto> = app
        .get_auth(paths::ADMIN_CLIENTS, &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.iter().all(|c| c.client_id.to_string() != client.id));
}

#[tokio::test]
async fn revocation_ends_the_session_everywhere() {
    let a = spawn_app().await;
    let b = spawn_peer(&a, &[]).await;
    let admin = admin_of(&a).await;
    let client = new_client(&a, &admin.access).await;

    // A refresh token revoked on B: its session is over on A.
    let user = a.register().await;
    assert_eq!(
        a.get_auth(paths::VERIFY, &user.access).await.status(),
        StatusCode::OK
    );
    let revoked = post_form(
        &b,
        paths::REVOKE,
        &client,
        &[
            ("token", &user.refresh),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    eventually_inactive(&a, &client, &user.access).await;
    assert_eq!(
        a.get_auth(paths::VERIFY, &user.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a.refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // An access token (with a wrong hint) ends its session too.
    let other = a.register().await;
    let revoked = post_form(
        &a,
        paths::REVOKE,
        &client,
        &[
            ("token", &other.access),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        b.refresh(&other.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Unknown and already revoked tokens: 200, nothing said.
    for token in ["unknown", user.refresh.as_str(), other.access.as_str()] {
        let again = post_form(&b, paths::REVOKE, &client, &[("token", token)]).await;
        assert_eq!(again.status(), StatusCode::OK);
    }

    // A disabled user's tokens are inactive.
    let third = a.register().await;
    let disabled = a
        .post_auth(
            &format!(
                "{}/disable",
                paths::fill(paths::ADMIN_USER, &[&third.user_id.to_string()])
            ),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::NO_CONTENT);
    eventually_inactive(&b, &client, &third.access).await;
}

#[tokio::test]
async fn the_metadata_document_advertises_the_endpoints_and_the_cli_makes_clients() {
    let app = spawn_app().await;
    let metadata: ServerMetadata = app.get_json(paths::AUTHORIZATION_SERVER_METADATA).await;
    let base = app
        .env
        .get("PUBLIC_BASE_URL")
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:3001".to_owned());
    assert_eq!(
        metadata.introspection_endpoint,
        format!("{base}{}", paths::INTROSPECT)
    );
    assert_eq!(
        metadata.revocation_endpoint,
        format!("{base}{}", paths::REVOKE)
    );
    assert_eq!(metadata.jwks_uri, format!("{base}{}", paths::JWKS));
    assert_eq!(metadata.issuer, claims_of(&app.register().await.access).iss);
    assert_eq!(
        metadata.introspection_endpoint_auth_methods_supported,
        ["client_secret_basic", "client_secret_post"]
    );

    // `codezest-auth clients create NAME`, as an operator runs it.
    let output = Command::new(env!("CARGO_BIN_EXE_codezest-auth"))
        .args(["clients", "create", "gateway"])
        .envs(&app.env)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_owned()
    };
    let client = ApiClient {
        id: field("client_id"),
        secret: field("client_secret"),
    };
    let user = app.register().await;
    assert!(introspect(&app, &client, &user.access).await.active);
    // Only the digest is stored.
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT secret_hash FROM api_clients WHERE id = $1::uuid")
            .bind(&client.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(
        !stored
            .windows(8)
            .any(|w| client.secret.as_bytes().windows(8).any(|s| s == w))
    );
}

/// The probe's finding: an address nobody verified went downstream as
/// identity. Forward-auth, introspection and the access token now say
/// whether it was verified — `false` until the mailed link is used, `true`
/// after (the token from the next refresh).
#[tokio::test]
async fn downstream_learns_whether_the_address_was_verified() {
    let sink = testkit::SmtpSink::start();
    let app = crate::helpers::spawn_app_with(&[
        ("SMTP_URL", &sink.url()),
        ("APP_URL", "https://app.example.com/"),
    ])
    .await;
    let admin = admin_of(&app).await;
    let client = new_client(&app, &admin.access).await;
    let email = format!("someone-{}@example.com", uuid::Uuid::new_v4().simple());
    let user = app.register_as(&email).await;
    let forward_auth = |access: String| {
        let app = &app;
        async move {
            let response = app.get_auth(paths::VERIFY, &access).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.headers()["x-auth-email-verified"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(forward_auth(user.access.clone()).await, "false");
    assert_eq!(
        introspect(&app, &client, &user.access).await.email_verified,
        Some(false)
    );
    assert!(!claims_of(&user.access).email_verified);

    let mail = sink.wait_for(&email, 1).await;
    let token = testkit::link_token(&testkit::readable(&mail[0]), "verify-email").unwrap();
    let verified = app
        .post(paths::EMAIL_VERIFY, &json!({"token": token}))
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    // The first proof of the address ended the sessions opened before it.
    assert!(!introspect(&app, &client, &user.access).await.active);
    let login: TokenResponse = app
        .login(&email, crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let access = login.access_token;
    assert!(claims_of(&access).email_verified);
    assert_eq!(forward_auth(access.clone()).await, "true");
    assert_eq!(
        introspect(&app, &client, &access).await.email_verified,
        Some(true)
    );
}
