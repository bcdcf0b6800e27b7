use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::*;
use crate::amr::Amr;
use crate::ids::{SessionId, UserId};
use crate::ports::{VerifiedToken, VerifiedTokens};

fn config(algorithm: JwtAlgorithm, signing_key: Option<SecretString>) -> JwtConfig {
    JwtConfig {
        algorithm,
        signing_key,
        previous_keys: vec![],
        issuer: Issuer::parse("iss").unwrap(),
        audience: "aud".into(),
        access_ttl: time::Duration::minutes(15),
    }
}

fn tokens(algorithm: JwtAlgorithm) -> AccessTokens {
    AccessTokens::from_config(&config(algorithm, None)).unwrap()
}

fn issue_at(tokens: &AccessTokens, at: OffsetDateTime) -> String {
    tokens
        .issue(
            UserId::new(),
            SessionId::new(),
            at,
            Amr::PWD,
            Claimed::default(),
            at,
        )
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
    let tokens = tokens(JwtAlgorithm::EdDSA);
    let cache = Remembered::default();
    let now = OffsetDateTime::now_utc();
    let token = issue_at(&tokens, now);
    let first = tokens.verify_cached(&token, Some(&cache)).unwrap();
    assert_eq!(tokens.verify_cached(&token, Some(&cache)).unwrap(), first);
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
    assert!(tokens.verify_cached(&tampered, Some(&cache)).is_err());
    assert_eq!(cache.entries.lock().unwrap().len(), 1);
    // Expiry is checked on every use, even when the claims are remembered.
    let expired = VerifiedToken {
        exp: now.unix_timestamp() - 60,
        ..first
    };
    let digest = <[u8; 32]>::from(Sha256::digest(token.as_bytes()));
    cache.insert(digest, expired, std::time::Duration::from_secs(60));
    assert!(matches!(
        tokens.verify_cached(&token, Some(&cache)),
        Err(TokenError::Expired)
    ));
}

#[test]
fn every_algorithm_round_trips() {
    for algorithm in [
        JwtAlgorithm::EdDSA,
        JwtAlgorithm::ES256,
        JwtAlgorithm::RS256,
        JwtAlgorithm::HS256,
    ] {
        let tokens = tokens(algorithm);
        let (user, session) = (UserId::new(), SessionId::new());
        let now = OffsetDateTime::now_utc();
        let token = tokens
            .issue(user, session, now, Amr::PWD, Claimed::default(), now)
            .unwrap();
        let claims = tokens.verify(&token).unwrap();
        assert_eq!(claims.user_id(), user);
        assert_eq!(claims.session_id(), session);
        assert_eq!(claims.exp - claims.iat, 900);
        let jwks = tokens.signer().public_keys();
        assert_eq!(jwks.len(), usize::from(algorithm != JwtAlgorithm::HS256));
        if let Some(jwk) = jwks.first() {
            assert_eq!(jwk.algorithm, algorithm);
        }
    }
}

#[test]
fn an_rsa_key_is_published_with_modulus_and_exponent_and_verifies_independently() {
    let tokens = tokens(JwtAlgorithm::RS256);
    let jwk = &tokens.signer().public_keys()[0];
    let JwkKey::Rsa { n, e } = &jwk.key else {
        panic!("an RSA key: {jwk:?}")
    };
    assert_eq!(jwk.key.kty(), "RSA");
    assert_eq!(e, "AQAB");
    let token = issue_at(&tokens, OffsetDateTime::now_utc());
    // What a relying party does with the JWKS alone.
    let key = jsonwebtoken::DecodingKey::from_rsa_components(n, e).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["aud"]);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(jwk.kid.as_str()));
    jsonwebtoken::decode::<AccessClaims>(&token, &key, &validation).unwrap();
}

#[test]
fn short_or_foreign_rsa_keys_are_refused() {
    use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
    let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024)
        .unwrap()
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    let refused = Signer::new(
        JwtAlgorithm::RS256,
        Some(SecretString::from(small.to_string())),
        &[],
    );
    assert!(matches!(refused, Err(KeyError::ShortRsaKey)), "{refused:?}");
    let ed = keys::generate_key(JwtAlgorithm::EdDSA).unwrap();
    assert!(matches!(
        Signer::new(JwtAlgorithm::RS256, Some(ed), &[]),
        Err(KeyError::Malformed(_))
    ));
}

