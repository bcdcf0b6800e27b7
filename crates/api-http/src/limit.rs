//! Rate limits on the endpoints that take credentials or send mail (GCRA): per
//! client address on every such route (an IPv6 client by its /64), per
//! account *and* client on login and on "forgot password" (so nobody
//! elsewhere can spend the owner's allowance), per user on verification
//! mails and email changes. The counts live
//! in a [`Throttle`] — Redis, shared by every instance, when the cache is on; in
//! process otherwise, and whenever Redis is down. Over a limit: 429
//! `rate_limited` with `Retry-After` and the `RateLimit-*` headers, before any
//! work is done.

use std::fmt::Display;
use std::net::IpAddr;
use std::sync::Arc;

use domain::{ports::Quota, ports::Throttle, throttle::client_key};

use crate::error::ApiError;

/// The limits; `0` disables one.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitSettings {
    /// Requests per minute per client address to each limited route.
    pub per_ip_per_minute: u32,
    /// Login attempts per minute per account and client.
    pub login_per_email_per_minute: u32,
    /// Reset requests per hour per address and client.
    pub forgot_per_email_per_hour: u32,
    /// Verification mails per hour per user.
    pub verify_send_per_user_per_hour: u32,
    /// Email-change requests per hour per user.
    pub email_change_per_user_per_hour: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_ip_per_minute: 120,
            login_per_email_per_minute: 10,
            forgot_per_email_per_hour: 5,
            verify_send_per_user_per_hour: 5,
            email_change_per_user_per_hour: 5,
        }
    }
}

/// One limit: its name in `rate_limited_total{limit}` and in the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Ip,
    LoginEmail,
    Forgot,
    VerifySend,
    EmailChange,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::LoginEmail => "login_email",
            Self::Forgot => "forgot_email",
            Self::VerifySend => "verify_send",
            Self::EmailChange => "email_change",
        }
    }
}

pub struct RateLimits {
    throttle: Arc<dyn Throttle>,
    settings: RateLimitSettings,
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings, throttle: Arc<dyn Throttle>) -> Self {
        Self { throttle, settings }
    }

    fn quota(&self, limit: Limit) -> Option<Quota> {
        let s = &self.settings;
        let quota = match limit {
            Limit::Ip => Quota::per_minute(s.per_ip_per_minute),
            Limit::LoginEmail => Quota::per_minute(s.login_per_email_per_minute),
            Limit::Forgot => Quota::per_hour(s.forgot_per_email_per_hour),
            Limit::VerifySend => Quota::per_hour(s.verify_send_per_user_per_hour),
            Limit::EmailChange => Quota::per_hour(s.email_change_per_user_per_hour),
        };
        (quota.burst > 0).then_some(quota)
    }

    /// Counts one request of `key` against `limit`.
    pub(crate) async fn check(&self, limit: Limit, key: impl Display) -> Result<(), ApiError> {
        let Some(quota) = self.quota(limit) else {
            return Ok(());
        };
        let name = limit.name();
        let decision = self.throttle.acquire(&format!("{name}:{key}"), quota).await;
        if decision.allowed {
            return Ok(());
        }
        metrics::counter!("rate_limited_total", "limit" => name).increment(1);
        tracing::warn!(limit = name, "rate limit reached");
        Err(ApiError::RateLimited {
            retry_after: decision.retry_after,
            limit: decision.limit,
        })
    }

    pub(crate) async fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match ip {
            Some(ip) => self.check(Limit::Ip, client_key(Some(ip))).await,
            None => Ok(()),
        }
    }

    /// Per account and client, keyed by the address as typed
    /// ([`domain::Email::key_of`]) and [`client_key`]: like the lockout, an
    /// attacker elsewhere cannot use up the owner's own allowance.
    pub(crate) async fn check_account(
        &self,
        limit: Limit,
        email: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let key = format!("{}:{}", domain::Email::key_of(email), client_key(ip));
        self.check(limit, key).await
    }
}
