//! Second factors end to end: TOTP set-up and confirmation, the two-step
//! login, replayed and wrong codes, recovery codes, the lockout, step-up, and
//! what `amr` says in each case.

use api_types::{
    AuditEventDto, MfaStatusResponse, RecoveryCodesResponse, TotpSetupResponse, paths,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::{
    PASSWORD, TestApp, Tokens, assert_problem, burst, count, shared_peer, spawn_app, spawn_app_with,
};
use crate::tokens::claims_of;

/// An authenticator app: the secret set-up showed, as `totp-rs` reads it.
pub(crate) struct Authenticator(TOTP);

impl Authenticator {
    pub(crate) fn from_setup(setup: &TotpSetupResponse) -> Self {
        let secret = Secret::Encoded(setup.secret.clone()).to_bytes().unwrap();
        Self(TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            1,
            30,
            secret,
            None,
            String::new(),
        ))
    }

    fn now() -> u64 {
        time::OffsetDateTime::now_utc().unix_timestamp() as u64
    }

    /// The code on the screen now.
    pub(crate) fn code(&self) -> String {
        self.0.generate(Self::now())
    }

    /// The next step's code: accepted (one step of skew) after the current
    /// step's was spent, so tests need not wait 30 s.
    pub(crate) fn next_code(&self) -> String {
        self.0.generate(Self::now() + 30)
    }
}

/// Sets up and confirms TOTP for a signed-in user; returns the authenticator
/// and the recovery codes.
pub(crate) async fn enable_totp(app: &TestApp, access: &str) -> (Authenticator, Vec<String>) {
    let setup = app.post_auth(paths::TOTP_SETUP, access, None).await;
    assert_eq!(setup.status(), StatusCode::OK);
    let setup: TotpSetupResponse = setup.json().await.unwrap();
    let authenticator = Authenticator::from_setup(&setup);
    let confirm = app
        .post_auth(
            paths::TOTP_CONFIRM,
            access,
            Some(&json!({"code": authenticator.code()})),
        )
        .await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let body: RecoveryCodesResponse = confirm.json().await.unwrap();
    (authenticator, body.recovery_codes)
}

/// Logs in with the password; asserts `mfa_required` and returns its token.
pub(crate) async fn mfa_token(app: &TestApp, email: &str) -> String {
    let login = app.login(email, PASSWORD).await;
    mfa_token_of(login).await
}

pub(crate) async fn mfa_token_of(response: reqwest::Response) -> String {
    let problem = assert_problem(response, StatusCode::UNAUTHORIZED, "mfa_required").await;
    let methods = problem.methods.clone().unwrap_or_default();
    assert!(methods.iter().any(|m| m == "totp"), "{methods:?}");
    problem.mfa_token.as_deref().unwrap().to_owned()
}

pub(crate) async fn verify(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post(paths::MFA_VERIFY, body).await
}

async fn status(app: &TestApp, access: &str) -> MfaStatusResponse {
    app.get_auth(paths::MFA, access).await.json().await.unwrap()
}

fn amr(tokens: &Tokens) -> Vec<String> {
    claims_of(&tokens.access).amr
}

