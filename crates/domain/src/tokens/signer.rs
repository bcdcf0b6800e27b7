//! The signer: every key this service signs or verifies JWTs with, by key id.
//! Key loading, kids, rotation (previous keys that still verify), the JWKS
//! document and verification by `kid` live here; what a token *says* (access
//! tokens, and the provider's ID and logout tokens) is built beside it.

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keys::{generate_key, load_signing_key, load_verification_key};
use super::{JwtAlgorithm, KeyError, TokenError};

/// A public key as published at `/.well-known/jwks.json` (RFC 7517).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: String,
    pub algorithm: JwtAlgorithm,
    pub key: JwkKey,
}

/// The key type and its public parameters (RFC 7518 §6, RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkKey {
    /// `kty: OKP` (Ed25519).
    Okp { crv: &'static str, x: String },
    /// `kty: EC` (P-256).
    Ec {
        crv: &'static str,
        x: String,
        y: String,
    },
    /// `kty: RSA`: modulus and exponent, base64url.
    Rsa { n: String, e: String },
}

impl JwkKey {
    pub fn kty(&self) -> &'static str {
        match self {
            Self::Okp { .. } => "OKP",
            Self::Ec { .. } => "EC",
            Self::Rsa { .. } => "RSA",
        }
    }
}

/// What a verified token must be: its `typ` header (one of), the algorithms
/// accepted, and the registered claims checked (`iss`, `aud`, `exp`, …).
pub struct Expected {
    typ: &'static [&'static str],
    validation: Validation,
}

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: i64 = 5;

impl Expected {
    /// A token of one of `typ` (compared case-insensitively; empty: any),
    /// signed with one of `algorithms`, from `issuer` to one of `audiences`,
    /// unexpired, carrying `exp`, `iat`, `iss`, `aud` and `sub`.
    pub fn new(
        typ: &'static [&'static str],
        algorithms: &[JwtAlgorithm],
        issuer: &str,
        audiences: &[&str],
    ) -> Self {
        let mut validation = Validation::new(algorithms[0].jwt());
        validation.algorithms = algorithms.iter().map(|a| a.jwt()).collect();
        validation.set_issuer(&[issuer]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS as u64;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        Self { typ, validation }
    }

    /// The same, accepting an expired token (an `id_token_hint` names a
    /// user; it is not a credential).
    pub fn allowing_expired(mut self) -> Self {
        self.validation.validate_exp = false;
        self
    }

    fn admits_typ(&self, typ: Option<&str>) -> bool {
        self.typ.is_empty()
            || typ.is_some_and(|typ| self.typ.iter().any(|t| typ.eq_ignore_ascii_case(t)))
    }
}

struct SigningKey {
    algorithm: JwtAlgorithm,
    kid: String,
    encoding: EncodingKey,
}

struct VerifyingKey {
    algorithm: JwtAlgorithm,
    decoding: DecodingKey,
}

/// Every signing key (one per algorithm) and every verification key (the
/// signing keys' own and the previous ones kept for rotation), by `kid`.
pub struct Signer {
    signing: Vec<SigningKey>,
    verifying: HashMap<String, VerifyingKey>,
    jwks: Vec<PublicJwk>,
    /// The access-token key's material: the refresh-token successor key is
    /// derived from it.
    primary_material: SecretString,
    ephemeral: bool,
}

impl Signer {
    /// A signer whose first key, for `algorithm`, is `key` (`None`: a fresh
    /// key for this process only), and which still verifies `previous`
    /// (public keys, or secrets for HS256).
    pub fn new(
        algorithm: JwtAlgorithm,
        key: Option<SecretString>,
        previous: &[SecretString],
    ) -> Result<Self, KeyError> {
        let ephemeral = key.is_none();
        let material = match key {
            Some(key) => key,
            None => generate_key(algorithm)?,
        };
        let mut signer = Self {
            signing: Vec::new(),
            verifying: HashMap::new(),
            jwks: Vec::new(),
            primary_material: material.clone(),
            ephemeral,
        };
        signer.add_signing_key(algorithm, Some(material))?;
        for key in previous {
            let public = load_verification_key(algorithm, key.expose_secret())?;
            signer.remember(algorithm, public);
        }
        Ok(signer)
    }

