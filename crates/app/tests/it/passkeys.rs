//! Passkeys end to end, with `webauthn-authenticator-rs`'s software passkey (a
//! real authenticator: it makes real keys, signs real assertions and counts
//! them) driven as a browser would: registration, the discoverable sign-in,
//! a passkey as the second factor, management — and the refusals: a wrong
//! origin, a wrong RP id, a replayed challenge, a cloned authenticator's counter.

use api_types::{
    CeremonyResponse, LoginFinishRequest, PasskeyDto, RegisterFinishRequest, TokenResponse, paths,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;
use webauthn_authenticator_rs::AuthenticatorBackend as _;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::CreationChallengeResponse;

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app_with};
use crate::soft_browser::{Browser, ORIGIN};
use crate::tokens::claims_of;

async fn app() -> TestApp {
    app_with(&[]).await
}

async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("WEBAUTHN_RP_ID", "localhost"),
        ("WEBAUTHN_RP_ORIGIN", ORIGIN),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

async fn register_start(app: &TestApp, access: &str) -> CeremonyResponse {
    let start = app
        .post_auth(paths::PASSKEY_REGISTER_START, access, None)
        .await;
    assert_eq!(start.status(), StatusCode::OK);
    start.json().await.unwrap()
}

async fn register_finish(
    app: &TestApp,
    access: &str,
    challenge_id: Uuid,
    credential: Value,
) -> reqwest::Response {
    let body = RegisterFinishRequest {
        challenge_id,
        name: "Soft passkey".into(),
        credential,
    };
    let body = serde_json::to_value(body).unwrap();
    app.post_auth(paths::PASSKEY_REGISTER_FINISH, access, Some(&body))
        .await
}

/// Registers a passkey for a signed-in user.
async fn register(app: &TestApp, browser: &mut Browser, access: &str) -> PasskeyDto {
    let start = register_start(app, access).await;
    let credential = browser.create(&start.public_key);
    let finish = register_finish(app, access, start.challenge_id, credential).await;
    assert_eq!(finish.status(), StatusCode::CREATED);
    finish.json().await.unwrap()
}

async fn login(app: &TestApp, browser: &mut Browser) -> reqwest::Response {
    let start = app.post(paths::PASSKEY_LOGIN_START, &json!({})).await;
    assert_eq!(start.status(), StatusCode::OK);
    let start: CeremonyResponse = start.json().await.unwrap();
    assert!(
        start
            .public_key
            .get("allowCredentials")
            .is_none_or(|a| a == &json!([]))
    );
    let credential = browser.get(&start.public_key);
    let body = LoginFinishRequest {
        challenge_id: start.challenge_id,
        credential,
    };
    app.post(paths::PASSKEY_LOGIN_FINISH, &body).await
}

