//! Rate limits (GCRA) and the login lockout, keyed by strings the caller
//! builds. Instances share them through Redis (`cache-redis`); the in-process
//! `throttle::MemoryThrottle` answers when Redis is down or the cache is off —
//! never no limit at all.

use std::time::Duration;

use async_trait::async_trait;

/// `burst` requests per `period`, replenished evenly (GCRA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    pub burst: u32,
    pub period: Duration,
}

impl Quota {
    pub const fn per_minute(burst: u32) -> Self {
        Self {
            burst,
            period: Duration::from_secs(60),
        }
    }

    pub const fn per_hour(burst: u32) -> Self {
        Self {
            burst,
            period: Duration::from_secs(3600),
        }
    }

    /// The time one request's allowance takes to come back.
    pub fn interval(&self) -> Duration {
        self.period / self.burst.max(1)
    }
}

/// The answer to one request against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The quota's burst (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests left right now (`RateLimit-Remaining`).
    pub remaining: u32,
    /// When refused: how long until one is allowed (`Retry-After`).
    pub retry_after: Duration,
}

/// When failed sign-ins lock an account for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures (within `window`) that lock.
    pub threshold: u32,
    /// How long failures are remembered after the last one.
    pub window: Duration,
    /// The first lock; each further failure doubles it, up to `max_lock`.
    pub base_lock: Duration,
    pub max_lock: Duration,
}

impl LockoutPolicy {
    /// The lock after `failures` failures, if any.
    pub fn lock_after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.threshold)?;
        let factor = 2_u32.saturating_pow(over.min(20));
        Some(self.base_lock.saturating_mul(factor).min(self.max_lock))
    }
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            window: Duration::from_secs(15 * 60),
            base_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(15 * 60),
        }
    }
}

/// What [`Throttle::attempt`] answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Judge it: the attempt is counted already, as a failure until
    /// [`Throttle::clear_failures`] forgives it. `lock` is the lock this
    /// attempt started (it reached the threshold), for the caller to report
    /// if the attempt then fails.
    Allowed { lock: Option<Duration> },
    /// Refused unjudged: the key is locked for this long.
    Locked(Duration),
}

/// Rate limits and lockouts, keyed by strings the caller builds (`ip:…`,
/// `login:{email}:{ip}`). Infallible: an implementation that loses its store
/// falls back to a local one.
#[async_trait]
pub trait Throttle: Send + Sync + 'static {
    /// Counts one request of `key` against `quota`.
    async fn acquire(&self, key: &str, quota: Quota) -> Decision;

    /// Counts an attempt at `key` *before* it is judged, in one atomic step
    /// with the lock check: refused while `key` is locked; otherwise counted
    /// (a failure until cleared) and, from `policy.threshold` on, the lock
    /// starts with it. So a concurrent burst of any size gets at most the
    /// threshold's attempts judged: the check and the count cannot interleave.
    async fn attempt(&self, key: &str, policy: LockoutPolicy) -> Attempt;

    /// Forgets the failures of `key` (an attempt that passed).
    async fn clear_failures(&self, key: &str);
}
