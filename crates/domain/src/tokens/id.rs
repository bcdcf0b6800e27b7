//! ID tokens (OpenID Connect Core §2): what the provider tells a relying party
//! about a sign-in, signed by the [`Signer`] with the key of the client's
//! `id_token_signed_response_alg` (RS256 by default, `OIDC_RSA_PRIVATE_KEY_FILE`).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use time::OffsetDateTime;
use uuid::Uuid;

use super::signer::{Expected, Signer};
use super::{Issuer, JwtAlgorithm, TokenError};
use crate::amr::Amr;
use crate::ids::{ClientId, SessionId, UserId};
use crate::oidc::IdTokenAlgorithm;

/// The `typ` header of an ID token (a plain JWT, as relying parties expect).
pub const ID_TOKEN_TYP: &str = "JWT";

/// The claims of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: Uuid,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// When the user signed in (the browser session's start).
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The browser session the user authorized from: what a back-channel
    /// logout token names.
    pub sid: Uuid,
    /// How the user signed in (RFC 8176).
    pub amr: Vec<String>,
    /// Half the hash of the access token issued beside it (§3.1.3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The authorized party: the client.
    pub azp: String,
    /// Only when the client asked for it (`acr_values`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

impl IdClaims {
    pub fn user_id(&self) -> UserId {
        UserId::from_uuid(self.sub)
    }
}

/// What an ID token is about.
#[derive(Debug, Clone, Copy)]
pub struct IdSubject<'a> {
    pub user: UserId,
    pub client: ClientId,
    pub session: SessionId,
    pub signed_in_at: OffsetDateTime,
    pub amr: Amr,
    pub nonce: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: Option<&'a str>,
    pub acr: Option<&'a str>,
}

/// The `typ` header of a logout token (Back-Channel Logout 1.0 §2.4's
/// explicit typing, so it can never pass for an ID token).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

/// The `events` member of a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The claims of a logout token (Back-Channel Logout 1.0 §2.4): never a
/// `nonce`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub sid: Uuid,
    pub sub: Uuid,
    pub events: serde_json::Map<String, serde_json::Value>,
}

/// Whom a logout token tells about which session.
#[derive(Debug, Clone, Copy)]
pub struct LogoutSubject {
    pub client: ClientId,
    pub user: UserId,
    /// The browser session (the `sid` of the ID tokens the client holds).
    pub session: SessionId,
}

/// Issues ID tokens, logout tokens, and reads `id_token_hint`s.
pub struct IdTokens {
    signer: Arc<Signer>,
    issuer: Issuer,
    ttl: time::Duration,
}

impl IdTokens {
    /// ID tokens from `issuer` (`OIDC_ISSUER`), valid for `ttl`.
    pub fn new(signer: Arc<Signer>, issuer: Issuer, ttl: time::Duration) -> Self {
        Self {
            signer,
            issuer,
            ttl,
        }
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// Whether the signer holds a key for `algorithm` (a client may only be
    /// registered with an algorithm that can sign its tokens).
    pub fn signs_with(&self, algorithm: IdTokenAlgorithm) -> bool {
        self.signer.signs_with(algorithm.into())
    }

    pub fn issue(
        &self,
        algorithm: IdTokenAlgorithm,
        subject: IdSubject<'_>,
        now: OffsetDateTime,
    ) -> Result<String, TokenError> {
        let algorithm = JwtAlgorithm::from(algorithm);
        let iat = now.unix_timestamp();
        let claims = IdClaims {
            iss: self.issuer.as_str().to_owned(),
            sub: subject.user.as_uuid(),
            aud: subject.client.to_string(),
            exp: iat + self.ttl.whole_seconds(),
            iat,
            auth_time: subject.signed_in_at.unix_timestamp(),
            nonce: subject.nonce.map(str::to_owned),
            sid: subject.session.as_uuid(),
            amr: subject.amr.names().map(str::to_owned).collect(),
            at_hash: subject
                .access_token
                .map(|token| token_hash(algorithm, token)),
            azp: subject.client.to_string(),
            acr: subject.acr.map(str::to_owned),
        };
        self.signer.sign(algorithm, ID_TOKEN_TYP, &claims)
    }

    /// A logout token for `subject`, signed as the client's ID tokens are;
    /// valid for two minutes (it is sent at once, and retried fresh).
    pub fn logout_token(
        &self,
        algorithm: IdTokenAlgorithm,
        subject: LogoutSubject,
        now: OffsetDateTime,
    ) -> Result<String, TokenError> {
        let iat = now.unix_timestamp();
        let mut events = serde_json::Map::new();
        events.insert(
            BACKCHANNEL_LOGOUT_EVENT.to_owned(),
            serde_json::Value::Object(serde_json::Map::new()),
        );
        let claims = LogoutClaims {
            iss: self.issuer.as_str().to_owned(),
            aud: subject.client.to_string(),
            iat,
            exp: iat + 120,
            jti: Uuid::new_v4(),
            sid: subject.session.as_uuid(),
            sub: subject.user.as_uuid(),
            events,
        };
        self.signer
            .sign(algorithm.into(), LOGOUT_TOKEN_TYP, &claims)
    }

    /// An `id_token_hint`: an ID token this provider issued to `client`,
    /// expired or not (it names a user; it is not a credential).
    pub fn read_hint(&self, token: &str, client: ClientId) -> Result<IdClaims, TokenError> {
        // One algorithm per check: a key verifies under its own family only.
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let algorithm = IdTokenAlgorithm::ALL
            .into_iter()
            .map(JwtAlgorithm::from)
            .find(|alg| alg.jwt() == header.alg)
            .ok_or(TokenError::Invalid)?;
        let audience = client.to_string();
        let expected = Expected::new(
            &[],
            &[algorithm],
            self.issuer.as_str(),
            &[audience.as_str()],
        )
        .allowing_expired();
        self.signer.verify(token, &expected)
    }
}

/// `at_hash` (and `c_hash`): the left half of the hash of `token` under the
/// hash function of `algorithm` — SHA-256 for RS256 and ES256, SHA-512 for
/// EdDSA over Ed25519 — base64url without padding.
pub fn token_hash(algorithm: JwtAlgorithm, token: &str) -> String {
    let digest: Vec<u8> = match algorithm {
        JwtAlgorithm::EdDSA => Sha512::digest(token.as_bytes()).to_vec(),
        _ => Sha256::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_tokens() -> IdTokens {
        let mut signer = Signer::new(JwtAlgorithm::EdDSA, None, &[]).unwrap();
        signer.add_signing_key(JwtAlgorithm::RS256, None).unwrap();
        IdTokens::new(
            Arc::new(signer),
            Issuer::parse("https://auth.example.com").unwrap(),
            time::Duration::minutes(5),
        )
    }

    fn subject<'a>(client: ClientId, access_token: Option<&'a str>) -> IdSubject<'a> {
        IdSubject {
            user: UserId::new(),
            client,
            session: SessionId::new(),
            signed_in_at: OffsetDateTime::now_utc() - time::Duration::minutes(3),
            amr: Amr::PWD.with(Amr::OTP).with(Amr::MFA),
            nonce: Some("n-0S6_WzA2Mj"),
            access_token,
            acr: None,
        }
    }

