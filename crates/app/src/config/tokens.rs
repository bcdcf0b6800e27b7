//! `JWT_*`, `ACCESS_TOKEN_TTL`, `REFRESH_TOKEN_TTL`, `REFRESH_REUSE_GRACE`,
//! `STEP_UP_MAX_AGE`.

use domain::{auth::AuthSettings, tokens::JwtAlgorithm, tokens::JwtConfig};

use super::env::{ConfigError, Env, Result};
use super::server::AppEnv;

#[derive(Clone)]
pub struct TokenSettings {
    pub jwt: JwtConfig,
    pub auth: AuthSettings,
}

impl TokenSettings {
    pub fn from_env(env: &Env<'_>, app_env: AppEnv) -> Result<Self> {
        let algorithm: JwtAlgorithm = env
            .get("JWT_ALGORITHM")
            .unwrap_or_else(|| "EdDSA".to_owned())
            .parse()
            .map_err(|e| ConfigError::new("JWT_ALGORITHM", e))?;
        let key_variable = Self::key_variable(algorithm);
        let signing_key = match algorithm {
            JwtAlgorithm::HS256 => env.secret("JWT_SECRET"),
            _ => env
                .get("JWT_PRIVATE_KEY_FILE")
                .map(|path| env.file("JWT_PRIVATE_KEY_FILE", &path))
                .transpose()?,
        };
        if signing_key.is_none() && app_env == AppEnv::Production {
            return Err(ConfigError::new(
                key_variable,
                "is required when APP_ENV=production",
            ));
        }
        let previous_keys = env
            .list("JWT_PREVIOUS_KEY_FILES")
            .iter()
            .map(|path| env.file("JWT_PREVIOUS_KEY_FILES", path))
            .collect::<Result<Vec<_>>>()?;
        let seconds = |name, default, min| -> Result<time::Duration> {
            let std = env.seconds(name, default, min)?;
            time::Duration::try_from(std).map_err(|_| ConfigError::new(name, "is too large"))
        };
        Ok(Self {
            jwt: JwtConfig {
                algorithm,
                signing_key,
                previous_keys,
                issuer: env.parse(
                    "JWT_ISSUER",
                    "codezest-auth",
                    "1 to 255 visible characters (an https URL for an OpenID provider)",
                )?,
                audience: env.parse("JWT_AUDIENCE", "codezest", "an audience")?,
                access_ttl: seconds("ACCESS_TOKEN_TTL", 900, 30)?,
            },
            auth: AuthSettings {
                refresh_ttl: seconds("REFRESH_TOKEN_TTL", 2_592_000, 60)?,
                reuse_grace: seconds("REFRESH_REUSE_GRACE", 10, 0)?,
                step_up_max_age: seconds("STEP_UP_MAX_AGE", 300, 1)?,
            },
        })
    }

    /// The variable that holds the signing key for `algorithm`.
    pub fn key_variable(algorithm: JwtAlgorithm) -> &'static str {
        match algorithm {
            JwtAlgorithm::HS256 => "JWT_SECRET",
            _ => "JWT_PRIVATE_KEY_FILE",
        }
    }
}
