//! `RATE_LIMIT_*`, `LOGIN_LOCKOUT_*`, `TRUSTED_PROXIES`.

use domain::ports::LockoutPolicy;
use http_kit::limit::RateLimitSettings;

use super::env::{ConfigError, Env, Result};

#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub rates: RateLimitSettings,
    pub lockout: LockoutPolicy,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl LimitSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self> {
        let per_minute = "a number of requests per minute";
        let per_hour = "a number of requests per hour";
        let rates = RateLimitSettings {
            per_ip_per_minute: env.parse("RATE_LIMIT_PER_IP", "120", per_minute)?,
            login_per_email_per_minute: env.parse(
                "RATE_LIMIT_LOGIN_PER_EMAIL",
                "10",
                "a number of attempts per minute",
            )?,
            forgot_per_email_per_hour: env.parse("RATE_LIMIT_FORGOT_PER_EMAIL", "5", per_hour)?,
            verify_send_per_user_per_hour: env.parse(
                "RATE_LIMIT_VERIFY_SEND_PER_USER",
                "5",
                per_hour,
            )?,
            email_change_per_user_per_hour: env.parse(
                "RATE_LIMIT_EMAIL_CHANGE_PER_USER",
                "5",
                per_hour,
            )?,
        };
        let defaults = LockoutPolicy::default();
        let threshold: u32 = env.parse(
            "LOGIN_LOCKOUT_THRESHOLD",
            "5",
            "a number of failed sign-ins",
        )?;
        if threshold == 0 {
            return Err(ConfigError::new(
                "LOGIN_LOCKOUT_THRESHOLD",
                "must be at least 1",
            ));
        }
        let base_lock = env.seconds("LOGIN_LOCKOUT_SECONDS", 30, 1)?;
        let lockout = LockoutPolicy {
            threshold,
            base_lock,
            max_lock: defaults.max_lock.max(base_lock),
            window: defaults.window,
        };
        let trusted_proxies = env
            .list("TRUSTED_PROXIES")
            .iter()
            .map(|cidr| {
                cidr.parse::<ipnet::IpNet>()
                    .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::new(
                            "TRUSTED_PROXIES",
                            format!("{cidr:?} is not a CIDR like 10.0.0.0/8 or an address"),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            rates,
            lockout,
            trusted_proxies,
        })
    }
}
