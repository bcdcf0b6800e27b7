//! Access tokens: short-lived JWTs (`typ: at+jwt`, RFC 9068) naming the user
//! and the session, signed by the [`Signer`] with the access-token key
//! (`JWT_ALGORITHM`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::signer::{Expected, LEEWAY_SECS, Signer};
use super::{Issuer, JwtAlgorithm, JwtConfig, KeyError, TokenError};
use crate::amr::Amr;
use crate::ids::{ClientId, SessionId, UserId};
use crate::oidc::Scopes;
use crate::ports::{VerifiedToken, VerifiedTokens};

/// The `typ` header every access token carries.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of an access token.
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
    /// The relying party it was issued to (RFC 9068); absent from the
    /// platform's own front end's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// What the user granted that relying party (space-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The claims of a `client_credentials` access token (RFC 9068 §2.2): the
/// client acts for itself, so `sub` is its id and there is no `sid` — and so
/// no user path (`/me`, userinfo, forward-auth) ever takes one: their
/// [`AccessClaims`] require a `sid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// Never present; a token with one is a user's.
    #[serde(default, skip_serializing)]
    pub sid: Option<Uuid>,
}

impl ClientClaims {
    pub fn client(&self) -> Option<ClientId> {
        self.client_id.parse().ok()
    }
}

/// What an access token says of its user besides who they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Claimed<'a> {
    pub roles: &'a [String],
    pub email_verified: bool,
    /// For a relying party's token: its client and the granted scopes.
    pub client: Option<(ClientId, Scopes)>,
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

/// Issues and verifies access tokens: `iss` (`JWT_ISSUER`), `aud`
/// (`JWT_AUDIENCE`), the lifetime, and the key they are signed with.
pub struct AccessTokens {
    signer: Arc<Signer>,
    algorithm: JwtAlgorithm,
    issuer: Issuer,
    audience: String,
    ttl: time::Duration,
    expected: Expected,
}

impl AccessTokens {
    /// Access tokens signed by `signer` with its `config.algorithm` key.
    pub fn new(signer: Arc<Signer>, config: &JwtConfig) -> Result<Self, KeyError> {
        if !signer.signs_with(config.algorithm) {
            return Err(KeyError::MissingAlgorithm(config.algorithm));
        }
        /// RFC 9068's `typ`, and its media-type spelling.
        const TYP: &[&str] = &[ACCESS_TOKEN_TYP, "application/at+jwt"];
        Ok(Self {
            expected: Expected::new(
                TYP,
                &[config.algorithm],
                config.issuer.as_str(),
                &[config.audience.as_str()],
            ),
            signer,
            algorithm: config.algorithm,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_ttl,
        })
    }

    /// A signer holding the configured key (and previous keys), and the
    /// access tokens it signs.
    pub fn from_config(config: &JwtConfig) -> Result<Self, KeyError> {
        let signer = Signer::new(
            config.algorithm,
            config.signing_key.clone(),
            &config.previous_keys,
        )?;
        Self::new(Arc::new(signer), config)
    }

    pub fn signer(&self) -> &Arc<Signer> {
        &self.signer
    }

    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
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

    /// Signs an access token for `session`.
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
            client_id: claimed.client.map(|(client, _)| client.to_string()),
            scope: claimed.client.map(|(_, scopes)| scopes.to_string()),
        };
        self.signer.sign(self.algorithm, ACCESS_TOKEN_TYP, &claims)
    }

    /// Signs a `client_credentials` token for `client`.
    pub fn issue_for_client(
        &self,
        client: ClientId,
        scopes: Scopes,
        now: OffsetDateTime,
    ) -> Result<String, TokenError> {
        let iat = now.unix_timestamp();
        let claims = ClientClaims {
            iss: self.issuer.as_str().to_owned(),
            aud: self.audience.clone(),
            sub: client.to_string(),
            client_id: client.to_string(),
            scope: scopes.to_string(),
            iat,
            exp: iat + self.ttl.whole_seconds(),
            jti: Uuid::new_v4(),
            sid: None,
        };
        self.signer.sign(self.algorithm, ACCESS_TOKEN_TYP, &claims)
    }

    /// Verifies a `client_credentials` token as [`AccessTokens::verify`]
    /// does, and that it is one: `sub` is its `client_id`, no `sid`.
    pub fn verify_client(&self, token: &str) -> Result<ClientClaims, TokenError> {
        let claims: ClientClaims = self.signer.verify(token, &self.expected)?;
        if claims.sid.is_some() || claims.sub != claims.client_id || claims.client().is_none() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// Verifies signature, algorithm, `typ`, `kid`, `iss`, `aud`, `exp` and
    /// the presence of `sub` and `sid`. Fails closed.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.signer.verify(token, &self.expected)
    }

    /// [`AccessTokens::verify`], skipping the signature check for a token
    /// `cache` has seen verified. `exp` is checked either way.
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

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}
