//! `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`, `DATABASE_TRANSACTION_POOLER`.

use repo_postgres::PgSettings;
use secrecy::SecretString;
use url::Url;

use super::env::{ConfigError, Env, Result};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/codezest_auth";

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// May carry a password: never logged.
    pub url: SecretString,
    pub pool: PgSettings,
}

impl DatabaseSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self> {
        let url = env
            .secret("DATABASE_URL")
            .unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL));
        let scheme_ok = Url::parse(secrecy::ExposeSecret::expose_secret(&url))
            .is_ok_and(|url| matches!(url.scheme(), "postgres" | "postgresql"));
        if !scheme_ok {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must be a postgres:// URL",
            ));
        }
        let max_connections: u32 =
            env.parse("DATABASE_MAX_CONNECTIONS", "20", "a positive number")?;
        if max_connections == 0 {
            return Err(ConfigError::new(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        Ok(Self {
            url,
            pool: PgSettings {
                max_connections,
                transaction_pooler: env.flag("DATABASE_TRANSACTION_POOLER", false)?,
                ..PgSettings::default()
            },
        })
    }
}
