//! The cache inside the running service: `/me` without the database, two
//! instances sharing one Redis, Redis dying and coming back, and what Redis holds.

use api_types::{ReadinessResponse, UserResponse, paths};
use std::time::Duration;

use fred::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use api_types::TokenResponse;

use crate::helpers::{PASSWORD, TestApp, spawn_app_with, spawn_peer};

/// A `redis-server` of the test's own on a free port, to stop and restart.
fn own_redis() -> testkit::RedisServer {
    testkit::RedisServer::start(&[])
        .expect("redis-server must be installed (`cargo xtask test` checks for it)")
}

fn cache(app: &TestApp) -> &cache_redis::Cache {
    app.cache.as_ref().expect("the cache is on")
}

async fn me_ok(app: &TestApp, token: &str) -> UserResponse {
    let response = app.me(token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn bio(me: UserResponse) -> Option<String> {
    me.user.profile.and_then(|profile| profile.bio)
}

async fn put_bio(app: &TestApp, token: &str, bio: &str) -> StatusCode {
    app.client
        .put(app.url(paths::PROFILE))
        .bearer_auth(token)
        .json(&json!({ "bio": bio }))
        .send()
        .await
        .unwrap()
        .status()
}

/// After a fault: a request that misses L1 reads Redis again.
pub(crate) async fn assert_redis_used_again(app: &TestApp, cache: &cache_redis::Cache) {
    let before = cache.stats();
    let fresh = app.register().await;
    me_ok(app, &fresh.access).await;
    let after = cache.stats();
    assert!(
        after.l2_hits + after.l2_misses > before.l2_hits + before.l2_misses,
        "redis is used again"
    );
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn a_warm_me_touches_neither_the_database_nor_redis() {
    let app = spawn_app_with(&[]).await;
    let tokens = app.register().await;
    me_ok(&app, &tokens.access).await;
    // The registration's invalidation also comes back over pub/sub (every
    // instance applies it, this one included); let it land, then warm again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    me_ok(&app, &tokens.access).await;
    let warm = cache(&app).stats();
    for _ in 0..200 {
        me_ok(&app, &tokens.access).await;
    }
    let after = cache(&app).stats();
    assert_eq!(after.loads, warm.loads, "no database read on a warm /me");
    assert_eq!(
        after.l2_hits + after.l2_misses,
        warm.l2_hits + warm.l2_misses,
        "no redis read on an L1 hit"
    );
    assert_eq!(
        after.l1_hits - warm.l1_hits,
        600,
        "session, user and profile from L1"
    );
}

#[tokio::test]
async fn two_instances_see_each_others_writes_at_once() {
    let a = spawn_app_with(&[]).await;
    let b = spawn_peer(&a, &[]).await;
    writes_on_one_are_seen_on_the_other(&a, &b).await;
}

/// The operators' form of `REDIS_URL` for a cluster — a seed list — and a real
/// 3-master Redis Cluster: both instances connect, cache, rate-limit (one key
/// per script: no CROSSSLOT) and see each other's invalidations (classic
/// pub/sub is broadcast to every node of a cluster).
#[tokio::test]
async fn a_redis_cluster_given_as_a_seed_list_serves_two_instances() {
    let cluster = testkit::RedisCluster::start(3)
        .expect("a Redis Cluster (redis-server and redis-cli must be installed)");
    let a = spawn_app_with(&[("REDIS_URL", &cluster.url())]).await;
    let b = spawn_peer(&a, &[]).await;
    for app in [&a, &b] {
        assert_eq!(
            app.get_json::<ReadinessResponse>(paths::READYZ).await.redis,
            "up"
        );
    }
    writes_on_one_are_seen_on_the_other(&a, &b).await;
    let prefix = &a.env["REDIS_KEY_PREFIX"];
    assert!(
        !cluster.keys(&format!("{prefix}:v1:rate:*")).is_empty(),
        "the login's rate-limit scripts ran on the cluster"
    );
    assert!(
        !cluster.keys(&format!("{prefix}:v1:user:*")).is_empty(),
        "users are cached on the cluster"
    );
}

/// A Sentinel group (a master, a replica, three sentinels) given as a seed list
/// of sentinels: fred asks them for the master; both instances cache on it
/// and see each other's invalidations.
#[tokio::test]
async fn a_redis_sentinel_group_given_as_a_seed_list_serves_two_instances() {
    let group = testkit::RedisSentinel::start()
        .expect("a Sentinel group (redis-server and redis-cli must be installed)");
    let a = spawn_app_with(&[("REDIS_URL", &group.url())]).await;
    let b = spawn_peer(&a, &[]).await;
    for app in [&a, &b] {
        assert_eq!(
            app.get_json::<ReadinessResponse>(paths::READYZ).await.redis,
            "up"
        );
    }
    writes_on_one_are_seen_on_the_other(&a, &b).await;
    let prefix = &a.env["REDIS_KEY_PREFIX"];
    let keys = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &group.master_port().to_string(),
            "--scan",
            "--pattern",
        ])
        .arg(format!("{prefix}:v1:*"))
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&keys.stdout);
    assert!(keys.contains(":rate:") && keys.contains(":user:"), "{keys}");
}

