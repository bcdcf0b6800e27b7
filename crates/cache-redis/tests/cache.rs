//! The cache over the real PostgreSQL repositories and a real Redis: hits, misses
//! and fills per entity, invalidation on every write path, coalescing, negative
//! caching, and the stale-set interleaving forced step by step.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cache_redis::{Cache, CacheConfig, Cached};
use domain::ports::RepoResult;
use domain::{
    DisplayName, Email, ProfileUpdate, ProviderName, SessionId, UserId,
    ports::OAuthAccountRepository, ports::ProfileRepository, ports::SessionRepository,
    ports::UserRepository, refresh::RefreshTokens, user::NewOAuthAccount, user::NewSession,
    user::NewUser, user::Profile,
};
use fred::prelude::*;
use repo_postgres::{PgOAuthAccounts, PgProfiles, PgRepositories, PgSessions, PgUsers};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::Notify;

fn provider(name: &str) -> ProviderName {
    ProviderName::parse(name).expect("a provider name")
}

/// A fresh, migrated database and a Redis key prefix of this test's own.
struct Env {
    pool: PgPool,
    prefix: String,
}

impl Env {
    async fn new() -> Self {
        let database = testkit::TestDatabase::create("czc").await;
        let pool = PgPool::connect(&database.url).await.expect("connect");
        repo_postgres::migrate(&pool.clone().into())
            .await
            .expect("migrate");
        Self {
            pool,
            prefix: database.name,
        }
    }

    fn repos(&self) -> PgRepositories {
        PgRepositories::new(self.pool.clone())
    }

    fn config(&self) -> CacheConfig {
        CacheConfig {
            prefix: self.prefix.clone(),
            ..CacheConfig::default()
        }
    }

    async fn cache(&self) -> Cache {
        self.cache_with(self.config()).await
    }

    async fn cache_with(&self, config: CacheConfig) -> Cache {
        let cache = Cache::connect(&testkit::redis_url(), config).expect("cache");
        assert!(
            cache.wait_until_ready(Duration::from_secs(5)).await,
            "redis at {} is not reachable; run `cargo xtask test` or set TEST_REDIS_URL",
            testkit::redis_url()
        );
        cache
    }

    async fn redis(&self) -> Client {
        let client = Builder::from_config(
            Config::from_url(&cache_redis::fred_url(&testkit::redis_url())).unwrap(),
        )
        .build()
        .unwrap();
        client.init().await.expect("redis");
        client
    }

    /// Every key under this test's prefix, with its raw value: from every
    /// master when `TEST_REDIS_URL` is a cluster.
    async fn redis_dump(&self) -> Vec<(String, Vec<u8>)> {
        use futures::StreamExt as _;
        let redis = self.redis().await;
        let pattern = format!("{}:*", self.prefix);
        let keys: Vec<Result<fred::types::Key, Error>> = if redis.is_clustered() {
            redis
                .scan_cluster_buffered(pattern, Some(1000), None)
                .collect()
                .await
        } else {
            redis
                .scan_buffered(pattern, Some(1000), None)
                .collect()
                .await
        };
        let mut out = Vec::new();
        for key in keys {
            let key = key.expect("scan");
            let value: Option<fred::bytes::Bytes> = redis.get(&key).await.unwrap();
            if let Some(value) = value {
                let key = key.as_str().expect("a UTF-8 key").to_owned();
                out.push((key, value.to_vec()));
            }
        }
        out
    }
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        name: DisplayName::parse("Ada").unwrap(),
        email_verified: false,
        password_hash: None,
    }
}

fn new_session(user_id: UserId) -> (NewSession, domain::RefreshToken) {
    let tokens = RefreshTokens::from_key_material(b"test key material of enough length");
    let token = tokens.issue();
    (
        NewSession {
            id: SessionId::new(),
            user_id,
            refresh_token_hash: token.hash(),
            expires_at: OffsetDateTime::now_utc() + time::Duration::days(1),
            user_agent: None,
            ip: None,
            amr: domain::Amr::PWD,
            client: None,
        },
        token,
    )
}

fn bio(text: &str) -> ProfileUpdate {
    ProfileUpdate {
        bio: Some(text.to_owned()),
        ..ProfileUpdate::default()
    }
}

