//! Account recovery end to end, with a real SMTP server (aiosmtpd) receiving
//! the mail and the links in it followed: password reset, email verification
//! and change, account deletion, the outbox, the audit trail.

use api_types::{AuditEventDto, TokenResponse, UserResponse, paths};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{SmtpSink, link_token};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app_with, spawn_peer};

const NEW_PASSWORD: &str = "a completely different passphrase";

async fn app_with_mail(sink: &SmtpSink) -> TestApp {
    spawn_app_with(&[
        ("SMTP_URL", &sink.url()),
        ("APP_URL", "https://app.example.com/"),
    ])
    .await
}

fn address() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

async fn forgot(app: &TestApp, email: &str) -> (StatusCode, Value) {
    let response = app
        .post(paths::PASSWORD_FORGOT, &json!({"email": email}))
        .await;
    (response.status(), response.json().await.unwrap())
}

async fn reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post(
        paths::PASSWORD_RESET,
        &json!({"token": token, "new_password": password}),
    )
    .await
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post(paths::EMAIL_VERIFY, &json!({"token": token}))
        .await
}

/// Registers `email` and verifies it through the sink (the first mail to
/// it), then signs in again: a user who may add sign-in methods.
async fn verified(app: &TestApp, sink: &SmtpSink, email: &str) -> crate::helpers::Tokens {
    app.register_as(email).await;
    let token = mailed_token(sink, email, 1, "verify-email").await;
    app.verify_and_sign_in(email, &token).await
}

/// Waits (up to 10 s) until the `count(*)` query `sql` answers `want`.
async fn wait_for_count(pool: &sqlx::PgPool, sql: &'static str, want: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let count: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
        if count == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sql} answered {count}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The token of the newest mail to `to` linking to `page`, once `count` mails
/// arrived (mails queued together may be sent in either order).
async fn mailed_token(sink: &SmtpSink, to: &str, count: usize, page: &str) -> String {
    let mails = sink.wait_for(to, count).await;
    let link = format!("https://app.example.com/{page}?token=");
    let mail = mails
        .iter()
        .rev()
        .map(|mail| testkit::readable(mail))
        .find(|mail| mail.contains(&link))
        .unwrap_or_else(|| panic!("no {page} link built from APP_URL in {mails:?}"));
    link_token(&mail, page).expect("a link with a token")
}