fn email() -> String {
    format!("mfa-{}@example.com", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn totp_enrol_confirm_then_login_needs_a_fresh_code() {
    let app = spawn_app().await;
    let email = email();
    let user = app.register_verified(&email).await;
    assert_eq!(amr(&user), ["pwd"]);
    assert_eq!(
        status(&app, &user.access).await,
        MfaStatusResponse {
            totp: false,
            recovery_codes_left: 0
        }
    );

    // Set-up alone changes nothing: the factor is off until confirmed.
    let setup = app.post_auth(paths::TOTP_SETUP, &user.access, None).await;
    assert_eq!(setup.status(), StatusCode::OK);
    let setup: TotpSetupResponse = setup.json().await.unwrap();
    let uri = &setup.otpauth_uri;
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&setup.secret));
    assert!(setup.qr_svg.contains("<svg"));
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    let authenticator = Authenticator::from_setup(&setup);
    let confirm = |code: String| {
        let (app, access) = (&app, user.access.clone());
        async move {
            app.post_auth(paths::TOTP_CONFIRM, &access, Some(&json!({"code": code})))
                .await
        }
    };
    let wrong = format!(
        "{:06}",
        (authenticator.code().parse::<u32>().unwrap() + 1) % 1_000_000
    );
    assert_problem(
        confirm(wrong).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    let confirmed = confirm(authenticator.code()).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let codes = confirmed
        .json::<RecoveryCodesResponse>()
        .await
        .unwrap()
        .recovery_codes;
    assert_eq!(codes.len(), 10);
    let again = app.post_auth(paths::TOTP_SETUP, &user.access, None).await;
    assert_problem(again, StatusCode::CONFLICT, "mfa_already_enabled").await;

    // The password alone no longer signs in.
    let login = app.login(&email, PASSWORD).await;
    let problem = assert_problem(login, StatusCode::UNAUTHORIZED, "mfa_required").await;
    assert_eq!(problem.methods.unwrap(), ["totp", "recovery_code"]);
    let token = mfa_token(&app, &email).await;
    // The confirmation's code was spent: replaying it is refused.
    let replay = verify(
        &app,
        &json!({"mfa_token": token, "code": authenticator.code()}),
    )
    .await;
    assert_problem(replay, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let fresh = authenticator.next_code();
    let signed_in = verify(&app, &json!({"mfa_token": token, "code": fresh})).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let signed_in = Tokens::from_body(signed_in.json().await.unwrap());
    assert_eq!(amr(&signed_in), ["pwd", "otp", "mfa"]);
    assert_eq!(app.me(&signed_in.access).await.status(), StatusCode::OK);
    // A refreshed token says the same.
    let refreshed = app.refresh(&signed_in.refresh).await;
    let refreshed = Tokens::from_body(refreshed.json().await.unwrap());
    assert_eq!(amr(&refreshed), ["pwd", "otp", "mfa"]);

    // The mfa_token worked once; the code too, on a new sign-in.
    let reused = verify(&app, &json!({"mfa_token": token, "code": fresh})).await;
    assert_problem(reused, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    let token = mfa_token(&app, &email).await;
    let replay = verify(&app, &json!({"mfa_token": token, "code": fresh})).await;
    assert_problem(replay, StatusCode::UNAUTHORIZED, "invalid_code").await;
}

#[tokio::test]
async fn recovery_codes_work_once_regenerate_and_turn_totp_off() {
    let app = spawn_app().await;
    let email = email();
    let user = app.register_verified(&email).await;
    let (_, codes) = enable_totp(&app, &user.access).await;

    // A recovery code, typed in upper case with spaces, signs in once.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let token = mfa_token(&app, &email).await;
    let signed_in = verify(&app, &json!({"mfa_token": token, "recovery_code": typed})).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let signed_in = Tokens::from_body(signed_in.json().await.unwrap());
    assert_eq!(amr(&signed_in), ["pwd", "otp", "mfa"]);
    let token = mfa_token(&app, &email).await;
    let spent = verify(
        &app,
        &json!({"mfa_token": token, "recovery_code": codes[0]}),
    )
    .await;
    assert_problem(spent, StatusCode::UNAUTHORIZED, "invalid_code").await;
    assert_eq!(status(&app, &signed_in.access).await.recovery_codes_left, 9);

    // Exactly one factor per verification.
    let both = json!({"mfa_token": token, "code": "123456", "recovery_code": codes[1]});
    assert_problem(
        verify(&app, &both).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    // A new set voids the old one.
    let regenerated = app
        .post_auth(
            paths::RECOVERY_CODES,
            &signed_in.access,
            Some(&json!({"code": codes[1]})),
        )
        .await;
    assert_eq!(regenerated.status(), StatusCode::OK);
    let fresh: RecoveryCodesResponse = regenerated.json().await.unwrap();
    let fresh = fresh.recovery_codes[0].clone();
    let old = verify(
        &app,
        &json!({"mfa_token": token, "recovery_code": codes[2]}),
    )
    .await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_code").await;

    // Off, with a recovery code: the password signs in alone again.
    let off = app
        .delete_auth(paths::TOTP, &signed_in.access, &json!({"code": fresh}))
        .await;
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status(&app, &signed_in.access).await,
        MfaStatusResponse {
            totp: false,
            recovery_codes_left: 0
        }
    );
    let login = app.login(&email, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let off_again = app
        .delete_auth(paths::TOTP, &signed_in.access, &json!({"code": "123456"}))
        .await;
    assert_problem(off_again, StatusCode::CONFLICT, "mfa_not_enabled").await;

    // The audit trail has each step.
    let events: Vec<AuditEventDto> = app
        .get_auth(&format!("{}?limit=100", paths::EVENTS), &signed_in.access)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    for expected in [
        "mfa_totp_setup",
        "mfa_enrol",
        "mfa_verify",
        "recovery_code_used",
        "recovery_codes_regenerate",
        "mfa_disable",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
}

/// Five wrong codes void the `mfa_token` and lock the second step for the
/// user, from any client, for the lock period — the right code included.
#[tokio::test]
async fn wrong_codes_void_the_challenge_and_lock_the_second_step() {
    let app = spawn_app_with(&[("LOGIN_LOCKOUT_THRESHOLD", "5")]).await;
    let email = email();
    let user = app.register_verified(&email).await;
    let (authenticator, _) = enable_totp(&app, &user.access).await;
    let token = mfa_token(&app, &email).await;
    for _ in 0..5 {
        let wrong = verify(&app, &json!({"mfa_token": token, "code": "000000"})).await;
        assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_code").await;
    }
    let voided = verify(
        &app,
        &json!({"mfa_token": token, "code": authenticator.next_code()}),
    )
    .await;
    assert_problem(voided, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    let token = mfa_token(&app, &email).await;
    let locked = verify(
        &app,
        &json!({"mfa_token": token, "code": authenticator.next_code()}),
    )
    .await;
    let problem = assert_problem(locked, StatusCode::TOO_MANY_REQUESTS, "account_locked").await;
    assert!(problem.detail.as_str().contains("retry in"));
    let garbage = verify(&app, &json!({"mfa_token": "not-a-token", "code": "123456"})).await;
    assert_problem(garbage, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
}

/// Turning TOTP off and new recovery codes need a recent sign-in; signing in
/// again (through the second factor) gives one.
#[tokio::test]
async fn turning_totp_off_needs_a_recent_sign_in() {
    let app = spawn_app_with(&[("STEP_UP_MAX_AGE", "1")]).await;
    let email = email();
    let user = app.register_verified(&email).await;
    let (authenticator, codes) = enable_totp(&app, &user.access).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for (path, body) in [
        (paths::RECOVERY_CODES, json!({"code": codes[0]})),
        (paths::TOTP, json!({"code": codes[0]})),
    ] {
        let response = if path.ends_with("totp") {
            app.delete_auth(path, &user.access, &body).await
        } else {
            app.post_auth(path, &user.access, Some(&body)).await
        };
        assert_problem(response, StatusCode::FORBIDDEN, "reauthentication_required").await;
    }
    let token = mfa_token(&app, &email).await;
    let fresh = verify(
        &app,
        &json!({"mfa_token": token, "code": authenticator.next_code()}),
    )
    .await;
    let fresh = Tokens::from_body(fresh.json().await.unwrap());
    let off = app
        .delete_auth(paths::TOTP, &fresh.access, &json!({"code": codes[0]}))
        .await;
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
}

/// Without `MFA_ENCRYPTION_KEY` in production, TOTP is refused, not sealed
/// under a key that dies with the process.
#[tokio::test]
async fn production_without_a_key_refuses_totp() {
    let app = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("SMTP_URL", "smtp://127.0.0.1:1"),
        ("MFA_ENCRYPTION_KEY", ""),
    ])
    .await;
    let user = app.register().await;
    let setup = app.post_auth(paths::TOTP_SETUP, &user.access, None).await;
    assert_problem(setup, StatusCode::SERVICE_UNAVAILABLE, "mfa_unavailable").await;
}

/// The probe's race: 8 `mfa_token`s × 12 wrong codes, all at once, over two
/// instances. Every attempt is counted before its code is judged — on the
/// challenge by one conditional `UPDATE`, for the user by one atomic step
/// in the shared lockout — so the user's threshold bounds the codes judged
/// (sequentially: 5; before the fix, concurrently: all 96).
#[tokio::test]
async fn concurrent_wrong_codes_get_no_more_judged_than_the_limits_allow() {
    let app = spawn_app_with(&[("LOGIN_LOCKOUT_THRESHOLD", "5")]).await;
    let peer = shared_peer(&app).await;
    let instances: Vec<&TestApp> = [Some(&app), peer.as_ref()].into_iter().flatten().collect();
    let email = email();
    let user = app.register_verified(&email).await;
    enable_totp(&app, &user.access).await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(mfa_token(&app, &email).await);
    }
    let answers = burst(&instances, 96, |app, i| {
        let body = json!({"mfa_token": tokens[i % 8], "code": "000000"});
        async move { verify(app, &body).await }
    })
    .await;
    let judged = count(&answers, "invalid_code");
    let unjudged = count(&answers, "account_locked") + count(&answers, "invalid_mfa_token");
    assert_eq!(judged + unjudged, answers.len(), "{answers:?}");
    assert_eq!(judged, 5, "{answers:?}");
}

/// One `mfa_token` is good for five judged codes however they arrive (the
/// user's lockout set high enough not to be what stops them).
#[tokio::test]
async fn one_challenge_gets_five_codes_judged_under_a_burst() {
    let app = spawn_app_with(&[("LOGIN_LOCKOUT_THRESHOLD", "1000")]).await;
    let peer = shared_peer(&app).await;
    let instances: Vec<&TestApp> = [Some(&app), peer.as_ref()].into_iter().flatten().collect();
    let email = email();
    let user = app.register_verified(&email).await;
    let (authenticator, _) = enable_totp(&app, &user.access).await;
    let token = mfa_token(&app, &email).await;
    let answers = burst(&instances, 40, |app, _| {
        let body = json!({"mfa_token": token, "code": "000000"});
        async move { verify(app, &body).await }
    })
    .await;
    assert_eq!(count(&answers, "invalid_code"), 5, "{answers:?}");
    assert_eq!(count(&answers, "invalid_mfa_token"), 35, "{answers:?}");
    let spent = verify(
        &app,
        &json!({"mfa_token": token, "code": authenticator.next_code()}),
    )
    .await;
    assert_problem(spent, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
}
