//! `RATE_LIMIT_PER_IP`, `RATE_LIMIT_LOGIN_PER_EMAIL`.

use api_http::RateLimitSettings;

use super::env::{Env, Result};

pub fn from_env(env: &Env<'_>) -> Result<RateLimitSettings> {
    Ok(RateLimitSettings {
        per_ip_per_minute: env.parse(
            "RATE_LIMIT_PER_IP",
            "120",
            "a number of requests per minute",
        )?,
        login_per_email_per_minute: env.parse(
            "RATE_LIMIT_LOGIN_PER_EMAIL",
            "10",
            "a number of attempts per minute",
        )?,
    })
}
