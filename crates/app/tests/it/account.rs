//! Register, login, me, name and profile updates, password change.

use api_types::{ProfileDto, TokenResponse, UserResponse, paths};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Tokens, assert_problem, spawn_app};

#[tokio::test]
async fn register_returns_a_token_response_with_the_normalised_user() {
    let app = spawn_app().await;
    let response = app
        .post(
            paths::REGISTER,
            &json!({"email": "  Ada@Example.COM ", "password": PASSWORD, "name": " Ada "}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // `id`, `created_at` and `updated_at` are there, or this would not read.
    let body: TokenResponse = response.json().await.unwrap();
    assert_eq!(body.token_type, "Bearer");
    assert_eq!(body.expires_in, 900);
    assert_eq!(body.access_token.split('.').count(), 3);
    assert_eq!(body.refresh_token.len(), 43);
    assert_eq!(body.user.email, "ada@example.com");
    assert_eq!(body.user.name, "Ada");
    assert!(!body.user.email_verified);
    assert_eq!(body.user.profile, None);

    // The password is stored as an argon2id hash, never in clear.
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    // And the refresh token only as its SHA-256.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT refresh_token_hash FROM sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
}

#[tokio::test]
async fn duplicate_email_is_a_conflict_in_any_letter_case() {
    let app = spawn_app().await;
    app.register_as("grace@example.com").await;
    for email in ["grace@example.com", "GRACE@Example.com"] {
        let response = app
            .post(
                paths::REGISTER,
                &json!({"email": email, "password": PASSWORD, "name": "Grace"}),
            )
            .await;
        assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
    }
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_one_account() {
    let app = spawn_app().await;
    let body = json!({"email": "race@example.com", "password": PASSWORD, "name": "Racer"});
    let responses =
        futures::future::join_all((0..4).map(|_| app.post(paths::REGISTER, &body))).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409]);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn registration_reports_every_invalid_field() {
    let app = spawn_app().await;
    let response = app
        .post(
            paths::REGISTER,
            &json!({"email": "not-an-email", "password": "short", "name": "  "}),
        )
        .await;
    let body = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = body
        .errors
        .iter()
        .flatten()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(fields, ["email", "password", "name"]);

    // Too long a password is refused, not truncated.
    let response = app
        .post(
            paths::REGISTER,
            &json!({"email": "a@example.com", "password": "x".repeat(129), "name": "A"}),
        )
        .await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    // A common password, or one made of the user's own name, is refused with
    // zxcvbn's advice and a code a client can act on.
    for (password, name) in [("Password123!", "Ada"), ("zephyrine.k", "Zephyrine K")] {
        let response = app
            .post(
                paths::REGISTER,
                &json!({"email": "zephyrine@example.com", "password": password, "name": name}),
            )
            .await;
        let body = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(body.errors.as_ref().unwrap()[0].field, "password");
        assert_eq!(
            body.errors.as_ref().unwrap()[0].code.as_deref(),
            Some("password_too_common")
        );
        let message = body.errors.as_ref().unwrap()[0].message.as_str();
        assert!(message.starts_with("is too easy to guess"), "{message}");
        assert!(
            !format!("{body:?}").contains(password),
            "the password is echoed"
        );
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 0, "nothing half-written");
}

#[tokio::test]
async fn unicode_passwords_work_whole() {
    let app = spawn_app().await;
    let password = "pässwörd-🔐-密码-".repeat(7); // 112 characters, > 128 bytes
    let response = app
        .post(
            paths::REGISTER,
            &json!({"email": "uni@example.com", "password": password, "name": "Uni"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        app.login("uni@example.com", &password).await.status(),
        StatusCode::OK
    );
    let mut almost = password.clone();
    almost.pop();
    almost.push('+');
    assert_eq!(
        app.login("uni@example.com", &almost).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_returns_tokens_for_the_right_password() {
    let app = spawn_app().await;
    app.register_as("linus@example.com").await;
    let response = app.login("Linus@Example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = Tokens::from_body(response.json().await.unwrap());
    assert_eq!(tokens.response.user.email, "linus@example.com");
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_answered_alike() {
    let app = spawn_app().await;
    app.register_as("known@example.com").await;
    let wrong = app.login("known@example.com", "not the password").await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    let malformed = app.login("not-an-email", PASSWORD).await;
    let wrong = assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = assert_problem(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let malformed =
        assert_problem(malformed, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, malformed);
}

#[tokio::test]
async fn me_returns_the_user_with_profile() {
    let app = spawn_app().await;
    let tokens = app.register().await;
    let response = app.me(&tokens.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body.pointer("/user/password_hash").is_none(), "{body}");
    let body: UserResponse = serde_json::from_value(body).unwrap();
    assert_eq!(body.user.id.to_string(), tokens.user_id);
    assert_eq!(body.user.profile, None);
}

#[tokio::test]
async fn name_and_profile_updates_are_validated_and_visible() {
    let app = spawn_app().await;
    let tokens = app.register().await;

    let response = app
        .client
        .patch(app.url(paths::USER))
        .bearer_auth(&tokens.access)
        .json(&json!({"name": "  Ada King "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: UserResponse = response.json().await.unwrap();
    assert_eq!(body.user.name, "Ada King");

    let response = app
        .client
        .patch(app.url(paths::USER))
        .bearer_auth(&tokens.access)
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    let profile = ProfileDto {
        bio: Some("Engines".into()),
        avatar_url: Some("https://cdn.example.com/a.png".into()),
        location: Some("London".into()),
        website: Some("https://ada.example.com".into()),
    };
    let response = app
        .client
        .put(app.url(paths::PROFILE))
        .bearer_auth(&tokens.access)
        .json(&profile)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: UserResponse = response.json().await.unwrap();
    assert_eq!(body.user.profile, Some(profile));

    // PUT replaces: absent fields are cleared.
    let response = app
        .client
        .put(app.url(paths::PROFILE))
        .bearer_auth(&tokens.access)
        .json(&json!({"bio": "Only a bio"}))
        .send()
        .await
        .unwrap();
    let body: UserResponse = response.json().await.unwrap();
    let only_bio = ProfileDto {
        bio: Some("Only a bio".into()),
        avatar_url: None,
        location: None,
        website: None,
    };
    assert_eq!(body.user.profile, Some(only_bio.clone()));

    let response = app
        .client
        .put(app.url(paths::PROFILE))
        .bearer_auth(&tokens.access)
        .json(&json!({"avatar_url": "javascript:alert(1)"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem.errors.as_ref().unwrap()[0].field, "avatar_url");

    let body: UserResponse = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(body.user.name, "Ada King");
    assert_eq!(body.user.profile, Some(only_bio));
}

/// A password change is judged with the account's own words, as
/// registration is; and an input built to be slow to judge (every l33t
/// symbol, 128 characters: 1.1 s of zxcvbn unbounded) is judged within the
/// bounds — here it is strong, so it is accepted.
#[tokio::test]
async fn new_passwords_are_judged_with_the_accounts_words_and_bounded_work() {
    let app = spawn_app().await;
    let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
    let user = app.register_as(&email).await;
    let own_words = email.trim_start_matches("user-").split('@').next().unwrap();
    let path = paths::PASSWORD_CHANGE;
    let change = |new: String| {
        let body = json!({"current_password": PASSWORD, "new_password": new});
        let (app, access) = (&app, user.access.clone());
        async move { app.post_auth(path, &access, Some(&body)).await }
    };
    let problem = assert_problem(
        change(own_words.to_owned()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        problem.errors.as_ref().unwrap()[0].code.as_deref(),
        Some("password_too_common")
    );
    let sink: String = "4@8({[<3691!|70$5+%2".chars().cycle().take(128).collect();
    assert_eq!(change(sink.clone()).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login(&email, &sink).await.status(), StatusCode::OK);
    let registered = app
        .post(
            paths::REGISTER,
            &json!({"email": "sink@example.com", "password": sink, "name": "S"}),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn password_change_revokes_other_sessions_and_keeps_this_one() {
    let app = spawn_app().await;
    let email = "change@example.com";
    let this = app.register_as(email).await;
    let other = Tokens::from_body(app.login(email, PASSWORD).await.json().await.unwrap());
    let path = paths::PASSWORD_CHANGE;

    let wrong = app
        .post_auth(
            path,
            &this.access,
            Some(
                &json!({"current_password": "wrong password", "new_password": "new password 123"}),
            ),
        )
        .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let weak = app
        .post_auth(
            path,
            &this.access,
            Some(&json!({"current_password": PASSWORD, "new_password": "short"})),
        )
        .await;
    let problem = assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem.errors.as_ref().unwrap()[0].field, "new_password");
    let common = app
        .post_auth(
            path,
            &this.access,
            Some(&json!({"current_password": PASSWORD, "new_password": "qwertyuiop"})),
        )
        .await;
    let problem = assert_problem(
        common,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        problem.errors.as_ref().unwrap()[0].code.as_deref(),
        Some("password_too_common")
    );

    let response = app
        .post_auth(
            path,
            &this.access,
            Some(&json!({"current_password": PASSWORD, "new_password": "new password 123"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(app.me(&this.access).await.status(), StatusCode::OK);
    assert_problem(
        app.me(&other.access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.refresh(&other.refresh).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(
        app.login(email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(email, "new password 123").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_account() {
    let app = crate::helpers::spawn_app_with(&[("RATE_LIMIT_LOGIN_PER_EMAIL", "3")]).await;
    app.register_as("target@example.com").await;
    for _ in 0..3 {
        let response = app.login("target@example.com", "guess guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The fourth guess within the minute is refused before any hashing, whatever the case.
    let response = app.login("TARGET@example.com", PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another account is unaffected.
    app.register_as("bystander@example.com").await;
    assert_eq!(
        app.login("bystander@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn credential_endpoints_are_rate_limited_per_address() {
    let app = crate::helpers::spawn_app_with(&[("RATE_LIMIT_PER_IP", "2")]).await;
    let tokens = app.register().await;
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    let response = app.login("someone@example.com", PASSWORD).await;
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Reads are not limited.
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn instances_sharing_a_database_serve_the_same_accounts() {
    let a = spawn_app().await;
    let b = crate::helpers::spawn_peer(&a, &[]).await;
    let email = format!("both-{}@example.com", uuid::Uuid::new_v4().simple());
    let on_a = a.register_as(&email).await;
    let on_b = b.login(&email, PASSWORD).await;
    assert_eq!(on_b.status(), StatusCode::OK);
    let on_b = Tokens::from_body(on_b.json().await.unwrap());
    assert_eq!(a.me(&on_b.access).await.status(), StatusCode::OK);
    assert_eq!(b.me(&on_a.access).await.status(), StatusCode::OK);
}

/// Look-alike addresses used to become separate accounts: fullwidth forms and
/// the punycode of a domain are the same address now (`409 email_taken`), and
/// invisible characters, mixed scripts and IP literals are refused (422).
#[tokio::test]
async fn look_alike_addresses_are_the_same_account_or_refused() {
    let app = spawn_app().await;
    app.register_as("ada@example.com").await;
    app.register_as("zoë@exämple.com").await;
    let register = |email: &str| {
        let body = json!({"email": email, "password": PASSWORD, "name": "Look Alike"});
        let app = &app;
        async move { app.post(paths::REGISTER, &body).await }
    };
    for same in ["ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ", "zoë@xn--exmple-cua.com"] {
        assert_problem(register(same).await, StatusCode::CONFLICT, "email_taken").await;
    }
    for refused in [
        "\u{430}da@example.com",
        "ada\u{200B}@example.com",
        "ada@192.0.2.1",
    ] {
        assert_problem(
            register(refused).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    // And signing in with the fullwidth form finds the account.
    let login = app.login("ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
}
