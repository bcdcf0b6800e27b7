//! `MFA_ENCRYPTION_KEY`, `WEBAUTHN_RP_ID`, `WEBAUTHN_RP_ORIGIN`,
//! `WEBAUTHN_RP_NAME`: second factors and passkeys.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use domain::{HttpUrl, mfa::MfaKey, mfa::MfaSettings};
use secrecy::ExposeSecret as _;

use super::env::{ConfigError, Env, Result};
use super::server::AppEnv;

const KEY_VARIABLE: &str = "MFA_ENCRYPTION_KEY";

#[derive(Debug, Clone)]
pub struct MfaConfig {
    pub settings: MfaSettings,
    /// No key was configured (a warning at start-up says what that means).
    pub key_missing: bool,
    /// Where passkeys are valid.
    pub relying_party: passkeys::RelyingParty,
    /// `WEBAUTHN_RP_ID` or `WEBAUTHN_RP_ORIGIN` was set: a relying party
    /// webauthn-rs refuses stops start-up (a default one turns passkeys off).
    pub relying_party_explicit: bool,
}

impl MfaConfig {
    pub fn from_env(env: &Env<'_>, app_env: AppEnv, public_base_url: &HttpUrl) -> Result<Self> {
        let configured = env
            .secret(KEY_VARIABLE)
            .map(|raw| key(raw.expose_secret()))
            .transpose()?;
        let key_missing = configured.is_none();
        let key = match configured {
            Some(bytes) => Some(MfaKey::new(&bytes)),
            // Production without a key: TOTP is refused (503), never sealed
            // under a key that dies with the process.
            None if app_env == AppEnv::Production => None,
            None => Some(MfaKey::ephemeral()),
        };
        let default_name = public_base_url
            .as_url()
            .host_str()
            .map_or_else(|| "codezest-auth".to_owned(), str::to_owned);
        let issuer = env.get("WEBAUTHN_RP_NAME").unwrap_or(default_name);
        if issuer.trim().is_empty() || issuer.len() > 64 {
            return Err(ConfigError::new(
                "WEBAUTHN_RP_NAME",
                "must be 1 to 64 characters",
            ));
        }
        let explicit =
            env.get("WEBAUTHN_RP_ID").is_some() || env.get("WEBAUTHN_RP_ORIGIN").is_some();
        let origin = env
            .base_url("WEBAUTHN_RP_ORIGIN", public_base_url.base())?
            .as_url()
            .clone();
        let id = env
            .get("WEBAUTHN_RP_ID")
            .or_else(|| origin.host_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(Self {
            relying_party: passkeys::RelyingParty {
                id,
                origin,
                name: issuer.clone(),
            },
            relying_party_explicit: explicit,
            settings: MfaSettings { issuer, key },
            key_missing,
        })
    }
}

/// 32 bytes, base64 (standard or URL-safe, padded or not).
fn key(raw: &str) -> Result<[u8; 32]> {
    let raw = raw.trim();
    let decoded = STANDARD
        .decode(raw)
        .or_else(|_| URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')))
        .ok();
    decoded
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            ConfigError::new(
                KEY_VARIABLE,
                "must be 32 bytes in base64 (`openssl rand -base64 32`)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_32_bytes_of_base64() {
        let standard = STANDARD.encode([7_u8; 32]);
        assert_eq!(key(&standard).unwrap(), [7; 32]);
        assert_eq!(
            key(&URL_SAFE_NO_PAD.encode([250_u8; 32])).unwrap(),
            [250; 32]
        );
        assert!(key(&STANDARD.encode([7_u8; 16])).is_err(), "too short");
        assert!(key("not base64!").is_err());
    }
}
