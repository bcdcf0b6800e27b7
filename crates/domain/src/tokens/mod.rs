//! Access tokens: short-lived JWTs (`typ: at+jwt`, RFC 9068) naming the user and
//! the session. EdDSA by default, ES256 or HS256 by configuration; every token
//! carries the `kid` of its key, and more than one key verifies, so keys rotate
//! without logging anyone out.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

mod keys;

use crate::amr::Amr;
use crate::ids::{SessionId, UserId};
use crate::links::HttpUrl;
use crate::ports::{VerifiedToken, VerifiedTokens};
use keys::{generate_key, load_signing_key, load_verification_key};

/// Why an access token was not accepted, or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("access token is invalid")]
    Invalid,
    #[error("access token has expired")]
    Expired,
    #[error("signing an access token failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Why a signing or verification key could not be loaded (start-up only).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported algorithm {0:?}: use EdDSA, ES256 or HS256")]
    UnsupportedAlgorithm(String),
    /// The material is not a key of the expected kind (the text says which).
    #[error("{0}")]
    Malformed(&'static str),
    #[error("an HS256 secret must be at least 32 bytes")]
    ShortSecret,
    #[error("the key could not be encoded or loaded")]
    Crypto(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl KeyError {
    fn crypto(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Crypto(Box::new(error))
    }
}

/// The `typ` header every access token carries.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    EdDSA,
    ES256,
    HS256,
}

impl JwtAlgorithm {
    fn jwt(self) -> Algorithm {
        match self {
            Self::EdDSA => Algorithm::EdDSA,
            Self::ES256 => Algorithm::ES256,
            Self::HS256 => Algorithm::HS256,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::HS256 => "HS256",
        }
    }
}

impl FromStr for JwtAlgorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EdDSA" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            "HS256" => Ok(Self::HS256),
            other => Err(KeyError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

/// How access tokens are signed and checked.
#[derive(Clone)]
pub struct JwtConfig {
    pub algorithm: JwtAlgorithm,
    /// The PKCS#8 PEM private key (EdDSA, ES256) or the secret (HS256, at least
    /// 32 bytes). `None`: a fresh key for this process only (development).
    pub signing_key: Option<SecretString>,
    /// Keys still accepted but no longer used to sign, for rotation: SPKI PEM
    /// public keys (EdDSA, ES256) or secrets (HS256).
    pub previous_keys: Vec<SecretString>,
    pub issuer: Issuer,
    pub audience: String,
    pub access_ttl: time::Duration,
}

/// The claims of an access token.
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// When the user signed in (OIDC `auth_time`): the session's start, kept
    /// across refreshes. Absent from tokens issued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// How the user signed in (RFC 8176 names: `pwd`, `otp`, `mfa`, `fed`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The user's roles when the token was issued (possibly none).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether the user's address was verified when the token was issued
    /// (OIDC's claim): an unverified address is not an identity.
    #[serde(default)]
    pub email_verified: bool,
}

/// What an access token says of its user besides who they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Claimed<'a> {
    pub roles: &'a [String],
    pub email_verified: bool,
}

impl AccessClaims {
    pub fn user_id(&self) -> UserId {
        UserId::from_uuid(self.sub)
    }

    pub fn session_id(&self) -> SessionId {
        SessionId::from_uuid(self.sid)
    }

    /// What the hot path keeps of these claims.
    pub fn verified(&self) -> VerifiedToken {
        VerifiedToken {
            user_id: self.user_id(),
            session_id: self.session_id(),
            exp: self.exp,
            iat: self.iat,
        }
    }
}

/// A public key as published at `/.well-known/jwks.json` (RFC 7517).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub alg: &'static str,
    pub kid: String,
    pub x: String,
    pub y: Option<String>,
}

/// Signing and verification keys for access tokens.
pub struct JwtKeys {
    algorithm: JwtAlgorithm,
    kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    jwks: Vec<PublicJwk>,
    validation: Validation,
    issuer: Issuer,
    audience: String,
    ttl: time::Duration,
    secret_material: SecretString,
    ephemeral: bool,
}

