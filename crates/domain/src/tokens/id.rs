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

/// Issues ID tokens and reads `id_token_hint`s.
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
}
