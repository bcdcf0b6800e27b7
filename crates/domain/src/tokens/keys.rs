//! Loading, generating and publishing signing and verification keys (PKCS#8 /
//! SPKI PEM for EdDSA and ES256, PKCS#8 or PKCS#1 PEM for RS256, a secret for
//! HS256), with their key ids.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::{JwkKey, JwtAlgorithm, KeyError, PublicJwk};

/// The smallest RSA modulus accepted (bits), as OIDC and NIST require.
pub(super) const RSA_MIN_BITS: usize = 2048;

/// A key that signs, with what verifies and publishes it.
pub(super) struct KeyPair {
    pub(super) encoding: EncodingKey,
    pub(super) public: PublicKey,
}

/// A key that verifies (and, unless it is a shared secret, is published).
pub(super) struct PublicKey {
    pub(super) kid: String,
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
        JwtAlgorithm::RS256 => rsa::RsaPrivateKey::new(&mut rng, RSA_MIN_BITS)
            .map_err(KeyError::crypto)?
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
            Ok(KeyPair {
                encoding: EncodingKey::from_ed_pem(material.as_bytes())
                    .map_err(KeyError::crypto)?,
                public: ed_public(&signing.verifying_key().to_bytes())?,
            })
        }
        JwtAlgorithm::ES256 => {
            let secret = p256::SecretKey::from_pkcs8_pem(material)
                .map_err(|_| KeyError::Malformed("not a PKCS#8 PEM P-256 private key"))?;
            Ok(KeyPair {
                encoding: EncodingKey::from_ec_pem(material.as_bytes())
                    .map_err(KeyError::crypto)?,
                public: ec_public(&secret.public_key())?,
            })
        }
        JwtAlgorithm::RS256 => {
            use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
            let private = rsa::RsaPrivateKey::from_pkcs8_pem(material)
                .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(material))
                .map_err(|_| KeyError::Malformed("not a PKCS#8 or PKCS#1 PEM RSA private key"))?;
            private.validate().map_err(KeyError::crypto)?;
            let der = private.to_pkcs1_der().map_err(KeyError::crypto)?;
            Ok(KeyPair {
                encoding: EncodingKey::from_rsa_der(der.as_bytes()),
                public: rsa_public(&private.to_public_key())?,
            })
        }
        JwtAlgorithm::HS256 => Ok(KeyPair {
            public: load_verification_key(algorithm, material)?,
            encoding: EncodingKey::from_secret(material.as_bytes()),
        }),
    }
}

pub(super) fn load_verification_key(
    algorithm: JwtAlgorithm,
    material: &str,
) -> Result<PublicKey, KeyError> {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    match algorithm {
        JwtAlgorithm::EdDSA => {
            let public = ed25519_dalek::VerifyingKey::from_public_key_pem(material)
                .map_err(|_| KeyError::Malformed("not a PEM Ed25519 public key"))?;
            ed_public(&public.to_bytes())
        }
        JwtAlgorithm::ES256 => {
            let public = p256::PublicKey::from_public_key_pem(material)
                .map_err(|_| KeyError::Malformed("not a PEM P-256 public key"))?;
            ec_public(&public)
        }
        JwtAlgorithm::RS256 => {
            use rsa::pkcs1::DecodeRsaPublicKey as _;
            let public = rsa::RsaPublicKey::from_public_key_pem(material)
                .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(material))
                .map_err(|_| KeyError::Malformed("not a PEM RSA public key"))?;
            rsa_public(&public)
        }
        JwtAlgorithm::HS256 => {
            if material.len() < 32 {
                return Err(KeyError::ShortSecret);
            }
            Ok(PublicKey {
                kid: key_id(algorithm, material.as_bytes()),
                decoding: DecodingKey::from_secret(material.as_bytes()),
                jwk: None,
            })
        }
    }
}

fn published(
    algorithm: JwtAlgorithm,
    kid: String,
    decoding: DecodingKey,
    key: JwkKey,
) -> PublicKey {
    PublicKey {
        jwk: Some(PublicJwk {
            kid: kid.clone(),
            algorithm,
            key,
        }),
        kid,
        decoding,
    }
}

fn ed_public(public: &[u8; 32]) -> Result<PublicKey, KeyError> {
    let x = b64(public);
    let decoding = DecodingKey::from_ed_components(&x).map_err(KeyError::crypto)?;
    let kid = key_id(JwtAlgorithm::EdDSA, public);
    Ok(published(
        JwtAlgorithm::EdDSA,
        kid,
        decoding,
        JwkKey::Okp { crv: "Ed25519", x },
    ))
}

fn ec_public(public: &p256::PublicKey) -> Result<PublicKey, KeyError> {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    let point = public.to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(KeyError::Malformed(
            "P-256 public key is the identity point",
        ));
    };
    let (x, y) = (b64(x), b64(y));
    let decoding = DecodingKey::from_ec_components(&x, &y).map_err(KeyError::crypto)?;
    let kid = key_id(JwtAlgorithm::ES256, point.as_bytes());
    Ok(published(
        JwtAlgorithm::ES256,
        kid,
        decoding,
        JwkKey::Ec { crv: "P-256", x, y },
    ))
}

fn rsa_public(public: &rsa::RsaPublicKey) -> Result<PublicKey, KeyError> {
    use rsa::traits::PublicKeyParts as _;
    if public.size() * 8 < RSA_MIN_BITS {
        return Err(KeyError::ShortRsaKey);
    }
    let (n, e) = (public.n().to_bytes_be(), public.e().to_bytes_be());
    let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
    let kid = key_id(JwtAlgorithm::RS256, &[n.as_slice(), e.as_slice()].concat());
    Ok(published(
        JwtAlgorithm::RS256,
        kid,
        decoding,
        JwkKey::Rsa {
            n: b64(&n),
            e: b64(&e),
        },
    ))
}