    /// The example of OpenID Connect Core §A.3 (RS256: SHA-256, left half).
    #[test]
    fn at_hash_matches_the_specification_example() {
        assert_eq!(
            token_hash(
                JwtAlgorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(token_hash(JwtAlgorithm::EdDSA, "x").len(), 43);
    }

    #[test]
    fn id_tokens_carry_every_claim_and_read_back_as_hints() {
        let tokens = id_tokens();
        let client = ClientId::new();
        let now = OffsetDateTime::now_utc();
        let subject = subject(client, Some("the-access-token"));
        let token = tokens.issue(IdTokenAlgorithm::RS256, subject, now).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some(ID_TOKEN_TYP));
        let claims = tokens.read_hint(&token, client).unwrap();
        assert_eq!(claims.iss, "https://auth.example.com");
        assert_eq!(claims.aud, client.to_string());
        assert_eq!(claims.azp, client.to_string());
        assert_eq!(claims.sub, subject.user.as_uuid());
        assert_eq!(claims.sid, subject.session.as_uuid());
        assert_eq!(claims.auth_time, subject.signed_in_at.unix_timestamp());
        assert_eq!(claims.exp - claims.iat, 300);
        assert_eq!(claims.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
        assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
        assert_eq!(
            claims.at_hash,
            Some(token_hash(JwtAlgorithm::RS256, "the-access-token"))
        );
        assert_eq!(claims.acr, None);
        // Another client's hint, or a tampered one, names nobody.
        assert!(tokens.read_hint(&token, ClientId::new()).is_err());
        let mut tampered = token.clone();
        tampered.pop();
        assert!(tokens.read_hint(&tampered, client).is_err());
    }

    #[test]
    fn expired_hints_still_name_their_user_and_absent_keys_are_refused() {
        let tokens = id_tokens();
        let client = ClientId::new();
        let long_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
        let subject = subject(client, None);
        let token = tokens
            .issue(IdTokenAlgorithm::EdDSA, subject, long_ago)
            .unwrap();
        let claims = tokens.read_hint(&token, client).unwrap();
        assert_eq!(claims.user_id(), subject.user);
        assert_eq!(claims.at_hash, None);
        assert!(!tokens.signs_with(IdTokenAlgorithm::ES256));
        assert!(matches!(
            tokens.issue(IdTokenAlgorithm::ES256, subject, long_ago),
            Err(TokenError::NoKey(JwtAlgorithm::ES256))
        ));
    }

    /// Back-Channel Logout 1.0 §2.4: `iss aud iat exp jti sid sub events`,
    /// exactly the one event, never a `nonce`, explicitly typed.
    #[test]
    fn logout_tokens_carry_exactly_the_logout_claims() {
        let tokens = id_tokens();
        let subject = LogoutSubject {
            client: ClientId::new(),
            user: UserId::new(),
            session: SessionId::new(),
        };
        let now = OffsetDateTime::now_utc();
        let token = tokens
            .logout_token(IdTokenAlgorithm::RS256, subject, now)
            .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some(LOGOUT_TOKEN_TYP));
        let audience = subject.client.to_string();
        let expected = Expected::new(
            &[LOGOUT_TOKEN_TYP],
            &[JwtAlgorithm::RS256],
            "https://auth.example.com",
            &[audience.as_str()],
        );
        let claims: serde_json::Value = tokens.signer.verify(&token, &expected).unwrap();
        let mut names: Vec<_> = claims.as_object().unwrap().keys().cloned().collect();
        names.sort();
        assert_eq!(
            names,
            ["aud", "events", "exp", "iat", "iss", "jti", "sid", "sub"]
        );
        assert_eq!(
            claims["events"],
            serde_json::json!({BACKCHANNEL_LOGOUT_EVENT: {}})
        );
        assert_eq!(claims["sid"], subject.session.to_string());
        assert_eq!(claims["sub"], subject.user.to_string());
        // Not an ID token: a relying party checking `typ` cannot confuse them.
        let as_id = Expected::new(
            &[ID_TOKEN_TYP],
            &[JwtAlgorithm::RS256],
            "https://auth.example.com",
            &[audience.as_str()],
        );
        assert!(tokens.signer.verify::<IdClaims>(&token, &as_id).is_err());
    }
}
