//! Throttling's in-process implementation, and the client key every limit
//! and lockout uses; the port is [`crate::ports::Throttle`].
//!
//! Instances share limits through Redis (`cache-redis` implements [`Throttle`]
//! with one Lua script per check); when Redis is down, or the cache is off, the
//! in-process [`MemoryThrottle`] answers instead — never no limit at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::ports::{Attempt, Decision, LockoutPolicy, Quota, Throttle};
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota as GovernorQuota, RateLimiter};

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The part of a client's address that names it in a limit or a lockout key:
/// an IPv4 address whole, an IPv6 address by its /64 (one subscriber's
/// allocation: rotating the low 64 bits must not buy new allowances), `-`
/// when the address is unknown.
pub fn client_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let network = u128::from(v6) & !((1_u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
        None => "-".to_owned(),
    }
}

struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
    window: Duration,
}

/// The in-process [`Throttle`]: `governor` limiters, one per quota, and a map
/// of failure counts. Call [`MemoryThrottle::retain_recent`] periodically.
pub struct MemoryThrottle {
    limiters: Mutex<HashMap<Quota, std::sync::Arc<Limiter>>>,
    failures: Mutex<HashMap<String, Failures>>,
    clock: DefaultClock,
}

impl Default for MemoryThrottle {
    fn default() -> Self {
        Self {
            limiters: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }
}

impl MemoryThrottle {
    fn limiter(&self, quota: Quota) -> std::sync::Arc<Limiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        std::sync::Arc::clone(limiters.entry(quota).or_insert_with(|| {
            let burst = NonZeroU32::new(quota.burst.max(1)).unwrap_or(NonZeroU32::MIN);
            let governor =
                GovernorQuota::with_period(quota.interval().max(Duration::from_nanos(1)))
                    .expect("a non-zero period")
                    .allow_burst(burst);
            std::sync::Arc::new(
                RateLimiter::keyed(governor).with_middleware::<StateInformationMiddleware>(),
            )
        }))
    }

    /// Forgets keys whose allowance fully came back and failures past their window.
    pub fn retain_recent(&self) {
        for limiter in self
            .limiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, f| f.locked_until.is_some_and(|t| t > now) || now - f.last < f.window);
    }
}

#[async_trait]
impl Throttle for MemoryThrottle {
    async fn acquire(&self, key: &str, quota: Quota) -> Decision {
        let limiter = self.limiter(quota);
        match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => Decision {
                allowed: true,
                limit: quota.burst,
                remaining: snapshot.remaining_burst_capacity(),
                retry_after: Duration::ZERO,
            },
            Err(not_until) => Decision {
                allowed: false,
                limit: quota.burst,
                remaining: 0,
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    async fn attempt(&self, key: &str, policy: LockoutPolicy) -> Attempt {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failures.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
            window: policy.window,
        });
        if let Some(left) = entry
            .locked_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
        {
            return Attempt::Locked(left);
        }
        if now - entry.last >= policy.window {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        let lock = policy.lock_after(entry.count);
        entry.locked_until = lock.map(|lock| now + lock);
        Attempt::Allowed { lock }
    }

    async fn clear_failures(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_throttle_limits_and_locks() {
        let throttle = MemoryThrottle::default();
        let quota = Quota::per_minute(2);
        assert!(throttle.acquire("k", quota).await.allowed);
        let second = throttle.acquire("k", quota).await;
        assert!(second.allowed && second.remaining == 0);
        let refused = throttle.acquire("k", quota).await;
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::from_secs(25));
        assert!(throttle.acquire("other", quota).await.allowed);

        let policy = LockoutPolicy::default();
        for _ in 0..4 {
            assert_eq!(
                throttle.attempt("login", policy).await,
                Attempt::Allowed { lock: None }
            );
        }
        // The fifth attempt is judged and starts the lock; none after it is.
        assert_eq!(
            throttle.attempt("login", policy).await,
            Attempt::Allowed {
                lock: Some(Duration::from_secs(30))
            }
        );
        assert!(matches!(
            throttle.attempt("login", policy).await,
            Attempt::Locked(left) if left > Duration::from_secs(29)
        ));
        // Forgiven (the fifth passed): the next attempt is the first again.
        throttle.clear_failures("login").await;
        assert_eq!(
            throttle.attempt("login", policy).await,
            Attempt::Allowed { lock: None }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_concurrent_burst_gets_at_most_the_threshold_judged() {
        let throttle = std::sync::Arc::new(MemoryThrottle::default());
        let policy = LockoutPolicy::default();
        let attempts = (0..50).map(|_| {
            let throttle = std::sync::Arc::clone(&throttle);
            tokio::spawn(async move { throttle.attempt("burst", policy).await })
        });
        let answers = futures::future::join_all(attempts).await;
        let judged = answers
            .into_iter()
            .filter(|a| matches!(a, Ok(Attempt::Allowed { .. })))
            .count();
        assert_eq!(judged, policy.threshold as usize);
    }

    #[test]
    fn clients_are_keyed_by_ipv4_address_and_ipv6_64() {
        let key = |ip: &str| client_key(Some(ip.parse().unwrap()));
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            key("2001:db8:1:2::9")
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(client_key(None), "-");
    }

    #[test]
    fn locks_grow_and_are_capped() {
        let policy = LockoutPolicy::default();
        assert_eq!(policy.lock_after(4), None);
        assert_eq!(policy.lock_after(5), Some(Duration::from_secs(30)));
        assert_eq!(policy.lock_after(7), Some(Duration::from_secs(120)));
        assert_eq!(policy.lock_after(40), Some(policy.max_lock));
    }
}