#[tokio::test]
async fn a_passkey_registers_and_signs_in_without_an_address() {
    let app = app().await;
    let user = app.verified_user().await;
    let mut browser = Browser::new();
    let passkey = register(&app, &mut browser, &user.access).await;
    assert_eq!(passkey.name, "Soft passkey");
    assert_eq!(passkey.last_used_at, None);

    let signed_in = login(&app, &mut browser).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let signed_in = Tokens::from_body(signed_in.json().await.unwrap());
    assert_eq!(signed_in.user_id, user.user_id);
    // A soft passkey is not backup-eligible: a device-bound key.
    assert_eq!(claims_of(&signed_in.access).amr, ["hwk", "mfa"]);

    // Listed with its use; renamed; removed (a fresh sign-in may).
    let list: Vec<PasskeyDto> = app
        .get_auth(paths::PASSKEYS, &signed_in.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].last_used_at.is_some());
    let path = paths::fill(paths::PASSKEY, &[&list[0].id.to_string()]);
    let renamed = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&signed_in.access)
        .json(&json!({"name": "  Laptop  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(renamed.json::<PasskeyDto>().await.unwrap().name, "Laptop");
    let blank = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&signed_in.access)
        .json(&json!({"name": " "}))
        .send()
        .await
        .unwrap();
    assert_problem(blank, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let other = app.verified_user().await;
    let foreign = app.delete_auth(&path, &other.access, &json!({})).await;
    assert_problem(foreign, StatusCode::NOT_FOUND, "not_found").await;
    let removed = app.delete_auth(&path, &signed_in.access, &json!({})).await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let gone = login(&app, &mut browser).await;
    assert_problem(gone, StatusCode::BAD_REQUEST, "passkey_rejected").await;
}

#[tokio::test]
async fn wrong_origins_wrong_rp_ids_and_replayed_challenges_are_refused() {
    let app = app().await;
    let user = app.verified_user().await;

    // A look-alike site: the browser signs for its own origin.
    let start = register_start(&app, &user.access).await;
    let credential = Browser::at("https://evil.localhost").create(&start.public_key);
    let phished = register_finish(&app, &user.access, start.challenge_id, credential).await;
    assert_problem(phished, StatusCode::BAD_REQUEST, "passkey_rejected").await;

    // An authenticator asked for another RP id (the right origin).
    let start = register_start(&app, &user.access).await;
    let mut options: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": start.public_key})).unwrap();
    options.public_key.rp.id = "evil.example".into();
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.require_resident_key = false;
    }
    let credential = SoftPasskey::new(true)
        .perform_register(Url::parse(ORIGIN).unwrap(), options.public_key, 60_000)
        .unwrap();
    let credential = serde_json::to_value(credential).unwrap();
    let wrong_rp = register_finish(&app, &user.access, start.challenge_id, credential).await;
    assert_problem(wrong_rp, StatusCode::BAD_REQUEST, "passkey_rejected").await;

    // A challenge works once, and only for the user who started it.
    let start = register_start(&app, &user.access).await;
    let credential = Browser::new().create(&start.public_key);
    let other = app.verified_user().await;
    let stolen = register_finish(&app, &other.access, start.challenge_id, credential.clone()).await;
    assert_problem(stolen, StatusCode::BAD_REQUEST, "invalid_challenge").await;
    let mut browser = Browser::new();
    let start = register_start(&app, &user.access).await;
    let credential = browser.create(&start.public_key);
    let first = register_finish(&app, &user.access, start.challenge_id, credential.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let replay = register_finish(&app, &user.access, start.challenge_id, credential).await;
    assert_problem(replay, StatusCode::BAD_REQUEST, "invalid_challenge").await;

    // A sign-in's answer, replayed, is refused too.
    let start: CeremonyResponse = app
        .post(paths::PASSKEY_LOGIN_START, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let assertion = browser.get(&start.public_key);
    let body = LoginFinishRequest {
        challenge_id: start.challenge_id,
        credential: assertion,
    };
    let signed_in = app.post(paths::PASSKEY_LOGIN_FINISH, &body).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let replay = app.post(paths::PASSKEY_LOGIN_FINISH, &body).await;
    assert_problem(replay, StatusCode::BAD_REQUEST, "invalid_challenge").await;
    let garbage = json!({"challenge_id": uuid::Uuid::new_v4(), "credential": {"id": "x"}});
    let garbage = app.post(paths::PASSKEY_LOGIN_FINISH, &garbage).await;
    assert_problem(garbage, StatusCode::BAD_REQUEST, "invalid_challenge").await;
}

/// An assertion whose counter is not above the stored one may come from a
/// cloned authenticator: refused.
#[tokio::test]
async fn a_cloned_authenticators_counter_is_refused() {
    let app = app().await;
    let user = app.verified_user().await;
    let mut browser = Browser::new();
    register(&app, &mut browser, &user.access).await;
    // Each use counts up, and each count above the last is accepted.
    assert_eq!(login(&app, &mut browser).await.status(), StatusCode::OK);
    assert_eq!(login(&app, &mut browser).await.status(), StatusCode::OK);
    let counter: i64 = sqlx::query_scalar(
        "SELECT (credential->'cred'->>'counter')::bigint FROM passkeys WHERE user_id = $1::uuid",
    )
    .bind(&user.user_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(counter, 2, "the stored counter follows the authenticator's");
    // The original signed 100 times elsewhere; this copy is behind.
    sqlx::query(
        "UPDATE passkeys SET credential = jsonb_set(credential, '{cred,counter}', '100')
         WHERE user_id = $1::uuid",
    )
    .bind(&user.user_id)
    .execute(&app.pool)
    .await
    .unwrap();
    let cloned = login(&app, &mut browser).await;
    assert_problem(cloned, StatusCode::BAD_REQUEST, "passkey_rejected").await;
}

/// With TOTP on, a passkey completes the password sign-in too; removing a
/// passkey needs a recent sign-in.
#[tokio::test]
async fn a_passkey_serves_as_the_second_factor() {
    let app = app_with(&[("STEP_UP_MAX_AGE", "2")]).await;
    let email = format!("pk-{}@example.com", uuid::Uuid::new_v4().simple());
    let user = app.register_verified(&email).await;
    let mut browser = Browser::new();
    register(&app, &mut browser, &user.access).await;
    // A passkey alone does not make the password need a second factor.
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    crate::mfa::enable_totp(&app, &user.access).await;

    let login = app.login(&email, PASSWORD).await;
    let problem = assert_problem(login, StatusCode::UNAUTHORIZED, "mfa_required").await;
    assert_eq!(
        problem.methods.clone().unwrap(),
        ["totp", "recovery_code", "webauthn"]
    );
    let token = problem.mfa_token.as_deref().unwrap();
    let challenge = app
        .post(paths::MFA_WEBAUTHN_CHALLENGE, &json!({"mfa_token": token}))
        .await;
    assert_eq!(challenge.status(), StatusCode::OK);
    let challenge: Value = challenge.json().await.unwrap();
    assert_eq!(
        challenge["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let credential = browser.get(&challenge["publicKey"]);
    let verified =
        crate::mfa::verify(&app, &json!({"mfa_token": token, "credential": credential})).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let verified = Tokens::from_body(verified.json().await.unwrap());
    assert_eq!(claims_of(&verified.access).amr, ["pwd", "hwk", "mfa"]);

    // An assertion without its challenge is a wrong factor.
    let token = crate::mfa::mfa_token_of(app.login(&email, PASSWORD).await).await;
    let stray = json!({"mfa_token": token, "credential": credential});
    assert_problem(
        crate::mfa::verify(&app, &stray).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;

    // Removing a passkey needs a recent sign-in.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let list: Vec<PasskeyDto> = app
        .get_auth(paths::PASSKEYS, &verified.access)
        .await
        .json()
        .await
        .unwrap();
    let path = paths::fill(paths::PASSKEY, &[&list[0].id.to_string()]);
    let stale = app.delete_auth(&path, &verified.access, &json!({})).await;
    assert_problem(stale, StatusCode::FORBIDDEN, "reauthentication_required").await;
}

/// Without a valid relying party (the default `PUBLIC_BASE_URL` is an IP
/// address) passkeys are off, and say so.
#[tokio::test]
async fn without_a_relying_party_passkeys_are_unavailable() {
    let app = spawn_app_with(&[]).await;
    let start = app.post(paths::PASSKEY_LOGIN_START, &json!({})).await;
    assert_problem(
        start,
        StatusCode::SERVICE_UNAVAILABLE,
        "passkeys_unavailable",
    )
    .await;
}

/// The probe's thief: a session whose sign-in is older than
/// `STEP_UP_MAX_AGE` (refreshing does not renew it) can add no sign-in
/// method — neither a passkey nor TOTP — until someone signs in again.
#[tokio::test]
async fn adding_a_sign_in_method_needs_a_recent_sign_in() {
    let app = app_with(&[("STEP_UP_MAX_AGE", "1")]).await;
    let email = format!("stale-{}@example.com", uuid::Uuid::new_v4().simple());
    let user = app.register_verified(&email).await;
    // Started while recent; finished too late: refused at the finish as well.
    let started = register_start(&app, &user.access).await;
    let mut browser = Browser::new();
    let credential = browser.create(&started.public_key);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let refreshed = Tokens::from_body(app.refresh(&user.refresh).await.json().await.unwrap());
    let late = register_finish(&app, &refreshed.access, started.challenge_id, credential).await;
    assert_problem(late, StatusCode::FORBIDDEN, "reauthentication_required").await;
    for path in [paths::PASSKEY_REGISTER_START, paths::TOTP_SETUP] {
        let refused = app.post_auth(path, &refreshed.access, None).await;
        assert_problem(refused, StatusCode::FORBIDDEN, "reauthentication_required").await;
    }
    let confirm = app
        .post_auth(
            paths::TOTP_CONFIRM,
            &refreshed.access,
            Some(&json!({"code": "123456"})),
        )
        .await;
    assert_problem(confirm, StatusCode::FORBIDDEN, "reauthentication_required").await;
    let listed: Value = app
        .get_auth(paths::PASSKEYS, &refreshed.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    // A fresh sign-in may.
    let fresh = Tokens::from_body(app.login(&email, PASSWORD).await.json().await.unwrap());
    register(&app, &mut browser, &fresh.access).await;
}

/// Pre-account hijacking: whoever registers someone else's address (it stays
/// unverified) can attach no sign-in method to it; and when the owner first
/// proves the address — the verification link, or a reset — whatever was
/// attached before (here as an older version allowed it) and every session
/// opened before it are gone.
#[tokio::test]
async fn an_unverified_account_takes_no_sign_in_method_and_its_first_proof_clears_it() {
    let app = app().await;
    let email = format!("victim-{}@example.com", uuid::Uuid::new_v4().simple());
    let squatter = app.register_as(&email).await;
    for path in [paths::PASSKEY_REGISTER_START, paths::TOTP_SETUP] {
        let refused = app.post_auth(path, &squatter.access, None).await;
        assert_problem(refused, StatusCode::FORBIDDEN, "email_not_verified").await;
    }
    // What an older version let the squatter attach: a TOTP factor.
    plant_totp(&app, &squatter.user_id).await;
    crate::mfa::mfa_token(&app, &email).await;

    // The owner uses the verification link that reached their mailbox.
    let token = app.mailed_link(&email, "verify-email").await;
    let verified = app
        .post(paths::EMAIL_VERIFY, &json!({"token": token}))
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_problem(
        app.me(&squatter.access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let factors: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_totp WHERE user_id = $1::uuid")
        .bind(&squatter.user_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(factors, 0);
    // (The squatter's password still works until the owner resets it: the
    // verification mail tells the owner to, and a reset ends it.)
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);

    // A reset of an unverified account is such a first proof as well.
    let other = format!("victim-{}@example.com", uuid::Uuid::new_v4().simple());
    let squatter = app.register_as(&other).await;
    plant_totp(&app, &squatter.user_id).await;
    let forgot = app
        .post(paths::PASSWORD_FORGOT, &json!({"email": other}))
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let token = app.mailed_link(&other, "reset-password").await;
    let reset = app
        .post(
            paths::PASSWORD_RESET,
            &json!({"token": token, "new_password": "the owner's own passphrase"}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let owner = app.login(&other, "the owner's own passphrase").await;
    assert_eq!(owner.status(), StatusCode::OK, "no second factor left");
    let owner: TokenResponse = owner.json().await.unwrap();
    assert!(owner.user.email_verified, "a reset proves the mailbox");
}

/// What an older version let anyone attach to an unverified account: a TOTP
/// factor, written as it stored one.
async fn plant_totp(app: &TestApp, user_id: &str) {
    sqlx::query(
        "INSERT INTO mfa_totp (user_id, secret_sealed, confirmed_at)
         VALUES ($1::uuid, $2, now())",
    )
    .bind(user_id)
    .bind(vec![7_u8; 60])
    .execute(&app.pool)
    .await
    .unwrap();
}
