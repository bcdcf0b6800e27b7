//! Rate limits on the endpoints that take credentials or send mail (GCRA): per
//! client address on every such route (an IPv6 client by its /64) — a layer,
//! [`per_ip`], that a router puts on its limited routes — and, called by the
//! handlers that know the account, per
//! account *and* client on login and on "forgot password" (so nobody
//! elsewhere can spend the owner's allowance), per user on verification
//! mails and email changes. The counts live
//! in a [`Throttle`] — Redis, shared by every instance, when the cache is on; in
//! process otherwise, and whenever Redis is down. Over a limit: a
//! [`Throttled`], which each front door answers its own way (the API: 429
//! `rate_limited` with `Retry-After` and the `RateLimit-*` headers), before
//! any work is done.

use std::fmt::Display;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::{ports::Quota, ports::Throttle, throttle::client_key};

use crate::client::TrustedProxies;

/// A limit was reached: when to retry, and the quota's burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
    /// The quota's burst (`RateLimit-Limit`).
    pub limit: u32,
}

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
pub enum Limit {
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
    pub async fn check(&self, limit: Limit, key: impl Display) -> Result<(), Throttled> {
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
        Err(Throttled {
            retry_after: decision.retry_after,
            limit: decision.limit,
        })
    }

    pub async fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), Throttled> {
        match ip {
            Some(ip) => self.check(Limit::Ip, client_key(Some(ip))).await,
            None => Ok(()),
        }
    }

    /// Per account and client, keyed by the address as typed
    /// ([`domain::Email::key_of`]) and [`client_key`]: like the lockout, an
    /// attacker elsewhere cannot use up the owner's own allowance.
    pub async fn check_account(
        &self,
        limit: Limit,
        email: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), Throttled> {
        let key = format!("{}:{}", domain::Email::key_of(email), client_key(ip));
        self.check(limit, key).await
    }
}

/// The per-address limit as a layer's state: `R` is how the front door
/// answers a [`Throttled`].
pub struct PerIp<R> {
    limits: Arc<RateLimits>,
    proxies: TrustedProxies,
    answer: PhantomData<fn() -> R>,
}

impl<R> Clone for PerIp<R> {
    fn clone(&self) -> Self {
        Self {
            limits: Arc::clone(&self.limits),
            proxies: self.proxies.clone(),
            answer: PhantomData,
        }
    }
}

impl<R> PerIp<R> {
    pub fn new(limits: Arc<RateLimits>, proxies: TrustedProxies) -> Self {
        Self {
            limits,
            proxies,
            answer: PhantomData,
        }
    }
}

/// The middleware: counts the request against its client's address before
/// anything else reads it. Use with
/// `axum::middleware::from_fn_with_state(PerIp::<R>::new(..), per_ip::<R>)`
/// as a `route_layer`, so unmatched paths are not counted.
pub async fn per_ip<R>(State(limit): State<PerIp<R>>, request: Request, next: Next) -> Response
where
    R: From<Throttled> + IntoResponse,
{
    let ip = limit
        .proxies
        .address_of(request.headers(), request.extensions());
    match limit.limits.check_ip(ip).await {
        Ok(()) => next.run(request).await,
        Err(throttled) => R::from(throttled).into_response(),
    }
}
