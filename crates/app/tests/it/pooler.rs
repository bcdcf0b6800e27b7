//! The service behind Debian's PgBouncer (1.18) in transaction mode, with two
//! server connections shared by the service's ten: every kind of repository
//! operation (single statements, transactions, the mail outbox) works and
//! nothing is half-written, also under the chaos load; without
//! `DATABASE_TRANSACTION_POOLER` the same pooler breaks sqlx's prepared
//! statements, so the test can fail.

use api_types::paths;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_peer};

/// One user's whole session life, every status checked.
async fn account_life(app: &TestApp) -> Result<(), String> {
    let email = format!("pooled-{}@example.com", Uuid::new_v4().simple());
    let expect = |what: &str, got: StatusCode, want: StatusCode| {
        if got == want {
            Ok(())
        } else {
            Err(format!("{what}: {got}, expected {want}"))
        }
    };
    let register = app
        .post(
            paths::REGISTER,
            &json!({"email": email, "password": PASSWORD, "name": "Pooled"}),
        )
        .await;
    expect("register", register.status(), StatusCode::CREATED)?;
    let tokens = crate::helpers::Tokens::from_body(register.json().await.unwrap());
    expect("me", app.me(&tokens.access).await.status(), StatusCode::OK)?;
    let put = app
        .client
        .put(app.url(paths::PROFILE))
        .bearer_auth(&tokens.access)
        .json(&json!({"bio": "behind a pooler"}))
        .send()
        .await
        .unwrap();
    expect("profile", put.status(), StatusCode::OK)?;
    let login = app.login(&email, PASSWORD).await;
    expect("login", login.status(), StatusCode::OK)?;
    let second = crate::helpers::Tokens::from_body(login.json().await.unwrap());
    let refresh = app.refresh(&second.refresh).await;
    expect("refresh", refresh.status(), StatusCode::OK)?;
    let sessions = app.get_auth(paths::SESSIONS, &tokens.access).await;
    expect("sessions", sessions.status(), StatusCode::OK)?;
    let forgot = app
        .post(paths::PASSWORD_FORGOT, &json!({"email": email}))
        .await;
    expect("forgot", forgot.status(), StatusCode::ACCEPTED)?;
    let logout = app.post_auth(paths::LOGOUT, &tokens.access, None).await;
    expect("logout", logout.status(), StatusCode::NO_CONTENT)?;
    expect(
        "me after logout",
        app.me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED,
    )?;
    let events = app.get_auth(paths::EVENTS, &second.access).await;
    expect("events", events.status(), StatusCode::OK)
}

/// `clients` concurrent account lives; the errors they met.
async fn concurrent_lives(app: &TestApp, clients: usize) -> Vec<String> {
    let lives = (0..clients).map(|_| account_life(app));
    futures::future::join_all(lives)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect()
}

#[tokio::test]
async fn the_service_works_behind_pgbouncer_in_transaction_mode() {
    let direct = spawn_app().await;
    let bouncer = testkit::PgBouncer::start(&direct.env["DATABASE_URL"], 2)
        .expect("Debian's pgbouncer (cargo xtask test installs it)");
    let database = direct.env["DATABASE_URL"]
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let pooled = spawn_peer(
        &direct,
        &[
            ("DATABASE_URL", &bouncer.url(&database)),
            ("DATABASE_TRANSACTION_POOLER", "true"),
            // Every read goes to PostgreSQL.
            ("CACHE_ENABLED", "false"),
            // The chaos load below registers faster than one address may.
            ("RATE_LIMIT_PER_IP", "1000000"),
        ],
    )
    .await;
    let ready = pooled
        .client
        .get(pooled.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    // Two rounds of ten: more from one address would meet the rate limits.
    for round in 0..2 {
        let errors = concurrent_lives(&pooled, 10).await;
        assert!(
            errors.is_empty(),
            "round {round} behind PgBouncer: {errors:?}\n{}",
            bouncer.log()
        );
    }
    // Nothing half-written: 20 users, each with its two sessions, one revoked.
    let (users, sessions, revoked): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users),
                (SELECT count(*) FROM sessions),
                (SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL)",
    )
    .fetch_one(&direct.pool)
    .await
    .unwrap();
    assert_eq!((users, sessions, revoked), (20, 40, 20));

    // Sustained: the chaos load through the pooler (checked on the direct
    // instance, which shares the database).
    let load = crate::chaos::Load::start(&pooled, 4).await;
    load.fault_begins();
    tokio::time::sleep(crate::chaos::hold(Duration::from_millis(500))).await;
    load.fault_ends();
    load.stop()
        .await
        .check(
            "behind PgBouncer 1.18, transaction mode, 2 server connections (no fault)",
            &direct,
            None,
        )
        .await;

    // Migrations are refused through the pooler, with the reason.
    let config = app::config::Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(bouncer.url(&database)),
        "DATABASE_TRANSACTION_POOLER" => Some("true".to_owned()),
        _ => None,
    })
    .unwrap();
    let refused = app::startup::migrate(&config).await.unwrap_err();
    assert!(
        refused.to_string().contains("direct connection"),
        "{refused}"
    );

    // The control: the same pooler without the setting breaks sqlx's named
    // statements (shared by two server connections).
    let unaware = spawn_peer(
        &direct,
        &[
            ("DATABASE_URL", &bouncer.url(&database)),
            ("CACHE_ENABLED", "false"),
        ],
    )
    .await;
    let errors = concurrent_lives(&unaware, 4).await;
    eprintln!("without the setting: {errors:?}");
    assert!(
        errors.iter().any(|error| error.contains(": 500")),
        "without DATABASE_TRANSACTION_POOLER every request passed: the pooler keeps prepared statements and this test proves nothing"
    );
}
