//! `CACHE_ENABLED`, and — in builds with the `cache` feature — `REDIS_*` and
//! `CACHE_L1_*`, read straight into `cache_redis::CacheConfig`. A build without
//! the cache reads no Redis variable.

use super::env::{Env, Result};

#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// `CACHE_ENABLED=false` wires the plain repositories (the rollback switch).
    pub enabled: bool,
    /// May carry a password: never logged.
    #[cfg(feature = "cache")]
    pub redis_url: secrecy::SecretString,
    #[cfg(feature = "cache")]
    pub config: cache_redis::CacheConfig,
}

impl CacheSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self> {
        Ok(Self {
            enabled: env.flag("CACHE_ENABLED", true)?,
            #[cfg(feature = "cache")]
            redis_url: redis::url(env)?,
            #[cfg(feature = "cache")]
            config: redis::config(env)?,
        })
    }
}

#[cfg(feature = "cache")]
mod redis {
    use cache_redis::{CacheConfig, Ttls};
    use secrecy::SecretString;
    use url::Url;

    use super::super::env::{ConfigError, Env, Result};

    const SCHEMES: [&str; 6] = [
        "redis",
        "rediss",
        "redis-cluster",
        "rediss-cluster",
        "redis-sentinel",
        "rediss-sentinel",
    ];

    pub(super) fn config(env: &Env<'_>) -> Result<CacheConfig> {
        let prefix: String = env.parse("REDIS_KEY_PREFIX", "cz", "a key prefix")?;
        if prefix.contains(char::is_whitespace) || prefix.contains(['{', '}']) {
            return Err(ConfigError::new(
                "REDIS_KEY_PREFIX",
                "must not contain spaces or braces",
            ));
        }
        Ok(CacheConfig {
            prefix,
            ttl: Ttls {
                user: env.seconds("REDIS_TTL_USER", 900, 1)?,
                session: env.seconds("REDIS_TTL_SESSION", 300, 1)?,
                oauth: env.seconds("REDIS_TTL_OAUTH", 1800, 1)?,
                profile: env.seconds("REDIS_TTL_PROFILE", 900, 1)?,
            },
            l1_max_entries: env.parse("CACHE_L1_MAX_ENTRIES", "100000", "a number of entries")?,
            l1_ttl: env.seconds("CACHE_L1_TTL", 30, 0)?,
            ..CacheConfig::default()
        })
    }

    /// `REDIS_URL`, or one built from `REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`/`REDIS_DB`
    /// (the password percent-encoded).
    pub(super) fn url(env: &Env<'_>) -> Result<SecretString> {
        if let Some(raw) = env.get("REDIS_URL") {
            let scheme_ok = raw
                .split_once("://")
                .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme));
            if !scheme_ok {
                return Err(ConfigError::new(
                    "REDIS_URL",
                    "must start with redis://, rediss://, redis-cluster:// or redis-sentinel://",
                ));
            }
            // Read as the cache will read it (a seed list of cluster or
            // sentinel nodes included), so a bad URL stops start-up here, with
            // the reason — never the URL, which may hold a password.
            if let Err(reason) = cache_redis::check_url(&raw) {
                return Err(ConfigError::new(
                    "REDIS_URL",
                    format!("is not a Redis URL the cache can read ({reason})"),
                ));
            }
            return Ok(SecretString::from(raw));
        }
        let host = env
            .get("REDIS_HOST")
            .unwrap_or_else(|| "localhost".to_owned());
        let port: u16 = env.parse("REDIS_PORT", "6379", "a port number")?;
        let db: u32 = env.parse("REDIS_DB", "0", "a database number")?;
        let mut url = Url::parse(&format!("redis://{host}:{port}/{db}"))
            .map_err(|_| ConfigError::new("REDIS_HOST", format!("{host:?} is not a host name")))?;
        if let Some(password) = env.get("REDIS_PASSWORD") {
            url.set_password(Some(&password))
                .map_err(|()| ConfigError::new("REDIS_PASSWORD", "cannot be used in a URL"))?;
        }
        Ok(SecretString::from(String::from(url)))
    }
}
