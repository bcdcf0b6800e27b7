//! Rate limits shared by instances (Redis) with an in-process fallback, the
//! login lockout per account and client, and client addresses from trusted
//! proxies.

use api_types::{AuditEventDto, TokenResponse, paths};
use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    PASSWORD, TestApp, assert_problem, burst, count, shared_peer, spawn_app_with,
};

async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Response {
    app.client
        .post(app.url(paths::LOGIN))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

fn header(response: &Response, name: &str) -> u64 {
    response.headers()[name].to_str().unwrap().parse().unwrap()
}

async fn forgot(app: &TestApp, email: &str) -> Response {
    app.post(paths::PASSWORD_FORGOT, &json!({"email": email}))
        .await
}

#[tokio::test]
async fn over_a_limit_the_answer_carries_retry_after_and_ratelimit_headers() {
    let app = spawn_app_with(&[("RATE_LIMIT_FORGOT_PER_EMAIL", "2")]).await;
    for _ in 0..2 {
        assert_eq!(
            forgot(&app, "a@example.com").await.status(),
            StatusCode::ACCEPTED
        );
    }
    let response = forgot(&app, "A@example.com ").await;
    assert_eq!(header(&response, "ratelimit-limit"), 2);
    assert_eq!(header(&response, "ratelimit-remaining"), 0);
    let reset = header(&response, "ratelimit-reset");
    assert!((1..=1800).contains(&reset), "{reset}");
    assert_eq!(header(&response, "retry-after"), reset);
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another address has its own allowance.
    assert_eq!(
        forgot(&app, "b@example.com").await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn failed_sign_ins_lock_the_account_for_that_client_only() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
        ("LOGIN_LOCKOUT_SECONDS", "1"),
        ("RATE_LIMIT_LOGIN_PER_EMAIL", "0"),
    ])
    .await;
    let email = "victim@example.com";
    app.register_as(email).await;
    let attacker = "203.0.113.9";
    for _ in 0..5 {
        let response = login_from(&app, attacker, email, "a wrong guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked for the attacker's address, even with the right password.
    let response = login_from(&app, attacker, email, PASSWORD).await;
    assert!(header(&response, "retry-after") >= 1);
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "account_locked").await;
    #[cfg(feature = "cache")]
    {
        // Shared: another instance sees the same lock.
        let peer = crate::helpers::spawn_peer(&app, &[]).await;
        let response = login_from(&peer, attacker, email, PASSWORD).await;
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "account_locked").await;
    }
    // The owner, from their own client, signs in.
    let response = login_from(&app, "198.51.100.7", email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The lock runs out (1 s here); a success then clears the count.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        login_from(&app, attacker, email, PASSWORD).await.status(),
        StatusCode::OK
    );
    let response = login_from(&app, attacker, email, "a wrong guess").await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "count cleared by the success"
    );
    // The audit trail records the lock.
    let body: TokenResponse = login_from(&app, "198.51.100.7", email, PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let events: Vec<AuditEventDto> = app
        .get_auth(&format!("{}?limit=100", paths::EVENTS), &body.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == "login_lockout" && e.ip.as_deref() == Some(attacker))
    );
}