    /// Adds the signing key for another algorithm (`None`: a fresh one for
    /// this process). Each algorithm signs with one key.
    pub fn add_signing_key(
        &mut self,
        algorithm: JwtAlgorithm,
        key: Option<SecretString>,
    ) -> Result<(), KeyError> {
        if self.signs_with(algorithm) {
            return Err(KeyError::DuplicateAlgorithm(algorithm));
        }
        let material = match key {
            Some(key) => key,
            None => generate_key(algorithm)?,
        };
        let pair = load_signing_key(algorithm, material.expose_secret())?;
        self.signing.push(SigningKey {
            algorithm,
            kid: pair.public.kid.clone(),
            encoding: pair.encoding,
        });
        self.remember(algorithm, pair.public);
        Ok(())
    }

    fn remember(&mut self, algorithm: JwtAlgorithm, public: super::keys::PublicKey) {
        self.jwks.extend(public.jwk);
        self.verifying.insert(
            public.kid,
            VerifyingKey {
                algorithm,
                decoding: public.decoding,
            },
        );
    }

    /// Whether the first signing key was generated for this process only.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Whether a key signs with `algorithm`.
    pub fn signs_with(&self, algorithm: JwtAlgorithm) -> bool {
        self.signing.iter().any(|key| key.algorithm == algorithm)
    }

    /// The algorithms this signer signs with, the first key's first.
    pub fn algorithms(&self) -> impl Iterator<Item = JwtAlgorithm> + '_ {
        self.signing.iter().map(|key| key.algorithm)
    }

    /// The public keys, for the JWKS document (shared secrets are never
    /// published).
    pub fn public_keys(&self) -> &[PublicJwk] {
        &self.jwks
    }

    pub(crate) fn primary_material(&self) -> &[u8] {
        self.primary_material.expose_secret().as_bytes()
    }

    /// Signs `claims` with the key for `algorithm`, under `typ`; the header
    /// names the key (`kid`).
    pub fn sign<C: Serialize>(
        &self,
        algorithm: JwtAlgorithm,
        typ: &str,
        claims: &C,
    ) -> Result<String, TokenError> {
        let key = self
            .signing
            .iter()
            .find(|key| key.algorithm == algorithm)
            .ok_or(TokenError::NoKey(algorithm))?;
        let mut header = Header::new(algorithm.jwt());
        header.typ = Some(typ.to_owned());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(TokenError::Signing)
    }

    /// Verifies the signature with the key the header's `kid` names (whose
    /// algorithm must be the header's, and one `expected` accepts), the
    /// `typ`, and the registered claims. Fails closed: anything unexpected is
    /// invalid.
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        expected: &Expected,
    ) -> Result<C, TokenError> {
        const INVALID: TokenError = TokenError::Invalid;
        let header = jsonwebtoken::decode_header(token).map_err(|_| INVALID)?;
        if !expected.validation.algorithms.contains(&header.alg)
            || !expected.admits_typ(header.typ.as_deref())
        {
            return Err(INVALID);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .filter(|key| key.algorithm.jwt() == header.alg)
            .ok_or(INVALID)?;
        match jsonwebtoken::decode::<C>(token, &key.decoding, &expected.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
            Err(_) => Err(INVALID),
        }
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field(
                "signing",
                &self
                    .signing
                    .iter()
                    .map(|key| (key.algorithm, key.kid.as_str()))
                    .collect::<Vec<_>>(),
            )
            .field("verification_keys", &self.verifying.len())
            .finish_non_exhaustive()
    }
}