#[tokio::test]
async fn password_reset_by_mail_revokes_every_session() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let email = address();
    let first = app.register_as(&email).await;
    let second = app.login(&email, PASSWORD).await;
    let second: TokenResponse = second.json().await.unwrap();

    let (status, body) = forgot(&app, &email).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body, json!({"status": "accepted"}));
    // Mail 1 verifies the address; mail 2 is the reset.
    let token = mailed_token(&sink, &email, 2, "reset-password").await;
    let mails = sink.messages_to(&email);
    let mail = mails
        .iter()
        .find(|m| m.contains("Subject: Reset your password"))
        .expect("the reset mail");
    assert!(mail.contains("text/html") && mail.contains("text/plain"));

    assert_problem(
        reset(&app, &token, PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "same_password",
    )
    .await;
    assert_problem(
        reset(&app, &token, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let common = assert_problem(
        reset(&app, &token, "iloveyou1").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        common.errors.as_ref().unwrap()[0].code.as_deref(),
        Some("password_too_common")
    );
    // Judged with the account's own words, as at registration: the random
    // part of the address is strong alone, weak as this account's password.
    let own_words = email.trim_start_matches("user-").split('@').next().unwrap();
    let own = assert_problem(
        reset(&app, &token, own_words).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        own.errors.as_ref().unwrap()[0].code.as_deref(),
        Some("password_too_common")
    );
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    // Single use.
    assert_problem(
        reset(&app, &token, "yet another passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    // Every session ended, refresh tokens included.
    for access in [&first.access, &second.access_token] {
        assert_eq!(app.me(access).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.refresh(&first.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// A reset signs no one in: the next sign-in still needs the second factor
/// (ASVS 6.4.3).
#[tokio::test]
async fn a_password_reset_does_not_bypass_the_second_factor() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let email = address();
    let user = verified(&app, &sink, &email).await;
    let (authenticator, _) = crate::mfa::enable_totp(&app, &user.access).await;
    forgot(&app, &email).await;
    // Mails: the verification, the notice of TOTP added, the reset.
    let token = mailed_token(&sink, &email, 3, "reset-password").await;
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    let login = app.login(&email, NEW_PASSWORD).await;
    let mfa_token = crate::mfa::mfa_token_of(login).await;
    let body = json!({"mfa_token": mfa_token, "code": authenticator.next_code()});
    assert_eq!(
        crate::mfa::verify(&app, &body).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn forgot_for_an_unknown_address_is_indistinguishable() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let known = address();
    app.register_as(&known).await;
    let unknown = address();
    let (known_status, known_body) = forgot(&app, &known).await;
    let (unknown_status, unknown_body) = forgot(&app, &unknown).await;
    assert_eq!(known_status, unknown_status);
    assert_eq!(known_body, unknown_body);
    sink.wait_for(&known, 2).await;
    assert!(sink.messages_to(&unknown).is_empty());
    // A malformed address is a validation error (it names no account either way).
    let response = app
        .post(paths::PASSWORD_FORGOT, &json!({"email": "nope"}))
        .await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn a_new_reset_token_voids_the_earlier_and_tokens_expire() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let email = address();
    app.register_as(&email).await;
    forgot(&app, &email).await;
    let first = mailed_token(&sink, &email, 2, "reset-password").await;
    forgot(&app, &email).await;
    let second = mailed_token(&sink, &email, 3, "reset-password").await;
    assert_ne!(first, second);
    assert_problem(
        reset(&app, &first, NEW_PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    // Expired: the row says so.
    sqlx::query("UPDATE account_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_problem(
        reset(&app, &second, NEW_PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    // Garbage is refused the same way, without touching storage.
    for token in ["", "x", &"A".repeat(43)] {
        assert_problem(
            reset(&app, token, NEW_PASSWORD).await,
            StatusCode::BAD_REQUEST,
            "invalid_token",
        )
        .await;
    }
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn registration_mails_a_verification_link_that_works_once() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let email = address();
    let tokens = app.register_as(&email).await;
    assert!(!tokens.response.user.email_verified);
    let token = mailed_token(&sink, &email, 1, "verify-email").await;
    // Warm the cache with the unverified user first.
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);

    let response = verify(&app, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: UserResponse = response.json().await.unwrap();
    assert!(body.user.email_verified);
    // The first proof of the address ends every session opened before it
    // (whoever registered it may not be its owner); signing in again works.
    assert_problem(
        app.me(&tokens.access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let tokens =
        crate::helpers::Tokens::from_body(app.login(&email, PASSWORD).await.json().await.unwrap());
    let me: UserResponse = app.me(&tokens.access).await.json().await.unwrap();
    assert!(me.user.email_verified, "the cached user was invalidated");
    assert_problem(
        verify(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;

    // Asking again for a verified address sends nothing.
    let response = app
        .post_auth(paths::EMAIL_VERIFY_SEND, &tokens.access, None)
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages_to(&email).len(), 1);
}

#[tokio::test]
async fn verification_can_be_requested_again_and_voids_the_first_link() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let email = address();
    let tokens = app.register_as(&email).await;
    let first = mailed_token(&sink, &email, 1, "verify-email").await;
    let response = app
        .post_auth(paths::EMAIL_VERIFY_SEND, &tokens.access, None)
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let second = mailed_token(&sink, &email, 2, "verify-email").await;
    assert_problem(
        verify(&app, &first).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_eq!(verify(&app, &second).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn email_changes_only_when_the_new_address_is_verified() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let peer = spawn_peer(&app, &[]).await;
    let (old, new) = (address(), address());
    let tokens = app.register_as(&old).await;
    let taken = address();
    app.register_as(&taken).await;
    let change = |new_email: &str, password: &str| {
        let body = json!({"new_email": new_email, "password": password});
        let access = tokens.access.clone();
        let app = &app;
        async move {
            app.post_auth(paths::EMAIL_CHANGE, &access, Some(&body))
                .await
        }
    };
    assert_problem(
        change(&new, "wrong password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_problem(
        change(&taken, PASSWORD).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    assert_problem(
        change(&old, PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let response = change(&new, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let token = mailed_token(&sink, &new, 1, "verify-email").await;
    // Nothing changed yet, on either instance.
    for instance in [&app, &peer] {
        let me: UserResponse = instance.me(&tokens.access).await.json().await.unwrap();
        assert_eq!(me.user.email, old);
    }
    assert_eq!(
        app.login(&new, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let response = verify(&app, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: UserResponse = response.json().await.unwrap();
    assert_eq!(body.user.email, new);
    assert!(body.user.email_verified);
    // The old address is told: when the change was requested, and when it
    // took effect (with the verification, three mails).
    let notices = sink.wait_for(&old, 3).await;
    for subject in [
        "Subject: A change of your email address was requested",
        "Subject: Your email address was changed",
    ] {
        let notice = notices
            .iter()
            .map(|mail| testkit::readable(mail))
            .find(|mail| mail.contains(subject))
            .unwrap_or_else(|| panic!("{subject} to the old address"));
        assert!(notice.contains(&new), "{notice}");
    }
    // Both instances see the new address; sign-in follows it.
    let me: UserResponse = peer.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me.user.email, new);
    assert_eq!(peer.login(&new, PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        peer.login(&old, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The old address is free again.
    app.register_as(&old).await;
}

#[tokio::test]
async fn account_deletion_revokes_everything_on_a_second_instance() {
    let app = spawn_app_with(&[]).await;
    let peer = spawn_peer(&app, &[]).await;
    let email = address();
    let tokens = app.register_as(&email).await;
    // Warm both instances' caches.
    assert_eq!(peer.me(&tokens.access).await.status(), StatusCode::OK);
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    let response = app
        .delete_auth(
            paths::USER,
            &tokens.access,
            &json!({"password": "wrong password"}),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let response = app
        .delete_auth(paths::USER, &tokens.access, &json!({"password": PASSWORD}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for instance in [&app, &peer] {
        assert_eq!(
            instance.me(&tokens.access).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        peer.refresh(&tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        peer.login(&email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
    // The address can be registered again.
    peer.register_as(&email).await;
}

/// A sender that claimed a mail and died before the SMTP server took it: the
/// lease runs out and another instance sends it, exactly once.
#[tokio::test]
async fn a_mail_claimed_by_a_dead_sender_arrives_exactly_once() {
    let sink = SmtpSink::start();
    // An SMTP "server" that accepts connections and never says a word.
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tarpit_url = format!("smtp://127.0.0.1:{}", tarpit.local_addr().unwrap().port());
    let (application, app) = crate::helpers::build_app(&[
        ("SMTP_URL", &tarpit_url),
        ("SMTP_TIMEOUT", "1"),
        ("APP_URL", "https://app.example.com"),
    ])
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let email = address();
    app.register_as(&email).await;
    // Wait until the verification mail is claimed (the sender is now stuck
    // talking to the tarpit), then stop the instance: its sender dies mid-send.
    wait_for_count(
        &app.pool,
        "SELECT count(*) FROM mail_outbox WHERE locked_until IS NOT NULL",
        1,
    )
    .await;
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();

    let peer = spawn_peer(&app, &[("SMTP_URL", &sink.url()), ("SMTP_TIMEOUT", "5")]).await;
    let mails = sink.wait_for(&email, 1).await;
    assert!(link_token(&mails[0], "verify-email").is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages_to(&email).len(), 1, "sent exactly once");
    let (sent, message_left): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE sent_at IS NOT NULL),
                count(*) FILTER (WHERE message IS NOT NULL) FROM mail_outbox",
    )
    .fetch_one(&peer.pool)
    .await
    .unwrap();
    assert_eq!((sent, message_left), (1, 0), "sent, and its link erased");
    drop(tarpit);
}

/// Two instances drain one outbox: every mail is sent once.
#[tokio::test]
async fn two_senders_send_each_mail_once() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let peer = spawn_peer(&app, &[]).await;
    let emails: Vec<String> = (0..12).map(|_| address()).collect();
    for (i, email) in emails.iter().enumerate() {
        let instance = if i % 2 == 0 { &app } else { &peer };
        instance.register_as(email).await;
    }
    for email in &emails {
        sink.wait_for(email, 1).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for email in &emails {
        assert_eq!(sink.messages_to(email).len(), 1, "{email}");
    }
}

#[tokio::test]
async fn users_see_their_own_audit_trail_newest_first() {
    let app = spawn_app_with(&[]).await;
    let email = address();
    let tokens = app.register_as(&email).await;
    assert_eq!(
        app.login(&email, "wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let login: TokenResponse = app.login(&email, PASSWORD).await.json().await.unwrap();
    let access = login.access_token.as_str();
    app.post_auth(paths::LOGOUT, &tokens.access, None).await;
    let other = app.register().await;

    let response = app.get_auth(paths::EVENTS, access).await;
    assert_eq!(response.status(), StatusCode::OK);
    // `id` and `created_at` are there, or these would not read.
    let events: Vec<AuditEventDto> = response.json().await.unwrap();
    let names: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.event.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("logout", "success"),
            ("login", "success"),
            ("login", "failure"),
            ("register", "success")
        ]
    );
    assert_eq!(events[0].ip.as_deref(), Some("127.0.0.1"));
    let one: Vec<AuditEventDto> = app
        .get_auth(&format!("{}?limit=1", paths::EVENTS), access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    for bad in ["0", "101", "x", "-1"] {
        let response = app
            .get_auth(&format!("{}?limit={bad}", paths::EVENTS), access)
            .await;
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    // Another user's trail is their own.
    let theirs: Vec<Value> = app
        .get_auth(paths::EVENTS, &other.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
}

#[tokio::test]
async fn audit_events_past_retention_are_deleted() {
    let app = spawn_app_with(&[]).await;
    let tokens = app.register().await;
    sqlx::query(
        "INSERT INTO audit_events (id, user_id, event, outcome, created_at)
         VALUES ($1, $2, 'login', 'success', now() - interval '91 days')",
    )
    .bind(Uuid::now_v7())
    .bind(Uuid::parse_str(&tokens.user_id).unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
    // A new instance purges at start-up.
    let _peer = spawn_peer(&app, &[("AUDIT_RETENTION_DAYS", "90")]).await;
    wait_for_count(
        &app.pool,
        "SELECT count(*) FROM audit_events WHERE created_at < now() - interval '90 days'",
        0,
    )
    .await;
    let events: Vec<Value> = app
        .get_auth(paths::EVENTS, &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "recent events stay");
}

/// A sign-in method added is announced at the account's address with a link
/// that removes it and signs every device out: the owner's way back from a
/// thief who knew the password and planted a factor (the probe's case: stuck
/// at `mfa_required` behind a secret they never saw). Each notice removes
/// what it announced, once.
#[tokio::test]
async fn a_sign_in_method_added_is_announced_with_a_link_that_removes_it() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let email = address();
    // Someone who knows the owner's password, on a verified account.
    let thief = verified(&app, &sink, &email).await;
    crate::mfa::enable_totp(&app, &thief.access).await;
    // Mail 1 verifies the address; mail 2 is the notice.
    let token = mailed_token(&sink, &email, 2, "remove-sign-in-method").await;
    let notice = sink
        .messages_to(&email)
        .into_iter()
        .map(|m| testkit::readable(&m))
        .find(|m| m.contains("Subject: A sign-in method was added to your account"))
        .expect("the notice");
    assert!(notice.contains("an authenticator app (TOTP)"), "{notice}");
    crate::mfa::mfa_token(&app, &email).await;

    let remove = |token: String| {
        let app = &app;
        async move {
            app.post(paths::MFA_REMOVE_BY_LINK, &json!({"token": token}))
                .await
        }
    };
    assert_eq!(remove(token.clone()).await.status(), StatusCode::NO_CONTENT);
    // Whoever added it is signed out; the password alone signs in again.
    assert_problem(
        app.me(&thief.access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    assert_problem(
        remove(token).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_problem(
        remove("not-a-token".to_owned()).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
}

/// The probe's takeover: a thief with a session requests an email change (or
/// a reset link); the owner recovers — reset, password change, or signing
/// out everywhere — and the thief's pending link must die with it.
#[tokio::test]
async fn recovery_voids_pending_email_changes_and_reset_links() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    for recovery in ["logout-all", "password change", "reset"] {
        let email = address();
        let owner = app.register_as(&email).await;
        let thief_address = address();
        let change = app
            .post_auth(
                paths::EMAIL_CHANGE,
                &owner.access,
                Some(&json!({"new_email": thief_address, "password": PASSWORD})),
            )
            .await;
        assert_eq!(change.status(), StatusCode::ACCEPTED);
        let change_token = mailed_token(&sink, &thief_address, 1, "verify-email").await;
        forgot(&app, &email).await;
        // Verification, change requested, reset.
        let reset_token = mailed_token(&sink, &email, 3, "reset-password").await;
        match recovery {
            "logout-all" => {
                let response = app.post_auth(paths::LOGOUT_ALL, &owner.access, None).await;
                assert_eq!(response.status(), StatusCode::NO_CONTENT);
            }
            "password change" => {
                let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
                let response = app
                    .post_auth(paths::PASSWORD_CHANGE, &owner.access, Some(&body))
                    .await;
                assert_eq!(response.status(), StatusCode::NO_CONTENT);
            }
            _ => {
                forgot(&app, &email).await;
                let own = mailed_token(&sink, &email, 4, "reset-password").await;
                assert_eq!(
                    reset(&app, &own, NEW_PASSWORD).await.status(),
                    StatusCode::NO_CONTENT
                );
            }
        }
        assert_problem(
            verify(&app, &change_token).await,
            StatusCode::BAD_REQUEST,
            "invalid_token",
        )
        .await;
        if recovery != "reset" {
            assert_problem(
                reset(&app, &reset_token, "yet another passphrase").await,
                StatusCode::BAD_REQUEST,
                "invalid_token",
            )
            .await;
        }
        assert_eq!(
            app.login(&thief_address, PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED,
            "{recovery}"
        );
    }
}

/// Reset requests are limited per address *and* client, so what reaches the
/// mailbox is capped per account, whoever asks: five reset mails an hour
/// (the latest link still works for the owner), however many clients ask.
#[tokio::test]
async fn reset_mails_to_one_mailbox_are_capped_whoever_asks() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(&[
        ("SMTP_URL", &sink.url()),
        ("APP_URL", "https://app.example.com/"),
        ("TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
    ])
    .await;
    let email = address();
    app.register_as(&email).await;
    for i in 0..8 {
        let response = app
            .client
            .post(app.url(paths::PASSWORD_FORGOT))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    // The verification and five resets; nothing more arrives.
    sink.wait_for(&email, 6).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mails = sink.messages_to(&email);
    assert_eq!(mails.len(), 6);
    // Each new link voided the one before: the owner's newest one works.
    let mut worked = 0;
    for mail in &mails {
        if let Some(token) = link_token(&testkit::readable(mail), "reset-password")
            && reset(&app, &token, NEW_PASSWORD).await.status() == StatusCode::NO_CONTENT
        {
            worked += 1;
        }
    }
    assert_eq!(worked, 1);
}

/// Anyone can register any address with any name: mail to an address nobody
/// confirmed (the verification, a reset of an unverified account, an email
/// change's confirmation) greets no one by it, so a name like a phishing
/// line never reaches a stranger's inbox.
#[tokio::test]
async fn names_stay_out_of_mail_to_unconfirmed_addresses() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink).await;
    let email = address();
    let name = "Claim your prize at https://prize.example";
    let response = app
        .post(
            paths::REGISTER,
            &json!({"email": email, "password": PASSWORD, "name": name}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    forgot(&app, &email).await;
    let mails = sink.wait_for(&email, 2).await;
    for mail in &mails {
        let mail = testkit::readable(mail);
        assert!(!mail.contains("prize.example"), "{mail}");
        assert!(mail.contains("Hello,"), "{mail}");
    }
    // Once the owner confirmed the address, mail to it greets them by name.
    let token = mailed_token(&sink, &email, 2, "verify-email").await;
    let tokens = app.verify_and_sign_in(&email, &token).await;
    let change = app
        .post_auth(
            paths::EMAIL_CHANGE,
            &tokens.access,
            Some(&json!({"new_email": address(), "password": PASSWORD})),
        )
        .await;
    assert_eq!(change.status(), StatusCode::ACCEPTED);
    let mails = sink.wait_for(&email, 3).await;
    assert!(
        mails
            .iter()
            .any(|m| testkit::readable(m).contains("Hello Claim your prize")),
        "the owner's own name, to the owner's confirmed address"
    );
}
