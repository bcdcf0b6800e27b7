//! Access tokens are validated in full, and fail closed; what they say about
//! the sign-in (`auth_time`) and the step-up it gates.

use api_types::{JwksResponse, paths};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::tokens::AccessClaims;
use hmac::{Hmac, Mac as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{
    PASSWORD, TestApp, Tokens, assert_problem, ed25519_pem, spawn_app, spawn_app_with,
};

pub(crate) async fn kid(app: &TestApp) -> String {
    let jwks: JwksResponse = app.get_json(paths::JWKS).await;
    jwks.keys[0].kid.clone()
}

/// The claims of an access token, read as the type that wrote them.
pub(crate) fn claims_of(token: &str) -> AccessClaims {
    serde_json::from_value(claims_json(token)).expect("access-token claims")
}

/// The claims as raw JSON, for the tests of the wire shape.
pub(crate) fn claims_json(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub(crate) fn sign(pem: &str, kid: &str, typ: &str, claims: &impl serde::Serialize) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(typ.to_owned());
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn unsigned(header: &Value, claims: &AccessClaims, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_string(claims).unwrap()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

async fn assert_rejected(app: &TestApp, token: &str) {
    let response = app.me(token).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn issued_tokens_carry_the_contract_claims() {
    let app = spawn_app().await;
    let tokens = app.register().await;
    let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid, Some(kid(&app).await));
    // `sid`, `jti`, `iat` and `exp` are there, or these would not read.
    let claims = claims_of(&tokens.access);
    assert_eq!(claims.iss, "codezest-auth");
    assert_eq!(claims.aud, "codezest");
    assert_eq!(claims.sub.to_string(), tokens.user_id);
    assert_eq!(claims.exp - claims.iat, 900);
    // OIDC `auth_time`: when this sign-in happened (here, just now).
    let auth_time = claims.auth_time.expect("auth_time");
    assert!((claims.iat - auth_time).abs() <= 1);
}

/// Step-up: password change, email change and account deletion need a sign-in
/// from the last `STEP_UP_MAX_AGE`; refreshing keeps the sign-in's time, so only
/// signing in again renews it.
#[tokio::test]
async fn sensitive_operations_need_a_recent_sign_in_that_refresh_does_not_renew() {
    let app = spawn_app_with(&[("STEP_UP_MAX_AGE", "1")]).await;
    let email = format!("step-up-{}@example.com", uuid::Uuid::new_v4().simple());
    let first = app.register_as(&email).await;
    let signed_in = claims_of(&first.access).auth_time.unwrap();
    let change_email = |access: String| {
        let app = &app;
        async move {
            app.post_auth(
                paths::EMAIL_CHANGE,
                &access,
                Some(&json!({"new_email": "elsewhere@example.com", "password": PASSWORD})),
            )
            .await
        }
    };
    // Fresh: allowed.
    assert_eq!(
        change_email(first.access.clone()).await.status(),
        StatusCode::ACCEPTED
    );

    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let refreshed = app.refresh(&first.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = Tokens::from_body(refreshed.json().await.unwrap());
    assert_eq!(
        claims_of(&refreshed.access).auth_time,
        Some(signed_in),
        "a refresh is not a sign-in"
    );
    let password_change = app
        .post_auth(
            paths::PASSWORD_CHANGE,
            &refreshed.access,
            Some(&json!({"current_password": PASSWORD, "new_password": "a different passphrase"})),
        )
        .await;
    let problem = assert_problem(
        password_change,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    )
    .await;
    assert!(problem.detail.as_str().contains("Sign in again"));
    assert_problem(
        change_email(refreshed.access.clone()).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    )
    .await;
    let delete = app
        .delete_auth(
            paths::USER,
            &refreshed.access,
            &json!({"password": PASSWORD}),
        )
        .await;
    assert_problem(delete, StatusCode::FORBIDDEN, "reauthentication_required").await;
    // The session itself is fine: only sensitive operations ask for more.
    assert_eq!(app.me(&refreshed.access).await.status(), StatusCode::OK);

    // Signing in again satisfies it.
    let again = app.login(&email, PASSWORD).await;
    let again = Tokens::from_body(again.json().await.unwrap());
    assert!(claims_of(&again.access).auth_time.unwrap() > signed_in);
    let password_change = app
        .post_auth(
            paths::PASSWORD_CHANGE,
            &again.access,
            Some(&json!({"current_password": PASSWORD, "new_password": "a different passphrase"})),
        )
        .await;
    assert_eq!(password_change.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn forged_with_the_real_key_but_wrong_claims_is_rejected() {
    let app = spawn_app().await;
    let tokens = app.register().await;
    let kid = kid(&app).await;
    let good = claims_of(&tokens.access);

    // Sanity: the same key and claims are accepted.
    assert_eq!(
        app.me(&sign(&app.signing_pem, &kid, "at+jwt", &good))
            .await
            .status(),
        StatusCode::OK
    );

    let now = good.iat;
    let changed = |claims: AccessClaims| serde_json::to_value(claims).unwrap();
    let without = |claim: &str| {
        let mut raw = serde_json::to_value(&good).unwrap();
        raw.as_object_mut().unwrap().remove(claim);
        raw
    };
    let expired = changed(AccessClaims {
        iat: now - 3600,
        exp: now - 600,
        ..good.clone()
    });
    let wrong_aud = changed(AccessClaims {
        aud: "someone-else".into(),
        ..good.clone()
    });
    let wrong_iss = changed(AccessClaims {
        iss: "https://evil.example".into(),
        ..good.clone()
    });
    let other_user = changed(AccessClaims {
        sub: uuid::Uuid::new_v4(),
        ..good.clone()
    });
    for claims in [
        expired,
        wrong_aud,
        wrong_iss,
        without("sid"),
        without("sub"),
        other_user,
    ] {
        assert_rejected(&app, &sign(&app.signing_pem, &kid, "at+jwt", &claims)).await;
    }
    // Not an access token (`typ`), or a key id nobody published.
    assert_rejected(&app, &sign(&app.signing_pem, &kid, "JWT", &good)).await;
    assert_rejected(
        &app,
        &sign(&app.signing_pem, "unknown-kid", "at+jwt", &good),
    )
    .await;
}

#[tokio::test]
async fn tampered_foreign_and_unsigned_tokens_are_rejected() {
    let app = spawn_app().await;
    let tokens = app.register().await;
    let kid = kid(&app).await;
    let claims = claims_of(&tokens.access);

    // Payload changed after signing.
    let mut parts: Vec<String> = tokens.access.split('.').map(str::to_owned).collect();
    let tampered = AccessClaims {
        exp: claims.exp + 86_400,
        ..claims.clone()
    };
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_string(&tampered).unwrap());
    assert_rejected(&app, &parts.join(".")).await;

    // Signed by another key under the same kid.
    assert_rejected(&app, &sign(&ed25519_pem(), &kid, "at+jwt", &claims)).await;

    // alg: none.
    let none = unsigned(
        &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        &claims,
        b"",
    );
    assert_rejected(&app, &none).await;
    assert_rejected(&app, none.trim_end_matches('.')).await;

    // HS256 "signed" with the public key (algorithm confusion), as raw bytes and as JWK x.
    let jwks: JwksResponse = app.get_json(paths::JWKS).await;
    let x = jwks.keys[0].x.clone().expect("an Ed25519 key");
    for secret in [URL_SAFE_NO_PAD.decode(&x).unwrap(), x.into_bytes()] {
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims).unwrap())
        );
        let mut mac = <Hmac<Sha256>>::new_from_slice(&secret).unwrap();
        mac.update(signing_input.as_bytes());
        let token = format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_rejected(&app, &token).await;
    }

    // Garbage and malformed headers.
    for token in ["", "abc", "a.b.c", &tokens.refresh] {
        let response = app
            .client
            .get(app.url(paths::ME))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let response = app.client.get(app.url(paths::ME)).send().await.unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app
        .client
        .get(app.url(paths::ME))
        .header("authorization", format!("Basic {}", tokens.access))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn hs256_es256_and_rs256_are_selectable() {
    let secret = "a-very-long-test-secret-of-more-than-32-bytes";
    for overrides in [
        vec![("JWT_ALGORITHM", "HS256"), ("JWT_SECRET", secret)],
        vec![("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY_FILE", "")],
        // An RS256 access-token key signs ID tokens too: no second RSA key.
        vec![
            ("JWT_ALGORITHM", "RS256"),
            ("JWT_PRIVATE_KEY_FILE", ""),
            ("OIDC_RSA_PRIVATE_KEY_FILE", ""),
        ],
    ] {
        let algorithm = overrides[0].1;
        let app = crate::helpers::spawn_app_with(&overrides).await;
        let tokens = app.register().await;
        let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
        assert_eq!(format!("{:?}", header.alg), algorithm);
        assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
        let jwks: jsonwebtoken::jwk::JwkSet = app
            .client
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // The OpenID provider's RS256 key is published beside the access-token key.
        let rsa: Vec<_> = jwks
            .keys
            .iter()
            .filter(|k| matches!(k.algorithm, jsonwebtoken::jwk::AlgorithmParameters::RSA(_)))
            .collect();
        assert_eq!(rsa.len(), 1, "{algorithm}: one RSA key");
        if algorithm == "HS256" {
            assert_eq!(jwks.keys.len(), 1, "a shared secret is never published");
            continue;
        }
        assert_eq!(jwks.keys.len(), if algorithm == "RS256" { 1 } else { 2 });
        // What a relying party does: the key the header names, from the JWKS alone.
        let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&["codezest"]);
        validation.set_issuer(&["codezest-auth"]);
        jsonwebtoken::decode::<Value>(&tokens.access, &key, &validation).unwrap();
    }
}
