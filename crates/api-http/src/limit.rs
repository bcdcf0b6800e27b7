//! Rate limits on the endpoints that take credentials (GCRA, via `governor`):
//! per client IP on register, login, refresh and password change, and per email on
//! login, so neither one address nor a botnet can guess one account's password
//! quickly. Over the limit: 429 `rate_limited` with `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Requests per minute; `0` disables a limit.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitSettings {
    pub per_ip_per_minute: u32,
    pub login_per_email_per_minute: u32,
}

pub struct RateLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_email: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            per_ip: limiter(settings.per_ip_per_minute),
            per_email: limiter(settings.login_per_email_per_minute),
            clock: DefaultClock::default(),
        }
    }

    pub fn disabled() -> Self {
        Self::new(RateLimitSettings {
            per_ip_per_minute: 0,
            login_per_email_per_minute: 0,
        })
    }

    pub(crate) fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match (&self.per_ip, ip) {
            (Some(limiter), Some(ip)) => limiter.check_key(&ip).map_err(|not_until| {
                tracing::warn!(%ip, "rate limit reached for client address");
                ApiError::RateLimited {
                    retry_after: not_until.wait_time_from(self.clock.now()),
                }
            }),
            _ => Ok(()),
        }
    }

    pub(crate) fn check_login(&self, email: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.per_email else {
            return Ok(());
        };
        let key = email.trim().to_lowercase();
        limiter.check_key(&key).map_err(|not_until| {
            tracing::warn!("login rate limit reached for an account");
            ApiError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            }
        })
    }

    /// Forgets keys whose limit has fully recovered; call periodically to bound memory.
    pub fn retain_recent(&self) {
        if let Some(limiter) = &self.per_ip {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_email {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}