/// Waits until `check` holds (invalidations cross Redis pub/sub).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn users_are_read_through_both_tiers_and_invalidated_on_every_write() {
    let env = Env::new().await;
    let cache = env.cache().await;
    let users = cache.wrap(env.repos().users);
    // Created behind the cache's back, so the exact counts below do not race
    // with the echo of a creation's invalidation (creation is tested below).
    let user = env
        .repos()
        .users
        .create(new_user("ada@example.com"))
        .await
        .unwrap();
    let email = user.email.clone();

    let before = cache.stats();
    assert_eq!(
        users.find_by_id(user.id).await.unwrap().as_ref(),
        Some(&user)
    );
    let after_miss = cache.stats();
    assert_eq!(after_miss.loads - before.loads, 1, "first read loads");
    assert_eq!(after_miss.l2_misses - before.l2_misses, 1);
    assert_eq!(
        users.find_by_id(user.id).await.unwrap().as_ref(),
        Some(&user)
    );
    let after_hit = cache.stats();
    assert_eq!(after_hit.loads, after_miss.loads, "second read is a hit");
    assert_eq!(after_hit.l1_hits - after_miss.l1_hits, 1);

    // Another instance (empty L1) finds it in Redis.
    let other = env.cache().await;
    let other_users = other.wrap(env.repos().users);
    assert_eq!(
        other_users.find_by_id(user.id).await.unwrap().as_ref(),
        Some(&user)
    );
    assert_eq!(other.stats().l2_hits, 1);
    assert_eq!(other.stats().loads, 0);
    assert_eq!(
        users.find_by_email(&email).await.unwrap().as_ref(),
        Some(&user)
    );
    assert_eq!(
        other_users.find_by_email(&email).await.unwrap().as_ref(),
        Some(&user)
    );

    // update_name: both keys, both instances.
    let renamed = users
        .update_name(user.id, &DisplayName::parse("Grace").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        users.find_by_id(user.id).await.unwrap().unwrap().name,
        "Grace"
    );
    assert_eq!(
        users.find_by_email(&email).await.unwrap().unwrap().name,
        "Grace"
    );
    eventually("the rename reaches the other instance", async || {
        other_users.find_by_id(user.id).await.unwrap().as_ref() == Some(&renamed)
            && other_users.find_by_email(&email).await.unwrap().as_ref() == Some(&renamed)
    })
    .await;

    // change_password: user keys and the revoked sessions.
    let sessions = cache.wrap(env.repos().sessions);
    let (keep, _) = new_session(user.id);
    let (other_session, _) = new_session(user.id);
    let keep = sessions.create(keep).await.unwrap();
    let other_session = sessions.create(other_session).await.unwrap();
    assert!(
        sessions
            .find_by_id(other_session.id)
            .await
            .unwrap()
            .unwrap()
            .is_active(OffsetDateTime::now_utc())
    );
    let other_sessions = other.wrap(env.repos().sessions);
    assert!(
        other_sessions
            .find_by_id(other_session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let hash = domain::password::PasswordHasher::with_params(8, 1, 1, 1)
        .hash(&domain::Password::presented("a long enough password".into()).unwrap())
        .await
        .unwrap();
    let changed = users
        .change_password(user.id, &hash, keep.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.revoked, vec![other_session.id]);
    assert!(
        sessions
            .find_by_id(other_session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        sessions
            .find_by_id(keep.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    eventually("the revocation reaches the other instance", async || {
        other_sessions
            .find_by_id(other_session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    })
    .await;

    // delete: everything that named the user.
    let profiles = cache.wrap(env.repos().profiles);
    let oauth = cache.wrap(env.repos().oauth);
    profiles.upsert(user.id, &bio("hi")).await.unwrap();
    oauth
        .link(NewOAuthAccount {
            user_id: user.id,
            provider: provider("github"),
            subject: "42".into(),
            email: None,
        })
        .await
        .unwrap();
    assert!(profiles.find_by_user(user.id).await.unwrap().is_some());
    assert!(
        oauth
            .find_by_user_and_provider(user.id, &provider("github"))
            .await
            .unwrap()
            .is_some()
    );
    let deleted = users.delete(user.id).await.unwrap().unwrap();
    assert_eq!(deleted.email, email);
    assert_eq!(users.find_by_id(user.id).await.unwrap(), None);
    assert_eq!(users.find_by_email(&email).await.unwrap(), None);
    assert_eq!(profiles.find_by_user(user.id).await.unwrap(), None);
    assert_eq!(
        oauth
            .find_by_user_and_provider(user.id, &provider("github"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(sessions.find_by_id(keep.id).await.unwrap(), None);
    eventually("the deletion reaches the other instance", async || {
        other_users.find_by_id(user.id).await.unwrap().is_none()
            && other_sessions
                .find_by_id(other_session.id)
                .await
                .unwrap()
                .is_none()
    })
    .await;
}

#[tokio::test]
async fn session_writes_invalidate_their_sessions() {
    let env = Env::new().await;
    let cache = env.cache().await;
    let users = cache.wrap(env.repos().users);
    let sessions = cache.wrap(env.repos().sessions);
    let user = users.create(new_user("s@example.com")).await.unwrap();
    let now = OffsetDateTime::now_utc();

    // revoke
    let (new, _) = new_session(user.id);
    let one = sessions.create(new).await.unwrap();
    assert!(
        sessions
            .find_by_id(one.id)
            .await
            .unwrap()
            .unwrap()
            .is_active(now)
    );
    assert_eq!(sessions.revoke(user.id, one.id).await.unwrap(), [one.id]);
    assert!(
        !sessions
            .find_by_id(one.id)
            .await
            .unwrap()
            .unwrap()
            .is_active(OffsetDateTime::now_utc())
    );

    // revoke_all
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (new, _) = new_session(user.id);
        let session = sessions.create(new).await.unwrap();
        assert!(
            sessions
                .find_by_id(session.id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
        ids.push(session.id);
    }
    assert_eq!(sessions.revoke_all(user.id).await.unwrap().len(), 3);
    for id in &ids {
        assert!(
            sessions
                .find_by_id(*id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    }

    // rotate: the rotated session is re-read; reuse revokes it in every tier.
    let tokens = RefreshTokens::from_key_material(b"test key material of enough length");
    let (new, first) = new_session(user.id);
    let session = sessions.create(new).await.unwrap();
    assert!(
        sessions
            .find_by_id(session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let second = tokens.successor(&first);
    let third = tokens.successor(&second);
    let outcome = sessions
        .rotate(
            &first.hash(),
            &second.hash(),
            OffsetDateTime::now_utc(),
            time::Duration::ZERO,
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, domain::user::RotateOutcome::Rotated(_)));
    let rotated = sessions.find_by_id(session.id).await.unwrap().unwrap();
    assert!(rotated.last_used_at >= session.last_used_at);
    let outcome = sessions
        .rotate(
            &first.hash(),
            &third.hash(),
            OffsetDateTime::now_utc() + time::Duration::seconds(60),
            time::Duration::ZERO,
            None,
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, domain::user::RotateOutcome::Reused { .. }),
        "{outcome:?}"
    );
    assert!(
        sessions
            .find_by_id(session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let fresh = env.cache().await.wrap(env.repos().sessions);
    assert!(
        fresh
            .find_by_id(session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some(),
        "L2 holds no stale session"
    );
}

#[tokio::test]
async fn profiles_and_oauth_links_are_invalidated_and_not_found_is_cached_briefly() {
    let env = Env::new().await;
    let cache = env.cache().await;
    let users = cache.wrap(env.repos().users);
    let profiles = cache.wrap(env.repos().profiles);
    let oauth = cache.wrap(env.repos().oauth);
    let user = users.create(new_user("p@example.com")).await.unwrap();

    // Negative entries: a second lookup does not reach the database.
    assert_eq!(profiles.find_by_user(user.id).await.unwrap(), None);
    let loads = cache.stats().loads;
    assert_eq!(profiles.find_by_user(user.id).await.unwrap(), None);
    assert_eq!(cache.stats().loads, loads, "not found is cached");
    // ...and the row appearing invalidates them.
    let profile = profiles
        .upsert(user.id, &bio("first"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profiles.find_by_user(user.id).await.unwrap(), Some(profile));
    profiles.upsert(user.id, &bio("second")).await.unwrap();
    assert_eq!(
        profiles
            .find_by_user(user.id)
            .await
            .unwrap()
            .unwrap()
            .bio
            .as_deref(),
        Some("second")
    );

    assert_eq!(
        oauth
            .find_by_user_and_provider(user.id, &provider("google"))
            .await
            .unwrap(),
        None
    );
    oauth
        .link(NewOAuthAccount {
            user_id: user.id,
            provider: provider("google"),
            subject: "sub-1".into(),
            email: Some("p@example.com".into()),
        })
        .await
        .unwrap();
    let link = oauth
        .find_by_user_and_provider(user.id, &provider("google"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.subject, "sub-1");
    assert!(oauth.unlink(user.id, &provider("google")).await.unwrap());
    assert_eq!(
        oauth
            .find_by_user_and_provider(user.id, &provider("google"))
            .await
            .unwrap(),
        None
    );

    // A registration right after a failed lookup of its email works and is seen.
    let email = Email::parse("new@example.com").unwrap();
    assert_eq!(users.find_by_email(&email).await.unwrap(), None);
    let (new, _) = new_session(UserId::new());
    let mut fresh = new_user("new@example.com");
    fresh.id = new.user_id;
    let (created, _) = users.create_with_session(fresh, new).await.unwrap();
    assert_eq!(users.find_by_email(&email).await.unwrap(), Some(created));
}

/// Counts the database reads behind the cache and can hold one until released.
struct Gated {
    inner: PgProfiles,
    loads: AtomicUsize,
    hold: std::sync::Mutex<bool>,
    /// Hold the next write after its commit.
    hold_write: std::sync::Mutex<bool>,
    loaded: Notify,
    release: Notify,
}

impl Gated {
    fn new(inner: PgProfiles) -> Arc<Self> {
        Arc::new(Self {
            inner,
            loads: AtomicUsize::new(0),
            hold: std::sync::Mutex::new(false),
            hold_write: std::sync::Mutex::new(false),
            loaded: Notify::new(),
            release: Notify::new(),
        })
    }
}

struct GatedRef(Arc<Gated>);

#[async_trait]
impl ProfileRepository for GatedRef {
    async fn find_by_user(&self, user_id: UserId) -> RepoResult<Option<Profile>> {
        let gate = &self.0;
        gate.loads.fetch_add(1, Ordering::SeqCst);
        let value = gate.inner.find_by_user(user_id).await;
        let hold = std::mem::take(&mut *gate.hold.lock().unwrap());
        if hold {
            let released = gate.release.notified();
            gate.loaded.notify_one();
            released.await;
        }
        value
    }

    async fn upsert(&self, user_id: UserId, update: &ProfileUpdate) -> RepoResult<Option<Profile>> {
        let gate = &self.0;
        let committed = gate.inner.upsert(user_id, update).await;
        let hold = std::mem::take(&mut *gate.hold_write.lock().unwrap());
        if hold {
            let released = gate.release.notified();
            gate.loaded.notify_one();
            released.await;
        }
        committed
    }
}

/// A cache, a user, and that user's profile repository behind a [`Gated`] one.
async fn gated_profiles(
    env: &Env,
    email: &str,
) -> (Cache, UserId, Arc<Gated>, Arc<Cached<GatedRef>>) {
    let cache = env.cache().await;
    let user = env.repos().users.create(new_user(email)).await.unwrap();
    let gate = Gated::new(env.repos().profiles);
    let profiles = Arc::new(cache.wrap(GatedRef(Arc::clone(&gate))));
    (cache, user.id, gate, profiles)
}

#[tokio::test]
async fn a_fill_that_raced_a_write_never_puts_the_old_value_back() {
    let env = Env::new().await;
    let (cache, user_id, gate, profiles) = gated_profiles(&env, "race@example.com").await;
    profiles.upsert(user_id, &bio("v1")).await.unwrap();

    // 1. A read misses both tiers, takes the lease, reads v1 … and stalls.
    *gate.hold.lock().unwrap() = true;
    let loaded = gate.loaded.notified();
    let reader = {
        let profiles = Arc::clone(&profiles);
        tokio::spawn(async move { profiles.find_by_user(user_id).await })
    };
    loaded.await;
    // 2. A write commits v2 and invalidates.
    profiles.upsert(user_id, &bio("v2")).await.unwrap();
    // 3. The stalled fill arrives late.
    gate.release.notify_one();
    let late = reader.await.unwrap().unwrap().unwrap();
    assert_eq!(
        late.bio.as_deref(),
        Some("v1"),
        "the racing read itself answered what it read"
    );
    assert!(cache.stats().stale_fills_rejected >= 1);

    // Every later read sees v2: this instance (L1), Redis (L2), another instance.
    assert_eq!(
        profiles
            .find_by_user(user_id)
            .await
            .unwrap()
            .unwrap()
            .bio
            .as_deref(),
        Some("v2")
    );
    assert_eq!(
        profiles
            .find_by_user(user_id)
            .await
            .unwrap()
            .unwrap()
            .bio
            .as_deref(),
        Some("v2")
    );
    let other = env.cache().await.wrap(env.repos().profiles);
    assert_eq!(
        other
            .find_by_user(user_id)
            .await
            .unwrap()
            .unwrap()
            .bio
            .as_deref(),
        Some("v2")
    );
    for (key, value) in env.redis_dump().await {
        if key.contains(":profile:") {
            let text = String::from_utf8_lossy(&value);
            assert!(!text.contains("\"v1\""), "L2 holds the stale value: {text}");
        }
    }
}

#[tokio::test]
async fn a_write_cancelled_after_its_commit_still_invalidates() {
    let env = Env::new().await;
    let (_cache, user_id, gate, profiles) = gated_profiles(&env, "cancel@example.com").await;
    // "No profile" is cached in both tiers.
    assert_eq!(profiles.find_by_user(user_id).await.unwrap(), None);
    assert_eq!(profiles.find_by_user(user_id).await.unwrap(), None);

    // The caller of a write goes away (a client disconnects) right after the
    // database committed, before the invalidation ran.
    *gate.hold_write.lock().unwrap() = true;
    let committed = gate.loaded.notified();
    let caller = {
        let profiles = Arc::clone(&profiles);
        tokio::spawn(async move { profiles.upsert(user_id, &bio("kept")).await })
    };
    committed.await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    gate.release.notify_one();

    eventually("the cancelled write's invalidation", async || {
        profiles.find_by_user(user_id).await.unwrap().is_some()
    })
    .await;
    let fresh = env.cache().await.wrap(env.repos().profiles);
    assert_eq!(
        fresh
            .find_by_user(user_id)
            .await
            .unwrap()
            .unwrap()
            .bio
            .as_deref(),
        Some("kept"),
        "Redis holds no stale \"no profile\" either"
    );
}

#[tokio::test]
async fn concurrent_misses_on_one_key_load_once() {
    let env = Env::new().await;
    let (cache, user_id, gate, profiles) = gated_profiles(&env, "many@example.com").await;
    profiles.upsert(user_id, &bio("hot")).await.unwrap();

    *gate.hold.lock().unwrap() = true;
    let loaded = gate.loaded.notified();
    let readers: Vec<_> = (0..50)
        .map(|_| {
            let profiles = Arc::clone(&profiles);
            tokio::spawn(async move { profiles.find_by_user(user_id).await })
        })
        .collect();
    loaded.await;
    // Let every reader reach the cache while the one load is held.
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.release.notify_one();
    for reader in readers {
        assert_eq!(
            reader.await.unwrap().unwrap().unwrap().bio.as_deref(),
            Some("hot")
        );
    }
    assert_eq!(
        gate.loads.load(Ordering::SeqCst),
        1,
        "50 concurrent misses, one database query"
    );
    assert_eq!(cache.stats().loads, 1);
}

#[tokio::test]
async fn redis_only_mode_skips_l1_and_still_invalidates() {
    let env = Env::new().await;
    let cache = env
        .cache_with(CacheConfig {
            l1_max_entries: 0,
            ..env.config()
        })
        .await;
    let users = cache.wrap(env.repos().users);
    let profiles = cache.wrap(env.repos().profiles);
    let user = users.create(new_user("l2@example.com")).await.unwrap();
    profiles.upsert(user.id, &bio("one")).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            profiles
                .find_by_user(user.id)
                .await
                .unwrap()
                .unwrap()
                .bio
                .as_deref(),
            Some("one")
        );
    }
    let stats = cache.stats();
    assert_eq!((stats.l1_hits, stats.loads, stats.l2_hits), (0, 1, 2));
    profiles.upsert(user.id, &bio("two")).await.unwrap();
    assert_eq!(
        profiles
            .find_by_user(user.id)
            .await
            .unwrap()
            .unwrap()
            .bio
            .as_deref(),
        Some("two")
    );
    assert_eq!(cache.l1_entries(), 0);
}

#[tokio::test]
async fn cached_values_hold_no_secrets_and_sessions_never_outlive_their_life() {
    let env = Env::new().await;
    let cache = env.cache().await;
    let users = cache.wrap(env.repos().users);
    let sessions = cache.wrap(env.repos().sessions);
    let mut user = new_user("secret@example.com");
    let hash = domain::password::PasswordHasher::with_params(8, 1, 1, 1)
        .hash(&domain::Password::presented("hunter2 hunter2".into()).unwrap())
        .await
        .unwrap();
    user.password_hash = Some(hash);
    let (mut new, token) = new_session(user.id);
    new.expires_at = OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let (user, session) = users.create_with_session(user, new).await.unwrap();
    users.find_by_id(user.id).await.unwrap();
    users.find_by_email(&user.email).await.unwrap();
    sessions.find_by_id(session.id).await.unwrap();

    let redis = env.redis().await;
    let session_key = format!("{}:v1:session:id:{}", env.prefix, session.id);
    let ttl: i64 = redis.pttl(&session_key).await.unwrap();
    assert!(
        ttl > 0 && ttl <= 3_000,
        "session TTL {ttl} ms exceeds its remaining life"
    );

    let dump = env.redis_dump().await;
    assert!(dump.len() >= 3, "{dump:?}");
    let token_hash: String = token
        .hash()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for (key, value) in dump {
        let text = String::from_utf8_lossy(&value);
        for secret in ["$argon2", "hunter2", token.expose(), token_hash.as_str()] {
            assert!(
                !key.contains(secret) && !text.contains(secret),
                "{key} holds a secret: {text}"
            );
        }
    }
    let _ = (
        PgUsers::new(env.pool.clone()),
        PgSessions::new(env.pool.clone()),
        PgOAuthAccounts::new(env.pool.clone()),
    );
}

#[allow(dead_code)]
fn assert_cached_is_a_repository() {
    fn users<T: UserRepository>() {}
    fn sessions<T: SessionRepository>() {}
    fn oauth<T: OAuthAccountRepository>() {}
    users::<Cached<PgUsers>>();
    sessions::<Cached<PgSessions>>();
    oauth::<Cached<PgOAuthAccounts>>();
}

#[tokio::test]
async fn metrics_follow_the_contract() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let env = Env::new().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // Handles are registered when the cache is built: build it under the recorder.
    let cache = metrics::with_local_recorder(&recorder, || {
        Cache::connect(&testkit::redis_url(), env.config()).expect("cache")
    });
    assert!(cache.wait_until_ready(Duration::from_secs(5)).await);
    // Created behind the cache's back: no invalidation (and no echo of one
    // arriving later) to race with the reads below.
    let user = env
        .repos()
        .users
        .create(new_user("m@example.com"))
        .await
        .unwrap();
    let users = cache.wrap(env.repos().users);
    users.find_by_id(user.id).await.unwrap();
    users.find_by_id(user.id).await.unwrap();
    users
        .update_name(user.id, &DisplayName::parse("Renamed").unwrap())
        .await
        .unwrap();

    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str, labels: &[(&str, &str)]| {
        snapshot
            .iter()
            .find(|(key, _, _, _)| {
                let key = key.key();
                key.name() == name
                    && labels
                        .iter()
                        .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
            })
            .map(|(_, _, _, value)| value)
            .unwrap_or_else(|| panic!("{name} {labels:?} not recorded"))
    };
    let counter = |name: &str, labels: &[(&str, &str)]| match value(name, labels) {
        DebugValue::Counter(n) => *n,
        other => panic!("{name} is {other:?}"),
    };
    let user_l1 = [("entity", "user"), ("tier", "l1")];
    assert_eq!(
        counter(
            "cache_requests_total",
            &[user_l1[0], user_l1[1], ("outcome", "miss")]
        ),
        1
    );
    assert_eq!(
        counter(
            "cache_requests_total",
            &[user_l1[0], user_l1[1], ("outcome", "hit")]
        ),
        1
    );
    assert_eq!(
        counter(
            "cache_requests_total",
            &[("entity", "user"), ("tier", "l2"), ("outcome", "miss")]
        ),
        1
    );
    assert_eq!(
        counter("cache_invalidations_total", &[("entity", "user")]),
        2,
        "id and email keys"
    );
    assert_eq!(
        counter("cache_errors_total", &[("tier", "l2"), ("op", "get")]),
        0
    );
    match value(
        "cache_operation_duration_seconds",
        &[("tier", "l2"), ("op", "get")],
    ) {
        DebugValue::Histogram(samples) => assert!(!samples.is_empty()),
        other => panic!("duration is {other:?}"),
    }
}

/// A relying party's session ends with the browser session it came from, on
/// every instance at once; its refresh token works for its own client only,
/// and presenting it anywhere else spends nothing.
#[tokio::test]
async fn client_sessions_end_with_their_parent_and_refresh_for_their_client_only() {
    use domain::ports::{ApiClient, ApiClientRepository};
    let env = Env::new().await;
    let cache = env.cache().await;
    let users = cache.wrap(env.repos().users);
    let sessions = cache.wrap(env.repos().sessions);
    let clients = repo_postgres::PgApiClients::new(env.pool.clone());
    let user = users.create(new_user("rp@example.com")).await.unwrap();
    let client = clients
        .create(ApiClient {
            id: domain::ClientId::new(),
            name: domain::ClientName::parse("notes").unwrap(),
            secret_hash: None,
            created_at: OffsetDateTime::now_utc(),
            created_by: None,
            settings: domain::oidc::RegistrationRequest {
                redirect_uris: vec!["https://notes.example.com/cb".into()],
                public: true,
                ..Default::default()
            }
            .parse(domain::oidc::UriPolicy::HttpsOnly)
            .unwrap()
            .settings,
        })
        .await
        .unwrap();
    let (browser, _) = new_session(user.id);
    let browser = sessions.create(browser).await.unwrap();
    let (mut child, token) = new_session(user.id);
    let client_session = domain::user::ClientSession {
        client_id: client.id,
        parent_id: browser.id,
        scopes: domain::oidc::Scopes::parse_lenient("openid offline_access").0,
    };
    child.client = Some(client_session);
    let child = sessions.create(child).await.unwrap();
    assert_eq!(child.client, Some(client_session));
    // Cached with its client (the access-token check reads it from here).
    let cached = sessions.find_by_id(child.id).await.unwrap().unwrap();
    assert_eq!(cached.client, Some(client_session));

    // Another client's (or the first-party API's) refresh: nothing spent.
    let tokens = RefreshTokens::from_key_material(b"test key material of enough length");
    let successor = tokens.successor(&token);
    let now = OffsetDateTime::now_utc();
    for other in [None, Some(domain::ClientId::new())] {
        let outcome = sessions
            .rotate(
                &token.hash(),
                &successor.hash(),
                now,
                time::Duration::ZERO,
                other,
            )
            .await
            .unwrap();
        assert_eq!(outcome, domain::user::RotateOutcome::NotFound);
    }
    let outcome = sessions
        .rotate(
            &token.hash(),
            &successor.hash(),
            now,
            time::Duration::ZERO,
            Some(client.id),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, domain::user::RotateOutcome::Rotated(_)));

    // Ending the browser session ends the client's, and the cache knows at once.
    let ended = sessions.revoke(user.id, browser.id).await.unwrap();
    assert_eq!(ended, [browser.id, child.id]);
    let child_now = sessions.find_by_id(child.id).await.unwrap().unwrap();
    assert!(!child_now.is_active(OffsetDateTime::now_utc()));
}

/// The provider's storage against real PostgreSQL, through the cache: a code
/// is spent only when everything it is bound to matches, opens its client
/// session in the same statement, and a replay ends that session everywhere;
/// consents add up and their revocation ends the client's sessions; pushed
/// requests are used once.
#[tokio::test]
async fn codes_open_client_sessions_once_and_consents_end_them() {
    use domain::oidc::Scopes;
    use domain::ports::{
        ApiClient, ApiClientRepository, NewCode, Prompt, ProviderRepository, Redeemed, Redemption,
        StoredRequest,
    };
    let env = Env::new().await;
    let cache = env.cache().await;
    let users = cache.wrap(env.repos().users);
    let sessions = cache.wrap(env.repos().sessions);
    let provider = cache.wrap(repo_postgres::PgProvider::new(env.pool.clone()));
    let clients = repo_postgres::PgApiClients::new(env.pool.clone());
    let user = users.create(new_user("code@example.com")).await.unwrap();
    let client = clients
        .create(ApiClient {
            id: domain::ClientId::new(),
            name: domain::ClientName::parse("notes").unwrap(),
            secret_hash: None,
            created_at: OffsetDateTime::now_utc(),
            created_by: None,
            settings: domain::oidc::RegistrationRequest {
                redirect_uris: vec!["https://notes.example.com/cb".into()],
                public: true,
                ..Default::default()
            }
            .parse(domain::oidc::UriPolicy::HttpsOnly)
            .unwrap()
            .settings,
        })
        .await
        .unwrap();
    let (browser, _) = new_session(user.id);
    let browser = sessions.create(browser).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let scopes = Scopes::parse_lenient("openid email").0;
    let hash = domain::TokenHash::from_bytes([9; 32]);
    provider
        .save_code(&NewCode {
            hash,
            client_id: client.id,
            redirect_uri: "https://notes.example.com/cb".into(),
            code_challenge: Some("challenge".into()),
            user_id: user.id,
            session_id: browser.id,
            scopes,
            nonce: Some("nonce".into()),
            acr_requested: false,
            expires_at: now + time::Duration::seconds(60),
        })
        .await
        .unwrap();
    let redemption = Redemption {
        hash,
        client_id: client.id,
        redirect_uri: "https://notes.example.com/cb".into(),
        code_challenge: Some("challenge".into()),
        session_id: SessionId::new(),
        refresh_token_hash: domain::TokenHash::from_bytes([1; 32]),
        user_agent: Some("notes/1".into()),
        ip: None,
        now,
    };
    // Each binding that does not match refuses, and spends nothing.
    for wrong in [
        Redemption {
            client_id: domain::ClientId::new(),
            ..redemption.clone()
        },
        Redemption {
            redirect_uri: "https://notes.example.com/cb/".into(),
            ..redemption.clone()
        },
        Redemption {
            code_challenge: None,
            ..redemption.clone()
        },
        Redemption {
            code_challenge: Some("other".into()),
            ..redemption.clone()
        },
        Redemption {
            now: now + time::Duration::seconds(61),
            ..redemption.clone()
        },
    ] {
        assert_eq!(provider.redeem(&wrong).await.unwrap(), Redeemed::Refused);
    }
    let Redeemed::Opened {
        session,
        signed_in_at,
        nonce,
        acr_requested,
    } = provider.redeem(&redemption).await.unwrap()
    else {
        panic!("the code opens a client session");
    };
    assert_eq!(session.id, redemption.session_id);
    assert_eq!(signed_in_at, browser.created_at);
    assert_eq!(session.expires_at, browser.expires_at);
    assert_eq!(session.amr, browser.amr);
    assert_eq!(nonce.as_deref(), Some("nonce"));
    assert!(!acr_requested);
    let client_session = session.client.unwrap();
    assert_eq!(
        (
            client_session.client_id,
            client_session.parent_id,
            client_session.scopes
        ),
        (client.id, browser.id, scopes)
    );
    assert!(
        sessions
            .find_by_id(session.id)
            .await
            .unwrap()
            .unwrap()
            .is_active(OffsetDateTime::now_utc())
    );
    // A replay ends what the first use opened, and the cache knows.
    let replay = Redemption {
        session_id: SessionId::new(),
        ..redemption.clone()
    };
    assert_eq!(
        provider.redeem(&replay).await.unwrap(),
        Redeemed::Reused {
            ended: vec![session.id]
        }
    );
    assert!(
        !sessions
            .find_by_id(session.id)
            .await
            .unwrap()
            .unwrap()
            .is_active(OffsetDateTime::now_utc())
    );
    assert!(
        sessions
            .find_by_id(replay.session_id)
            .await
            .unwrap()
            .is_none()
    );

    // Consents add up; revoking one ends the client's sessions.
    assert!(provider.grant(user.id, client.id).await.unwrap().is_none());
    provider
        .save_grant(user.id, client.id, Scopes::parse_lenient("openid").0)
        .await
        .unwrap();
    provider
        .save_grant(user.id, client.id, Scopes::parse_lenient("email").0)
        .await
        .unwrap();
    let grant = provider.grant(user.id, client.id).await.unwrap().unwrap();
    assert_eq!(grant.scopes, scopes);
    assert_eq!(provider.grants(user.id).await.unwrap(), [grant]);
    let hash2 = domain::TokenHash::from_bytes([10; 32]);
    provider
        .save_code(&NewCode {
            hash: hash2,
            client_id: client.id,
            redirect_uri: "https://notes.example.com/cb".into(),
            code_challenge: None,
            user_id: user.id,
            session_id: browser.id,
            scopes,
            nonce: None,
            acr_requested: true,
            expires_at: now + time::Duration::seconds(60),
        })
        .await
        .unwrap();
    let second = Redemption {
        hash: hash2,
        code_challenge: None,
        session_id: SessionId::new(),
        refresh_token_hash: domain::TokenHash::from_bytes([2; 32]),
        ..redemption.clone()
    };
    assert!(matches!(
        provider.redeem(&second).await.unwrap(),
        Redeemed::Opened {
            acr_requested: true,
            ..
        }
    ));
    assert_eq!(
        provider.revoke_grant(user.id, client.id).await.unwrap(),
        Some(vec![second.session_id])
    );
    assert!(
        !sessions
            .find_by_id(second.session_id)
            .await
            .unwrap()
            .unwrap()
            .is_active(OffsetDateTime::now_utc())
    );
    assert_eq!(
        provider.revoke_grant(user.id, client.id).await.unwrap(),
        None
    );

    // A pushed request is taken once, by its client only.
    let request = StoredRequest {
        id: uuid::Uuid::now_v7(),
        client_id: client.id,
        redirect_uri: "https://notes.example.com/cb".into(),
        scopes,
        state: Some("s".into()),
        nonce: None,
        code_challenge: Some("c".into()),
        prompt: Prompt {
            login: true,
            ..Prompt::default()
        },
        max_age: Some(60),
        login_hint: Some("code@example.com".into()),
        ui_locales: Some("de en".into()),
        hinted_user: Some(user.id),
        acr_values: None,
        pushed: true,
        created_at: now,
        expires_at: now + time::Duration::seconds(60),
    };
    provider.save_request(&request).await.unwrap();
    assert!(
        provider
            .find_request(request.id, now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        provider
            .take_pushed(request.id, domain::ClientId::new(), now)
            .await
            .unwrap()
            .is_none()
    );
    let taken = provider
        .take_pushed(request.id, client.id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        taken,
        StoredRequest {
            pushed: false,
            created_at: taken.created_at,
            expires_at: taken.expires_at,
            ..request.clone()
        }
    );
    assert!(
        provider
            .take_pushed(request.id, client.id, now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        provider
            .find_request(request.id, now)
            .await
            .unwrap()
            .is_some()
    );
    let later = now + time::Duration::seconds(61);
    assert!(
        provider
            .find_request(request.id, later)
            .await
            .unwrap()
            .is_none()
    );
    assert!(provider.purge_expired(later).await.unwrap() >= 1);
    provider.delete_request(request.id).await.unwrap();
}
