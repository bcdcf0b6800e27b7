//! `OIDC_ISSUER`, `OIDC_RSA_PRIVATE_KEY_FILE`: the OpenID provider.

use domain::HttpUrl;
use domain::tokens::Issuer;
use secrecy::SecretString;

use super::env::{ConfigError, Env, Result};
use super::server::AppEnv;

pub const RSA_KEY_VARIABLE: &str = "OIDC_RSA_PRIVATE_KEY_FILE";

#[derive(Clone)]
pub struct OidcConfig {
    /// `iss` of ID and logout tokens, and discovery's `issuer`: relying
    /// parties compare it byte for byte, so it is written without a trailing
    /// slash.
    pub issuer: Issuer,
    /// The RSA private key (PEM, ≥ 2048 bits) that signs ID and logout
    /// tokens with RS256. `None`: a fresh key for this process (development
    /// only; `cargo xtask dev` keeps one under `target/dev/`).
    pub rsa_key: Option<SecretString>,
}

impl OidcConfig {
    pub fn from_env(env: &Env<'_>, app_env: AppEnv, public_base_url: &HttpUrl) -> Result<Self> {
        let issuer = env.base_url("OIDC_ISSUER", public_base_url.base())?;
        if app_env == AppEnv::Production && !issuer.is_secure_context() {
            return Err(ConfigError::new(
                "OIDC_ISSUER",
                "must be an https URL with APP_ENV=production (relying parties require it)",
            ));
        }
        let issuer = Issuer::parse(issuer.base()).ok_or_else(|| {
            ConfigError::new("OIDC_ISSUER", "must be at most 255 visible characters")
        })?;
        let rsa_key = env
            .get(RSA_KEY_VARIABLE)
            .filter(|path| !path.is_empty())
            .map(|path| env.file(RSA_KEY_VARIABLE, &path))
            .transpose()?;
        if rsa_key.is_none() && app_env == AppEnv::Production {
            return Err(ConfigError::new(
                RSA_KEY_VARIABLE,
                "is required when APP_ENV=production (an RSA private key, PEM, at least 2048 \
                 bits, the same file on every instance: openssl genpkey -algorithm RSA \
                 -pkeyopt rsa_keygen_bits:3072)",
            ));
        }
        Ok(Self { issuer, rsa_key })
    }
}