#[test]
fn one_signer_signs_with_several_algorithms_and_never_confuses_them() {
    let mut signer = Signer::new(JwtAlgorithm::EdDSA, None, &[]).unwrap();
    signer.add_signing_key(JwtAlgorithm::RS256, None).unwrap();
    signer.add_signing_key(JwtAlgorithm::HS256, None).unwrap();
    assert!(matches!(
        signer.add_signing_key(JwtAlgorithm::RS256, None),
        Err(KeyError::DuplicateAlgorithm(JwtAlgorithm::RS256))
    ));
    assert_eq!(
        signer.algorithms().collect::<Vec<_>>(),
        [
            JwtAlgorithm::EdDSA,
            JwtAlgorithm::RS256,
            JwtAlgorithm::HS256
        ]
    );
    assert_eq!(signer.public_keys().len(), 2, "the secret is not published");
    let signer = Arc::new(signer);
    let access =
        AccessTokens::new(Arc::clone(&signer), &config(JwtAlgorithm::EdDSA, None)).unwrap();
    let token = issue_at(&access, OffsetDateTime::now_utc());
    access.verify(&token).unwrap();

    // A token of another kind, signed by the same signer, is not an access token.
    let claims = access.verify(&token).unwrap();
    let id_like = signer.sign(JwtAlgorithm::RS256, "JWT", &claims).unwrap();
    assert!(matches!(access.verify(&id_like), Err(TokenError::Invalid)));
    let rs_expected = Expected::new(&["JWT"], &[JwtAlgorithm::RS256], "iss", &["aud"]);
    let back: AccessClaims = signer.verify(&id_like, &rs_expected).unwrap();
    assert_eq!(back, claims);
    // The wrong `typ` for what is expected.
    assert!(signer.verify::<AccessClaims>(&token, &rs_expected).is_err());
    // An HS256 token whose `kid` names the RSA key (algorithm confusion).
    let rsa_kid = signer.public_keys()[1].kid.clone();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("JWT".into());
    header.kid = Some(rsa_kid);
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"whatever-secret-of-32-bytes-or-more"),
    )
    .unwrap();
    let hs_or_rs = Expected::new(
        &["JWT"],
        &[JwtAlgorithm::HS256, JwtAlgorithm::RS256],
        "iss",
        &["aud"],
    );
    assert!(signer.verify::<AccessClaims>(&forged, &hs_or_rs).is_err());
    // An access-token config for a key the signer lacks is refused.
    assert!(matches!(
        AccessTokens::new(signer, &config(JwtAlgorithm::ES256, None)),
        Err(KeyError::MissingAlgorithm(JwtAlgorithm::ES256))
    ));
}

#[test]
fn another_key_is_rejected_and_rotation_accepts_previous() {
    let old = tokens(JwtAlgorithm::EdDSA);
    let token = issue_at(&old, OffsetDateTime::now_utc());
    let new = tokens(JwtAlgorithm::EdDSA);
    assert!(new.verify(&token).is_err());

    // The new key set keeps the old public key for verification.
    use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
    let old_material = std::str::from_utf8(old.signer().primary_material()).unwrap();
    let old_public = ed25519_dalek::SigningKey::from_pkcs8_pem(old_material)
        .unwrap()
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    let rotated = AccessTokens::from_config(&JwtConfig {
        previous_keys: vec![SecretString::from(old_public)],
        ..config(JwtAlgorithm::EdDSA, None)
    })
    .unwrap();
    assert!(rotated.verify(&token).is_ok());
    assert_eq!(rotated.signer().public_keys().len(), 2);
}

#[test]
fn a_previous_rsa_public_key_still_verifies() {
    use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _, LineEnding};
    let old = tokens(JwtAlgorithm::RS256);
    let token = issue_at(&old, OffsetDateTime::now_utc());
    let material = std::str::from_utf8(old.signer().primary_material()).unwrap();
    let public = rsa::RsaPrivateKey::from_pkcs8_pem(material)
        .unwrap()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let rotated = AccessTokens::from_config(&JwtConfig {
        previous_keys: vec![SecretString::from(public)],
        ..config(JwtAlgorithm::RS256, None)
    })
    .unwrap();
    assert!(rotated.verify(&token).is_ok());
    let kids: Vec<_> = rotated
        .signer()
        .public_keys()
        .iter()
        .map(|k| &k.kid)
        .collect();
    assert_eq!(kids.len(), 2);
    assert_ne!(kids[0], kids[1]);
}

#[test]
fn expired_tokens_are_rejected() {
    let tokens = tokens(JwtAlgorithm::EdDSA);
    let token = issue_at(
        &tokens,
        OffsetDateTime::now_utc() - time::Duration::hours(1),
    );
    assert!(matches!(tokens.verify(&token), Err(TokenError::Expired)));
}

#[test]
fn short_hs256_secret_is_refused() {
    let result = AccessTokens::from_config(&config(
        JwtAlgorithm::HS256,
        Some(SecretString::from("short")),
    ));
    assert!(result.is_err());
    // The material is never in the error's text.
    let message = result.unwrap_err().to_string();
    assert!(!message.contains("short"), "{message}");
}