impl JwtKeys {
    pub fn from_config(config: JwtConfig) -> Result<Self, KeyError> {
        let algorithm = config.algorithm;
        let ephemeral = config.signing_key.is_none();
        let signing = match config.signing_key {
            Some(key) => key,
            None => generate_key(algorithm)?,
        };
        let pair = load_signing_key(algorithm, signing.expose_secret())?;
        let mut decoding = HashMap::from([(pair.kid.clone(), pair.decoding)]);
        let mut jwks: Vec<PublicJwk> = pair.jwk.into_iter().collect();
        for previous in &config.previous_keys {
            let (kid, key, jwk) = load_verification_key(algorithm, previous.expose_secret())?;
            decoding.insert(kid, key);
            jwks.extend(jwk);
        }

        let mut validation = Validation::new(algorithm.jwt());
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&[config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS as u64;
        validation.validate_exp = true;
        validation.validate_nbf = true;

        Ok(Self {
            algorithm,
            kid: pair.kid,
            encoding: pair.encoding,
            decoding,
            jwks,
            validation,
            issuer: config.issuer,
            audience: config.audience,
            ttl: config.access_ttl,
            secret_material: signing,
            ephemeral,
        })
    }

    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// Whether the signing key was generated for this process only.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    pub fn access_ttl(&self) -> time::Duration {
        self.ttl
    }

    /// `iss` of every access token (`JWT_ISSUER`).
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// `aud` of every access token (`JWT_AUDIENCE`).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The public keys, for the JWKS document (empty for HS256).
    pub fn public_keys(&self) -> &[PublicJwk] {
        &self.jwks
    }

    /// The secret from which the refresh-token successor key is derived.
    pub(crate) fn secret_material(&self) -> &[u8] {
        self.secret_material.expose_secret().as_bytes()
    }

    /// Signs an access token for `session`; returns it with its lifetime.
    pub fn issue(
        &self,
        user: UserId,
        session: SessionId,
        signed_in_at: OffsetDateTime,
        amr: Amr,
        claimed: Claimed<'_>,
        now: OffsetDateTime,
    ) -> Result<String, TokenError> {
        let iat = now.unix_timestamp();
        let claims = AccessClaims {
            iss: self.issuer.as_str().to_owned(),
            aud: self.audience.clone(),
            sub: user.as_uuid(),
            sid: session.as_uuid(),
            iat,
            exp: iat + self.ttl.whole_seconds(),
            jti: Uuid::new_v4(),
            auth_time: Some(signed_in_at.unix_timestamp()),
            amr: amr.names().map(str::to_owned).collect(),
            roles: claimed.roles.to_vec(),
            email_verified: claimed.email_verified,
        };
        let mut header = Header::new(self.algorithm.jwt());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(TokenError::Signing)
    }

    /// Verifies signature, algorithm, `typ`, `kid`, `iss`, `aud`, `exp` and the
    /// presence of `sub` and `sid`. Fails closed: anything unexpected is invalid.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        const INVALID: TokenError = TokenError::Invalid;
        let header = jsonwebtoken::decode_header(token).map_err(|_| INVALID)?;
        if header.alg != self.algorithm.jwt() {
            return Err(INVALID);
        }
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
                || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(INVALID);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(INVALID)?;
        match jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
            Err(_) => Err(INVALID),
        }
    }
}

/// Seconds of clock skew allowed on `exp`, with or without the verified-token cache.
const LEEWAY_SECS: i64 = 5;