#[tokio::test]
async fn forwarded_addresses_from_untrusted_peers_are_ignored() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_IP", "2")]).await;
    for ip in ["1.1.1.1", "2.2.2.2"] {
        let response = login_from(&app, ip, "nobody@example.com", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // A third "client" is the same peer: limited.
    let response = login_from(&app, "3.3.3.3", "nobody@example.com", PASSWORD).await;
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[cfg(feature = "cache")]
mod shared {
    use super::*;

    #[tokio::test]
    async fn a_limit_is_shared_by_every_instance() {
        let app = spawn_app_with(&[("RATE_LIMIT_FORGOT_PER_EMAIL", "2")]).await;
        let peer = crate::helpers::spawn_peer(&app, &[]).await;
        assert_eq!(
            forgot(&app, "s@example.com").await.status(),
            StatusCode::ACCEPTED
        );
        assert_eq!(
            forgot(&peer, "s@example.com").await.status(),
            StatusCode::ACCEPTED
        );
        let response = forgot(&app, "s@example.com").await;
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        let response = forgot(&peer, "s@example.com").await;
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }

    #[tokio::test]
    async fn limits_still_hold_with_redis_stopped() {
        let mut redis = testkit::RedisServer::start(&[]).unwrap();
        let app = spawn_app_with(&[
            ("REDIS_URL", &redis.url()),
            ("RATE_LIMIT_FORGOT_PER_EMAIL", "2"),
        ])
        .await;
        // Counted in Redis while it runs…
        assert_eq!(
            forgot(&app, "r@example.com").await.status(),
            StatusCode::ACCEPTED
        );
        redis.stop();
        // …and in process once it is gone: never no limit.
        for _ in 0..2 {
            assert_eq!(
                forgot(&app, "r@example.com").await.status(),
                StatusCode::ACCEPTED
            );
        }
        let response = forgot(&app, "r@example.com").await;
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        // The lockout falls back too.
        let email = "l@example.com";
        for _ in 0..5 {
            let response = app.login(email, "a wrong guess").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let response = app.login(email, PASSWORD).await;
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "account_locked").await;
    }
}

/// Wrong passwords sent at once, from one client, to two instances: the
/// lockout counts each attempt before the password is judged, so no more are
/// judged than the threshold — the rest are refused unjudged.
#[tokio::test]
async fn concurrent_wrong_passwords_get_no_more_judged_than_the_threshold() {
    let app = spawn_app_with(&[
        ("LOGIN_LOCKOUT_THRESHOLD", "5"),
        ("RATE_LIMIT_LOGIN_PER_EMAIL", "0"),
    ])
    .await;
    let peer = shared_peer(&app).await;
    let instances: Vec<&TestApp> = [Some(&app), peer.as_ref()].into_iter().flatten().collect();
    let email = "burst@example.com";
    app.register_as(email).await;
    let answers = burst(&instances, 24, |app, _| app.login(email, "a wrong guess")).await;
    let judged = count(&answers, "invalid_credentials");
    let locked = count(&answers, "account_locked");
    assert_eq!(judged + locked, answers.len(), "{answers:?}");
    assert_eq!(judged, 5, "{answers:?}");
    // The owner's own right password, from that client, waits for the lock too.
    let response = app.login(email, PASSWORD).await;
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "account_locked").await;
}

async fn forgot_from(app: &TestApp, ip: &str, email: &str) -> Response {
    app.client
        .post(app.url(paths::PASSWORD_FORGOT))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap()
}

/// The probe's malicious lockout through the limits: wrong passwords and
/// reset requests from elsewhere used to spend the per-account allowance
/// (17 of 20 owner sign-ins refused). Keyed by account *and* client now,
/// like the lockout: the attacker is limited, the owner is not.
#[tokio::test]
async fn per_account_limits_are_the_attackers_not_the_owners() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
        ("RATE_LIMIT_LOGIN_PER_EMAIL", "3"),
        ("RATE_LIMIT_FORGOT_PER_EMAIL", "2"),
        ("LOGIN_LOCKOUT_THRESHOLD", "100"),
    ])
    .await;
    let email = "owner@example.com";
    app.register_as(email).await;
    let (attacker, owner) = ("203.0.113.9", "198.51.100.7");
    for _ in 0..3 {
        let response = login_from(&app, attacker, email, "a wrong guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = login_from(&app, attacker, email, "a wrong guess").await;
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(
        login_from(&app, owner, email, PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        assert_eq!(
            forgot_from(&app, attacker, email).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let limited = forgot_from(&app, attacker, email).await;
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(
        forgot_from(&app, owner, email).await.status(),
        StatusCode::ACCEPTED
    );
}

/// An IPv6 client is one /64: rotating the interface identifier buys no new
/// allowance; another /64 is another client.
#[tokio::test]
async fn ipv6_clients_are_limited_by_their_64() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
        ("RATE_LIMIT_PER_IP", "2"),
    ])
    .await;
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
        let response = login_from(&app, ip, "nobody@example.com", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let same_64 = login_from(&app, "2001:db8:1:2::abcd", "nobody@example.com", PASSWORD).await;
    assert_problem(same_64, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let other_64 = login_from(&app, "2001:db8:1:3::1", "nobody@example.com", PASSWORD).await;
    assert_eq!(other_64.status(), StatusCode::UNAUTHORIZED);
}

/// A failed sign-in of a known address used to write its audit record before
/// answering (~2 ms more than an unknown address: enumeration by timing).
/// The record is written after the answer now: with the audit table locked,
/// the answer still comes, and the record follows once the lock goes.
#[tokio::test]
async fn a_failed_sign_in_does_not_wait_for_its_audit_record() {
    use sqlx::Connection as _;
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_PER_EMAIL", "0")]).await;
    let email = "timed@example.com";
    let user = app.register_as(email).await;
    let mut locker = sqlx::PgConnection::connect(&app.env["DATABASE_URL"])
        .await
        .unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let answer = app
        .client
        .post(app.url(paths::LOGIN))
        .json(&json!({"email": email, "password": "a wrong guess"}))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("answered while the audit table is locked");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    lock.rollback().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_events
             WHERE user_id = $1::uuid AND event = 'login' AND outcome = 'failure'",
        )
        .bind(&user.user_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if recorded == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
