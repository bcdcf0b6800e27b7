//! Settings of the cache, read by `app` from `REDIS_*` / `CACHE_*`.

use std::time::Duration;

/// How long each kind of entry lives in Redis (L2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    pub user: Duration,
    pub session: Duration,
    pub oauth: Duration,
    pub profile: Duration,
}

impl Default for Ttls {
    fn default() -> Self {
        Self {
            user: Duration::from_secs(900),
            session: Duration::from_secs(300),
            oauth: Duration::from_secs(1800),
            profile: Duration::from_secs(900),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Every Redis key and the invalidation channel start with it (`REDIS_KEY_PREFIX`).
    pub prefix: String,
    pub ttl: Ttls,
    /// Bound of the in-process cache; `0` turns L1 off (every read goes to Redis).
    pub l1_max_entries: u64,
    /// L1 lifetime of users, profiles and OAuth links.
    pub l1_ttl: Duration,
    /// L1 lifetime of sessions: short, because revocation must win even when an
    /// invalidation message is lost.
    pub l1_session_ttl: Duration,
    /// Lifetime of a "not found" user or session (an id or email that came from
    /// outside): in L2, and capped by the L1 TTLs in L1. A missing profile or
    /// OAuth link is the normal state of most users and lives as long as a
    /// value; every kind of "not found" is invalidated when its row appears.
    pub negative_ttl: Duration,
    /// Upper bound on every Redis command.
    pub op_timeout: Duration,
    /// How long a reader's lease on a missing key lasts (it only needs to outlive
    /// one database read).
    pub lease_ttl: Duration,
    /// Consecutive Redis failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How often an open breaker probes Redis.
    pub breaker_probe_interval: Duration,
    /// Window of the hit-ratio check that warns under 70 %.
    pub hit_ratio_window: Duration,
    /// Size of the Redis connection pool.
    pub pool_size: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            prefix: "cz".to_owned(),
            ttl: Ttls::default(),
            l1_max_entries: 100_000,
            l1_ttl: Duration::from_secs(30),
            l1_session_ttl: Duration::from_secs(5),
            negative_ttl: Duration::from_secs(30),
            op_timeout: Duration::from_millis(250),
            lease_ttl: Duration::from_secs(5),
            breaker_threshold: 3,
            breaker_probe_interval: Duration::from_millis(500),
            hit_ratio_window: Duration::from_secs(60),
            pool_size: 4,
        }
    }
}

impl CacheConfig {
    /// The session L1 lifetime actually used: never above 5 s nor above `l1_ttl`.
    pub(crate) fn session_l1_ttl(&self) -> Duration {
        self.l1_session_ttl
            .min(self.l1_ttl)
            .min(Duration::from_secs(5))
    }

    pub(crate) fn l1_enabled(&self) -> bool {
        self.l1_max_entries > 0 && !self.l1_ttl.is_zero()
    }
}
