//! Loading, generating and publishing signing and verification keys (PKCS#8 /
//! SPKI PEM for EdDSA and ES256, a secret for HS256), with their key ids.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::{JwtAlgorithm, KeyError, PublicJwk};

pub(super) struct KeyPair {
    pub(super) kid: String,
    pub(super) encoding: EncodingKey,
    pub(super) decoding: DecodingKey,
    pub(super) jwk: Option<PublicJwk>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn key_id(algorithm: JwtAlgorithm, material: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(algorithm.as_str())
        .chain_update(material)
        .finalize();
    b64(&digest[..12])
}

pub(super) fn generate_key(algorithm: JwtAlgorithm) -> Result<SecretString, KeyError> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    use p256::pkcs8::LineEnding;
    use rand::RngCore as _;
    let mut rng = rand::rngs::OsRng;
    let pem = match algorithm {
        JwtAlgorithm::EdDSA => ed25519_dalek::SigningKey::generate(&mut rng)
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(KeyError::crypto)?
            .to_string(),
        JwtAlgorithm::ES256 => p256::SecretKey::random(&mut rng)
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(KeyError::crypto)?
            .to_string(),
        JwtAlgorithm::HS256 => {
            let mut secret = [0_u8; 48];
            rng.fill_bytes(&mut secret);
            b64(&secret)
        }
    };
    Ok(SecretString::from(pem))
}

pub(super) fn load_signing_key(
    algorithm: JwtAlgorithm,
    material: &str,
) -> Result<KeyPair, KeyError> {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    match algorithm {
        JwtAlgorithm::EdDSA => {
            let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(material)
                .map_err(|_| KeyError::Malformed("not a PKCS#8 PEM Ed25519 private key"))?;
            let public = signing.verifying_key().to_bytes();
            let encoding =
                EncodingKey::from_ed_pem(material.as_bytes()).map_err(KeyError::crypto)?;
            let (kid, decoding, jwk) = ed_public(&public)?;
            Ok(KeyPair {
                kid,
                encoding,
                decoding,
                jwk: Some(jwk),
            })
        }
        JwtAlgorithm::ES256 => {
            let secret = p256::SecretKey::from_pkcs8_pem(material)
                .map_err(|_| KeyError::Malformed("not a PKCS#8 PEM P-256 private key"))?;
            let encoding =
                EncodingKey::from_ec_pem(material.as_bytes()).map_err(KeyError::crypto)?;
            let (kid, decoding, jwk) = ec_public(&secret.public_key())?;
            Ok(KeyPair {
                kid,
                encoding,
                decoding,
                jwk: Some(jwk),
            })
        }
        JwtAlgorithm::HS256 => {
            let (kid, decoding, _) = load_verification_key(algorithm, material)?;
            Ok(KeyPair {
                kid,
                encoding: EncodingKey::from_secret(material.as_bytes()),
                decoding,
                jwk: None,
            })
        }
    }
}

pub(super) fn load_verification_key(
    algorithm: JwtAlgorithm,
    material: &str,
) -> Result<(String, DecodingKey, Option<PublicJwk>), KeyError> {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    match algorithm {
        JwtAlgorithm::EdDSA => {
            let public = ed25519_dalek::VerifyingKey::from_public_key_pem(material)
                .map_err(|_| KeyError::Malformed("not a PEM Ed25519 public key"))?;
            let (kid, key, jwk) = ed_public(&public.to_bytes())?;
            Ok((kid, key, Some(jwk)))
        }
        JwtAlgorithm::ES256 => {
            let public = p256::PublicKey::from_public_key_pem(material)
                .map_err(|_| KeyError::Malformed("not a PEM P-256 public key"))?;
            let (kid, key, jwk) = ec_public(&public)?;
            Ok((kid, key, Some(jwk)))
        }
        JwtAlgorithm::HS256 => {
            if material.len() < 32 {
                return Err(KeyError::ShortSecret);
            }
            let kid = key_id(algorithm, material.as_bytes());
            Ok((kid, DecodingKey::from_secret(material.as_bytes()), None))
        }
    }
}

fn ed_public(public: &[u8; 32]) -> Result<(String, DecodingKey, PublicJwk), KeyError> {
    let x = b64(public);
    let kid = key_id(JwtAlgorithm::EdDSA, public);
    let key = DecodingKey::from_ed_components(&x).map_err(KeyError::crypto)?;
    let jwk = PublicJwk {
        kty: "OKP",
        crv: "Ed25519",
        alg: "EdDSA",
        kid: kid.clone(),
        x,
        y: None,
    };
    Ok((kid, key, jwk))
}

fn ec_public(public: &p256::PublicKey) -> Result<(String, DecodingKey, PublicJwk), KeyError> {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    let point = public.to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(KeyError::Malformed(
            "P-256 public key is the identity point",
        ));
    };
    let (x, y) = (b64(x), b64(y));
    let kid = key_id(JwtAlgorithm::ES256, point.as_bytes());
    let key = DecodingKey::from_ec_components(&x, &y).map_err(KeyError::crypto)?;
    let jwk = PublicJwk {
        kty: "EC",
        crv: "P-256",
        alg: "ES256",
        kid: kid.clone(),
        x,
        y: Some(y),
    };
    Ok((kid, key, jwk))
}
