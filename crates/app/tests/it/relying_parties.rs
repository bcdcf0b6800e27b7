//! Registering the OpenID provider's relying parties: the admin API and the
//! command line, every field checked and named, secrets shown once (none for
//! a public client), an API client still made from a name alone.

use std::process::Command;

use api_types::{ClientDto, CreatedClientResponse, paths};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::admin_of;
use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn register(app: &TestApp, admin: &str, body: &Value) -> reqwest::Response {
    app.post_auth(paths::ADMIN_CLIENTS, admin, Some(body)).await
}

#[tokio::test]
async fn admins_register_confidential_and_public_relying_parties() {
    let app = spawn_app().await;
    let admin = admin_of(&app).await;

    let response = register(
        &app,
        &admin.access,
        &json!({
            "name": "Grafana",
            "redirect_uris": ["https://grafana.example.com/login/generic_oauth", "http://127.0.0.1/cb"],
            "post_logout_redirect_uris": ["https://grafana.example.com/"],
            "backchannel_logout_uri": "https://grafana.example.com/backchannel",
            "scopes": ["openid", "email", "profile"],
            "id_token_signed_response_alg": "EdDSA",
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let grafana: CreatedClientResponse = response.json().await.unwrap();
    let secret = grafana
        .client_secret
        .clone()
        .expect("confidential: a secret");
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(grafana.client.scopes, ["openid", "profile", "email"]);
    assert_eq!(grafana.client.id_token_signed_response_alg, "EdDSA");
    assert!(!grafana.client.public && !grafana.client.first_party);
    assert_eq!(
        grafana.client.backchannel_logout_uri.as_deref(),
        Some("https://grafana.example.com/backchannel")
    );

    let response = register(
        &app,
        &admin.access,
        &json!({
            "name": "Mobile app",
            "redirect_uris": ["com.example.app:/oauth2redirect"],
            "public": true,
            "first_party": true,
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("client_secret"),
        "no secret, not even null: {text}"
    );
    let mobile: CreatedClientResponse = serde_json::from_str(&text).unwrap();
    assert!(mobile.client.public && mobile.client.first_party);
    assert_eq!(
        mobile.client.scopes,
        ["openid", "profile", "email", "offline_access", "roles"],
        "absent scopes: every supported scope"
    );
    assert_eq!(mobile.client.id_token_signed_response_alg, "RS256");

    // Listed with everything but a secret.
    let listed = app.get_auth(paths::ADMIN_CLIENTS, &admin.access).await;
    let text = listed.text().await.unwrap();
    assert!(!text.contains(&secret));
    let listed: Vec<ClientDto> = serde_json::from_str(&text).unwrap();
    let found = listed
        .iter()
        .find(|c| c.client_id == grafana.client_id)
        .unwrap();
    assert_eq!(found.client, grafana.client);
    let found = listed
        .iter()
        .find(|c| c.client_id == mobile.client_id)
        .unwrap();
    assert_eq!(found.client, mobile.client);

    // Stored without a secret, and refused where a secret is required.
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT secret_hash FROM api_clients WHERE id = $1")
            .bind(mobile.client_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(stored.is_none());
    let introspect = app
        .client
        .post(app.url(paths::INTROSPECT))
        .form(&[
            ("token", admin.access.as_str()),
            ("client_id", &mobile.client_id.to_string()),
            ("client_secret", ""),
        ])
        .send()
        .await
        .unwrap();
    crate::oidc::oauth_error(introspect, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let admin = admin_of(&app).await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM api_clients")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let response = register(
        &app,
        &admin.access,
        &json!({
            "name": " ",
            "redirect_uris": ["https://app.example.com/cb#fragment", "javascript:alert(1)"],
            "post_logout_redirect_uris": ["/relative"],
            "backchannel_logout_uri": "com.example.app:/logout",
            "scopes": ["openid", "admin"],
            "id_token_signed_response_alg": "none",
            "public": true,
        }),
    )
    .await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let fields: Vec<String> = problem
        .errors
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.field)
        .collect();
    for field in [
        "name",
        "redirect_uris",
        "post_logout_redirect_uris",
        "backchannel_logout_uri",
        "scopes",
        "id_token_signed_response_alg",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }
    // A public client needs a redirect URI; logout URIs need one too;
    // development allows plain http off loopback.
    for (body, status) in [
        (
            json!({"name": "spa", "public": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "post_logout_redirect_uris": ["https://x.example.com/"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "redirect_uris": ["http://not-loopback.example.com/cb"]}),
            StatusCode::CREATED,
        ),
        // EdDSA access tokens and the RSA key: no ES256 key to sign with.
        (
            json!({"name": "x", "redirect_uris": ["https://x.example.com/cb"],
                   "id_token_signed_response_alg": "ES256"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let response = register(&app, &admin.access, &body).await;
        assert_eq!(response.status(), status, "{body}");
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM api_clients")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(after, before + 1, "only the development http client");
}

fn cli(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_codezest-auth"))
        .args(args)
        .envs(&app.env)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn the_command_line_registers_relying_parties() {
    let app = spawn_app().await;
    let output = cli(
        &app,
        &[
            "clients",
            "create",
            "Notes app",
            "--redirect-uri",
            "https://notes.example.com/cb",
            "--redirect-uri",
            "http://[::1]/cb",
            "--post-logout-redirect-uri",
            "https://notes.example.com/",
            "--scope",
            "openid",
            "--scope",
            "offline_access",
            "--public",
            "--first-party",
        ],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("client_id="))
        .expect("an id");
    assert!(
        !stdout.contains("client_secret"),
        "public: no secret: {stdout}"
    );
    let admin = admin_of(&app).await;
    let listed: Vec<ClientDto> = app
        .get_auth(paths::ADMIN_CLIENTS, &admin.access)
        .await
        .json()
        .await
        .unwrap();
    let notes = listed
        .iter()
        .find(|c| c.client_id.to_string() == id)
        .unwrap();
    assert_eq!(notes.client.name, "Notes app");
    assert_eq!(
        notes.client.redirect_uris,
        ["https://notes.example.com/cb", "http://[::1]/cb"]
    );
    assert_eq!(notes.client.scopes, ["openid", "offline_access"]);
    assert!(notes.client.public && notes.client.first_party);

    let output = cli(
        &app,
        &[
            "clients",
            "create",
            "x",
            "--redirect-uri",
            "https://x.example.com/cb#f",
        ],
        &[],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("redirect_uris") && stderr.contains("fragment"),
        "{stderr}"
    );

    let output = cli(&app, &["clients", "create", "x", "--colour"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--colour"));
    let output = cli(&app, &["clients", "create", "x", "--redirect-uri"], &[]);
    assert_eq!(output.status.code(), Some(2));
}

/// A token of a relying party's session (what the provider's code exchange
/// will issue): forward-auth accepts it, the account API refuses it, and it
/// dies with the browser session it came from — on another instance too.
#[tokio::test]
async fn a_client_sessions_token_never_acts_on_the_account_and_ends_with_its_parent() {
    let app = spawn_app().await;
    let peer = crate::helpers::spawn_peer(&app, &[]).await;
    let admin = admin_of(&app).await;
    let created: CreatedClientResponse = register(
        &app,
        &admin.access,
        &json!({"name": "notes", "redirect_uris": ["https://notes.example.com/cb"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let user = app.register().await;
    let browser = crate::tokens::claims_of(&user.access);
    let child = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at, client_id, parent_id,
                               scopes)
         VALUES ($1, $2, $3, now() + interval '1 hour', $4, $5, '{openid,email}')",
    )
    .bind(child)
    .bind(browser.sub)
    .bind(rand::random::<[u8; 32]>().to_vec())
    .bind(created.client_id)
    .bind(browser.sid)
    .execute(&app.pool)
    .await
    .unwrap();
    let mut claims = browser.clone();
    claims.sid = child;
    claims.jti = uuid::Uuid::now_v7();
    let kid = crate::tokens::kid(&app).await;
    let token = crate::tokens::sign(&app.signing_pem, &kid, "at+jwt", &claims);

    for instance in [&app, &peer] {
        assert_eq!(
            instance.get_auth(paths::VERIFY, &token).await.status(),
            StatusCode::OK
        );
        let me = instance.get_auth(paths::ME, &token).await;
        let problem = assert_problem(me, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert!(
            problem.detail.contains("issued to an application"),
            "{problem:?}"
        );
        let sessions = instance.get_auth(paths::SESSIONS, &token).await;
        assert_eq!(sessions.status(), StatusCode::UNAUTHORIZED);
    }
    // The browser session ends (its own sign-out, on A): so does the client's, on B.
    let logout = app.post_auth(paths::LOGOUT, &user.access, None).await;
    assert!(logout.status().is_success());
    assert_eq!(
        peer.get_auth(paths::VERIFY, &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
