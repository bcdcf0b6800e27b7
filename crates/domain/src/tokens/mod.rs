//! Signed tokens. The [`Signer`] holds every key (loading, key ids, rotation,
//! the JWKS document, verification by `kid`); what a token says is built
//! beside it: [`AccessTokens`] (RFC 9068 access tokens, EdDSA by default,
//! ES256, RS256 or HS256 by configuration) and, for the OpenID provider, the
//! ID and logout tokens. More than one key verifies, so keys rotate without
//! logging anyone out.

use std::fmt;
use std::str::FromStr;

use jsonwebtoken::Algorithm;
use secrecy::SecretString;

use crate::links::HttpUrl;
use crate::oidc::IdTokenAlgorithm;

mod access;
mod id;
mod keys;
mod signer;

pub use access::{ACCESS_TOKEN_TYP, AccessClaims, AccessTokens, Claimed, ClientClaims};
pub use id::{
    BACKCHANNEL_LOGOUT_EVENT, ID_TOKEN_TYP, IdClaims, IdSubject, IdTokens, LOGOUT_TOKEN_TYP,
    LogoutClaims, LogoutSubject, token_hash,
};
pub use signer::{Expected, JwkKey, LEEWAY_SECS, PublicJwk, Signer};

/// Why a token was not accepted, or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("access token is invalid")]
    Invalid,
    #[error("access token has expired")]
    Expired,
    #[error("no key signs with {0:?}")]
    NoKey(JwtAlgorithm),
    #[error("signing a token failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Why a signing or verification key could not be loaded (start-up only).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported algorithm {0:?}: use EdDSA, ES256, RS256 or HS256")]
    UnsupportedAlgorithm(String),
    /// The material is not a key of the expected kind (the text says which).
    #[error("{0}")]
    Malformed(&'static str),
    #[error("an HS256 secret must be at least 32 bytes")]
    ShortSecret,
    #[error("an RSA key must be at least 2048 bits")]
    ShortRsaKey,
    #[error("a key for {0:?} is already loaded: each algorithm signs with one key")]
    DuplicateAlgorithm(JwtAlgorithm),
    #[error("no key for {0:?} is loaded")]
    MissingAlgorithm(JwtAlgorithm),
    #[error("the key could not be encoded or loaded")]
    Crypto(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl KeyError {
    fn crypto(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Crypto(Box::new(error))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    EdDSA,
    ES256,
    RS256,
    HS256,
}

impl JwtAlgorithm {
    fn jwt(self) -> Algorithm {
        match self {
            Self::EdDSA => Algorithm::EdDSA,
            Self::ES256 => Algorithm::ES256,
            Self::RS256 => Algorithm::RS256,
            Self::HS256 => Algorithm::HS256,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
        }
    }
}

impl From<IdTokenAlgorithm> for JwtAlgorithm {
    fn from(algorithm: IdTokenAlgorithm) -> Self {
        match algorithm {
            IdTokenAlgorithm::RS256 => Self::RS256,
            IdTokenAlgorithm::ES256 => Self::ES256,
            IdTokenAlgorithm::EdDSA => Self::EdDSA,
        }
    }
}

impl FromStr for JwtAlgorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EdDSA" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            "HS256" => Ok(Self::HS256),
            other => Err(KeyError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

/// How access tokens are signed and checked.
#[derive(Clone)]
pub struct JwtConfig {
    pub algorithm: JwtAlgorithm,
    /// The private key in PEM (EdDSA, ES256: PKCS#8; RS256: PKCS#8 or PKCS#1,
    /// at least 2048 bits) or the secret (HS256, at least 32 bytes). `None`: a
    /// fresh key for this process only (development).
    pub signing_key: Option<SecretString>,
    /// Keys still accepted but no longer used to sign, for rotation: PEM
    /// public keys (EdDSA, ES256, RS256) or secrets (HS256).
    pub previous_keys: Vec<SecretString>,
    pub issuer: Issuer,
    pub audience: String,
    pub access_ttl: time::Duration,
}

/// Who signs the tokens (`iss`): `JWT_ISSUER`. 1–255 visible characters; an
/// OpenID provider's must be its https URL (`as_url`), which discovery
/// requires and relying parties compare byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(raw: &str) -> Option<Self> {
        let valid =
            !raw.is_empty() && raw.len() <= 255 && raw.chars().all(|c| c.is_ascii_graphic());
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The issuer as a URL, when it is one (`https://auth.example.com`).
    pub fn as_url(&self) -> Option<HttpUrl> {
        HttpUrl::parse(&self.0)
    }
}

impl FromStr for Issuer {
    type Err = ();

    fn from_str(raw: &str) -> Result<Self, ()> {
        Self::parse(raw).ok_or(())
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests;
