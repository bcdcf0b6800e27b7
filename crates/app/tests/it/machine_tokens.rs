//! `client_credentials` (RFC 6749 §4.4) and what a client may see at the
//! introspection and revocation endpoints: its own tokens, with its own
//! credentials (a relying party), or every token (an API client).

use api_types::{IntrospectionResponse, OidcTokenResponse, paths};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_peer};
use crate::oidc::{CB, Rp, oauth_error, register_rp, token, userinfo, verified_claims};

async fn grant(app: &TestApp, rp: &Rp, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(scope.map(|scope| ("scope", scope)));
    if rp.secret.is_none() {
        // A public client names itself (`none`).
        form.push(("client_id", rp.id.as_str()));
    }
    token(app, rp, &form).await
}

/// `caller` asks whether `token` is active.
async fn introspect(app: &TestApp, caller: &Rp, token: &str) -> IntrospectionResponse {
    let response = app
        .client
        .post(app.url(paths::INTROSPECT))
        .basic_auth(&caller.id, caller.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn revoke(app: &TestApp, caller: &Rp, token: &str) {
    let response = app
        .client
        .post(app.url(paths::REVOKE))
        .basic_auth(&caller.id, caller.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn clients_get_tokens_of_their_own_and_see_only_their_own() {
    let app = spawn_app().await;
    let peer = spawn_peer(&app, &[]).await;
    let reports = register_rp(
        &app,
        json!({"name": "Reports", "redirect_uris": [CB],
               "scopes": ["openid", "profile", "roles", "offline_access"]}),
    )
    .await;
    let other = register_rp(&app, json!({"name": "Other", "redirect_uris": [CB]})).await;
    let gateway = register_rp(&app, json!({"name": "Gateway"})).await;
    let public = register_rp(
        &app,
        json!({"name": "Mobile", "redirect_uris": [CB], "public": true}),
    )
    .await;

    // Its own scopes, never the user's openid/offline_access; no refresh, no ID token.
    let response = grant(&app, &reports, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let issued: OidcTokenResponse = response.json().await.unwrap();
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.scope, "profile roles");
    assert!(issued.refresh_token.is_none() && issued.id_token.is_none());
    let header = jsonwebtoken::decode_header(&issued.access_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let claims = verified_claims(&app, &issued.access_token, "codezest", "codezest-auth").await;
    assert_eq!(claims["sub"], reports.id.as_str());
    assert_eq!(claims["client_id"], reports.id.as_str());
    assert_eq!(claims["scope"], "profile roles");
    assert!(claims.get("sid").is_none(), "{claims}");

    // A narrower scope, with client_secret_post.
    let narrower: OidcTokenResponse = app
        .client
        .post(app.url(paths::OIDC_TOKEN))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "roles"),
            ("client_id", reports.id.as_str()),
            ("client_secret", reports.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(narrower.scope, "roles");
    // Refusals: a user's scope, a scope the client lacks, a public client.
    for scope in ["openid", "profile offline_access", "email"] {
        oauth_error(
            grant(&app, &reports, Some(scope)).await,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        )
        .await;
    }
    oauth_error(
        grant(&app, &public, None).await,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
    )
    .await;

    // Nothing about a user takes it: userinfo, the account API, forward-auth.
    assert_eq!(
        userinfo(&app, &issued.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for path in [paths::ME, paths::VERIFY] {
        let response = app.get_auth(path, &issued.access_token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }

    // Introspection: the client itself and a resource server see it, on
    // either instance; another relying party does not.
    for (instance, caller) in [(&app, &reports), (&peer, &reports), (&peer, &gateway)] {
        let seen = introspect(instance, caller, &issued.access_token).await;
        assert!(seen.active);
        assert_eq!(seen.sub.as_deref(), Some(reports.id.as_str()));
        assert_eq!(seen.client_id.as_deref(), Some(reports.id.as_str()));
        assert_eq!(seen.scope.as_deref(), Some("profile roles"));
        assert_eq!(seen.token_type.as_deref(), Some("Bearer"));
        assert!(seen.username.is_none() && seen.sid.is_none());
    }
    assert!(!introspect(&app, &other, &issued.access_token).await.active);

    // Another client cannot revoke it; its own client can, seen everywhere.
    revoke(&app, &other, &issued.access_token).await;
    assert!(
        introspect(&peer, &gateway, &issued.access_token)
            .await
            .active
    );
    revoke(&app, &reports, &issued.access_token).await;
    for instance in [&app, &peer] {
        assert!(
            !introspect(instance, &gateway, &issued.access_token)
                .await
                .active
        );
    }
    // The narrower token is still good, until its client is deleted.
    assert!(
        introspect(&app, &reports, &narrower.access_token)
            .await
            .active
    );
    let admin = crate::admin::admin_of(&app).await;
    let deleted = app
        .client
        .delete(app.url(&paths::fill(paths::ADMIN_CLIENT, &[&reports.id])))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(
        !introspect(&peer, &gateway, &narrower.access_token)
            .await
            .active
    );
}