/// PostgreSQL crashes (`pg_ctl stop -m immediate` on a server of the test's
/// own): what needs the database fails as a 503 problem within the pool's
/// acquire timeout, readiness says so, a signed-in user's cached reads keep
/// answering (no revocation can commit while the database is down, so none is
/// missed), and everything recovers by itself when it is back.
#[tokio::test]
async fn a_postgres_crash_fails_fast_keeps_cached_reads_and_recovers() {
    let postgres = testkit::PostgresServer::start();
    let app = spawn_app_with(&[
        ("DATABASE_URL", &postgres.url()),
        // The load registers faster than one address may.
        ("RATE_LIMIT_PER_IP", "1000000"),
    ])
    .await;
    let tokens = app.register().await;
    me_ok(&app, &tokens.access).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    me_ok(&app, &tokens.access).await;
    let load = crate::chaos::Load::start(&app, 4).await;

    load.database_down(true);
    load.fault_begins();
    postgres.crash();
    for _ in 0..3 {
        me_ok(&app, &tokens.access).await;
    }
    let email = tokens.response.user.email.clone();
    let login = app.login(&email, PASSWORD).await;
    crate::helpers::assert_problem(
        login,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    let ready = app.client.get(app.url(paths::READYZ)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json::<ReadinessResponse>().await.unwrap().postgres,
        "down"
    );
    tokio::time::sleep(crate::chaos::hold(Duration::from_millis(300))).await;

    postgres.resume();
    let resumed = std::time::Instant::now();
    let mut recovered = None;
    for _ in 0..150 {
        if app.login(&email, PASSWORD).await.status() == StatusCode::OK {
            recovered = Some(resumed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered.is_some(),
        "sign-in works again once PostgreSQL is back"
    );
    assert_eq!(
        app.get_json::<ReadinessResponse>(paths::READYZ)
            .await
            .postgres,
        "up"
    );
    load.fault_ends();
    // Requests sent before the database came back may still be refused.
    tokio::time::sleep(Duration::from_secs(1)).await;
    load.database_down(false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.stop()
        .await
        .check(
            "PostgreSQL crashed (immediate stop), then back",
            &app,
            recovered,
        )
        .await;
}

async fn writes_on_one_are_seen_on_the_other(a: &TestApp, b: &TestApp) {
    let tokens = a.register().await;
    // Both instances warm their L1.
    assert_eq!(me_ok(a, &tokens.access).await.user.profile, None);
    assert_eq!(me_ok(b, &tokens.access).await.user.profile, None);

    assert_eq!(
        put_bio(a, &tokens.access, "written on A").await,
        StatusCode::OK
    );
    eventually("B sees A's profile change", async || {
        bio(me_ok(b, &tokens.access).await).as_deref() == Some("written on A")
    })
    .await;

    // Logout on A: B rejects the token on its next request, not after a TTL.
    let second = a.login(&tokens.response.user.email, PASSWORD).await;
    let second: TokenResponse = second.json().await.unwrap();
    let second = second.access_token;
    me_ok(b, &second).await;
    assert_eq!(
        a.post_auth(paths::LOGOUT, &tokens.access, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    eventually("B rejects the logged-out session", async || {
        b.me(&tokens.access).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(
        a.me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "A at once"
    );
    me_ok(b, &second).await;
    // Logout everywhere on B: A rejects the other session.
    assert_eq!(
        b.post_auth(paths::LOGOUT_ALL, &second, None).await.status(),
        StatusCode::NO_CONTENT
    );
    eventually("A rejects every session", async || {
        a.me(&second).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
}

#[tokio::test]
async fn redis_dying_and_returning_mid_flight_costs_no_request() {
    let mut redis = own_redis();
    // The load registers faster than one address may.
    let app = spawn_app_with(&[
        ("REDIS_URL", &redis.url()),
        ("RATE_LIMIT_PER_IP", "1000000"),
    ])
    .await;
    let cache = cache(&app);
    assert!(cache.wait_until_ready(Duration::from_secs(5)).await);
    let tokens = app.register().await;
    me_ok(&app, &tokens.access).await;
    assert_eq!(
        app.get_json::<ReadinessResponse>(paths::READYZ).await.redis,
        "up"
    );
    let load = crate::chaos::Load::start(&app, 4).await;

    load.fault_begins();
    redis.stop();
    let errors = cache.stats().errors;
    // Reads, writes and sign-ins all still work, answered by L1 and PostgreSQL.
    for i in 0..20 {
        me_ok(&app, &tokens.access).await;
        assert_eq!(
            put_bio(&app, &tokens.access, &format!("bio {i}")).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        bio(me_ok(&app, &tokens.access).await).as_deref(),
        Some("bio 19")
    );
    let other = app.register().await;
    me_ok(&app, &other.access).await;
    assert_eq!(app.refresh(&other.refresh).await.status(), StatusCode::OK);
    assert!(cache.stats().errors > errors, "redis failures are counted");
    let ready = app.client.get(app.url(paths::READYZ)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "redis down is not fatal");
    assert_eq!(
        ready.json::<ReadinessResponse>().await.unwrap().redis,
        "degraded"
    );
    assert!(
        cache.pending_invalidations() > 0,
        "writes remember what redis missed"
    );
    tokio::time::sleep(crate::chaos::hold(Duration::from_millis(300))).await;

    let restarted = std::time::Instant::now();
    redis.restart().expect("redis-server restarts");
    assert!(
        cache.wait_until_ready(Duration::from_secs(10)).await,
        "the cache reconnects by itself"
    );
    while cache.pending_invalidations() > 0 {
        assert!(restarted.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let recovered = restarted.elapsed();
    load.fault_ends();
    assert_eq!(
        app.get_json::<ReadinessResponse>(paths::READYZ).await.redis,
        "up"
    );
    assert_eq!(put_bio(&app, &tokens.access, "after").await, StatusCode::OK);
    assert_eq!(
        bio(me_ok(&app, &tokens.access).await).as_deref(),
        Some("after")
    );
    assert_redis_used_again(&app, cache).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    load.stop()
        .await
        .check("Redis SIGKILLed, then restarted", &app, Some(recovered))
        .await;
}

#[tokio::test]
async fn redis_unreachable_at_start_up_degrades_instead_of_failing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(&[("REDIS_URL", &format!("redis://127.0.0.1:{port}"))]).await;
    let ready = app.client.get(app.url(paths::READYZ)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: ReadinessResponse = ready.json().await.unwrap();
    assert_eq!((&*body.postgres, &*body.redis), ("up", "degraded"));
    let tokens = app.register().await;
    me_ok(&app, &tokens.access).await;
    assert_eq!(
        app.post_auth(paths::LOGOUT, &tokens.access, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn cache_disabled_reads_postgres_only() {
    let app = spawn_app_with(&[("CACHE_ENABLED", "false")]).await;
    assert!(app.cache.is_none());
    assert_eq!(
        app.get_json::<ReadinessResponse>(paths::READYZ).await.redis,
        "disabled"
    );
    let tokens = app.register().await;
    me_ok(&app, &tokens.access).await;
}

#[tokio::test]
async fn redis_holds_no_token_hash_or_secret_after_a_full_flow() {
    let app = spawn_app_with(&[]).await;
    let prefix = app.env["REDIS_KEY_PREFIX"].clone();
    let email = format!("flow-{}@example.com", uuid::Uuid::new_v4().simple());
    let first = app.register_as(&email).await;
    me_ok(&app, &first.access).await;
    let login: TokenResponse = app.login(&email, PASSWORD).await.json().await.unwrap();
    let (login_access, login_refresh) = (login.access_token, login.refresh_token);
    me_ok(&app, &login_access).await;
    let refreshed: TokenResponse = app.refresh(&login_refresh).await.json().await.unwrap();
    let (refreshed_access, refreshed_refresh) = (refreshed.access_token, refreshed.refresh_token);
    me_ok(&app, &refreshed_access).await;
    assert_eq!(
        put_bio(&app, &refreshed_access, "public bio").await,
        StatusCode::OK
    );
    me_ok(&app, &refreshed_access).await;
    app.post_auth(paths::LOGOUT, &refreshed_access, None).await;
    me_ok(&app, &first.access).await;

    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let secrets = [
        first.access.as_str(),
        first.refresh.as_str(),
        &login_access,
        &login_refresh,
        &refreshed_access,
        &refreshed_refresh,
        PASSWORD,
        &hash,
        "$argon2",
        "refresh_token",
        "password",
    ];
    let redis = Builder::from_config(Config::from_url(&testkit::redis_url()).unwrap())
        .build()
        .unwrap();
    redis.init().await.unwrap();
    let mut cursor = "0".to_owned();
    let mut seen = Vec::new();
    loop {
        let (next, keys): (String, Vec<String>) = redis
            .custom(
                fred::cmd!("SCAN"),
                vec![
                    cursor.clone(),
                    "MATCH".into(),
                    format!("{prefix}:*"),
                    "COUNT".into(),
                    "1000".into(),
                ],
            )
            .await
            .unwrap();
        for key in keys {
            let value: Option<fred::bytes::Bytes> = redis.get(&key).await.unwrap();
            let value = String::from_utf8_lossy(value.as_deref().unwrap_or_default()).into_owned();
            for secret in secrets {
                assert!(!key.contains(secret), "key {key} holds a secret");
                assert!(!value.contains(secret), "{key} holds a secret: {value}");
            }
            seen.push(key);
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for kind in [":user:id:", ":session:id:", ":profile:user:"] {
        assert!(
            seen.iter().any(|k| k.contains(kind)),
            "no {kind} key among {seen:?}"
        );
    }
}