impl JwtKeys {
    /// [`JwtKeys::verify`], skipping the signature check for a token `cache`
    /// has seen verified. `exp` is checked either way.
    pub fn verify_cached(
        &self,
        token: &str,
        cache: Option<&dyn VerifiedTokens>,
    ) -> Result<VerifiedToken, TokenError> {
        let Some(cache) = cache else {
            return self.verify(token).map(|claims| claims.verified());
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Some(verified) = cache.get(&digest) {
            if verified.exp + LEEWAY_SECS <= now {
                return Err(TokenError::Expired);
            }
            return Ok(verified);
        }
        let verified = self.verify(token)?.verified();
        let remaining = (verified.exp + LEEWAY_SECS - now).max(0) as u64;
        cache.insert(digest, verified, std::time::Duration::from_secs(remaining));
        Ok(verified)
    }
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("verification_keys", &self.decoding.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(algorithm: JwtAlgorithm) -> JwtKeys {
        JwtKeys::from_config(JwtConfig {
            algorithm,
            signing_key: None,
            previous_keys: vec![],
            issuer: Issuer::parse("iss").unwrap(),
            audience: "aud".into(),
            access_ttl: time::Duration::minutes(15),
        })
        .unwrap()
    }

    /// A `VerifiedTokens` that counts, for the tests.
    #[derive(Default)]
    struct Remembered {
        entries: std::sync::Mutex<HashMap<[u8; 32], (VerifiedToken, std::time::Duration)>>,
    }

    impl VerifiedTokens for Remembered {
        fn get(&self, digest: &[u8; 32]) -> Option<VerifiedToken> {
            self.entries.lock().unwrap().get(digest).map(|(c, _)| *c)
        }
        fn insert(&self, digest: [u8; 32], claims: VerifiedToken, ttl: std::time::Duration) {
            self.entries.lock().unwrap().insert(digest, (claims, ttl));
        }
    }

    #[test]
    fn verified_tokens_are_remembered_by_digest_and_still_expire() {
        let keys = keys(JwtAlgorithm::EdDSA);
        let cache = Remembered::default();
        let now = OffsetDateTime::now_utc();
        let token = keys
            .issue(
                UserId::new(),
                SessionId::new(),
                now,
                Amr::PWD,
                Claimed::default(),
                now,
            )
            .unwrap();
        let first = keys.verify_cached(&token, Some(&cache)).unwrap();
        assert_eq!(keys.verify_cached(&token, Some(&cache)).unwrap(), first);
        {
            let entries = cache.entries.lock().unwrap();
            assert_eq!(entries.len(), 1);
            let (digest, (_, ttl)) = entries.iter().next().unwrap();
            assert_eq!(digest, &<[u8; 32]>::from(Sha256::digest(token.as_bytes())));
            assert!(
                ttl.as_secs() <= 15 * 60 + LEEWAY_SECS as u64,
                "lives no longer than the token"
            );
        }
        // A forged or tampered token is verified, rejected and not remembered.
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.verify_cached(&tampered, Some(&cache)).is_err());
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
        // Expiry is checked on every use, even when the claims are remembered.
        let expired = VerifiedToken {
            exp: now.unix_timestamp() - 60,
            ..first
        };
        let digest = <[u8; 32]>::from(Sha256::digest(token.as_bytes()));
        cache.insert(digest, expired, std::time::Duration::from_secs(60));
        assert!(matches!(
            keys.verify_cached(&token, Some(&cache)),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn every_algorithm_round_trips() {
        for algorithm in [
            JwtAlgorithm::EdDSA,
            JwtAlgorithm::ES256,
            JwtAlgorithm::HS256,
        ] {
            let keys = keys(algorithm);
            let (user, session) = (UserId::new(), SessionId::new());
            let token = keys
                .issue(
                    user,
                    session,
                    OffsetDateTime::now_utc(),
                    Amr::PWD,
                    Claimed::default(),
                    OffsetDateTime::now_utc(),
                )
                .unwrap();
            let claims = keys.verify(&token).unwrap();
            assert_eq!(claims.user_id(), user);
            assert_eq!(claims.session_id(), session);
            assert_eq!(claims.exp - claims.iat, 900);
            let jwks = keys.public_keys();
            assert_eq!(jwks.len(), usize::from(algorithm != JwtAlgorithm::HS256));
        }
    }

    #[test]
    fn another_key_is_rejected_and_rotation_accepts_previous() {
        let old = keys(JwtAlgorithm::EdDSA);
        let token = old
            .issue(
                UserId::new(),
                SessionId::new(),
                OffsetDateTime::now_utc(),
                Amr::PWD,
                Claimed::default(),
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        let new = keys(JwtAlgorithm::EdDSA);
        assert!(new.verify(&token).is_err());

        // The new key set keeps the old public key for verification.
        use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
        let old_public =
            ed25519_dalek::SigningKey::from_pkcs8_pem(old.secret_material.expose_secret())
                .unwrap()
                .verifying_key()
                .to_public_key_pem(p256::pkcs8::LineEnding::LF)
                .unwrap();
        let rotated = JwtKeys::from_config(JwtConfig {
            algorithm: JwtAlgorithm::EdDSA,
            signing_key: None,
            previous_keys: vec![SecretString::from(old_public)],
            issuer: Issuer::parse("iss").unwrap(),
            audience: "aud".into(),
            access_ttl: time::Duration::minutes(15),
        })
        .unwrap();
        assert!(rotated.verify(&token).is_ok());
        assert_eq!(rotated.public_keys().len(), 2);
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let keys = keys(JwtAlgorithm::EdDSA);
        let long_ago = OffsetDateTime::now_utc() - time::Duration::hours(1);
        let token = keys
            .issue(
                UserId::new(),
                SessionId::new(),
                long_ago,
                Amr::PWD,
                Claimed::default(),
                long_ago,
            )
            .unwrap();
        assert!(matches!(keys.verify(&token), Err(TokenError::Expired)));
    }

    #[test]
    fn short_hs256_secret_is_refused() {
        let result = JwtKeys::from_config(JwtConfig {
            algorithm: JwtAlgorithm::HS256,
            signing_key: Some(SecretString::from("short")),
            previous_keys: vec![],
            issuer: Issuer::parse("iss").unwrap(),
            audience: "aud".into(),
            access_ttl: time::Duration::minutes(15),
        });
        assert!(result.is_err());
    }
}
