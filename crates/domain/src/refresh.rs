//! Refresh tokens: 256 bits, base64url, stored only as their SHA-256 digest.
//!
//! A session's first token is random. Each rotation replaces the presented token
//! with its *successor*, `HMAC-SHA256(key, token)`: as unpredictable as a random
//! token to anyone without the server's key, but the same for two concurrent
//! refreshes of one token. That is what lets the loser of such a race (inside the
//! grace window) be answered with the very token the winner got, so one session
//! never has two live chains and neither client is logged out.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;
const ENCODED_LEN: usize = 43;

/// A refresh token as handed to a client. Never logged, cached or stored.
pub struct RefreshToken {
    encoded: SecretString,
    raw: [u8; TOKEN_BYTES],
}

impl RefreshToken {
    /// Parses a presented token; `None` for anything that is not 32 bytes of
    /// base64url, which is rejected without touching storage.
    pub fn parse(presented: &str) -> Option<Self> {
        if presented.len() != ENCODED_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(presented).ok()?;
        let raw: [u8; TOKEN_BYTES] = bytes.try_into().ok()?;
        Some(Self::from_raw(raw))
    }

    /// A new random token.
    pub fn random() -> Self {
        let mut raw = [0_u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        Self::from_raw(raw)
    }

    fn from_raw(raw: [u8; TOKEN_BYTES]) -> Self {
        Self {
            encoded: SecretString::from(URL_SAFE_NO_PAD.encode(raw)),
            raw,
        }
    }

    pub fn expose(&self) -> &str {
        self.encoded.expose_secret()
    }

    /// The digest under which storage knows this token.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.raw).into())
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

/// A token sent by mail (password reset, email verification): 256 random bits,
/// base64url, stored only as its SHA-256, exactly like a refresh token.
pub type MailToken = RefreshToken;

/// SHA-256 of a refresh token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Issues refresh tokens and derives their successors.
#[derive(Clone)]
pub struct RefreshTokens {
    key: [u8; 32],
}

impl RefreshTokens {
    /// Derives the successor key from secret key material (the JWT signing key),
    /// so every instance sharing that key derives the same successors.
    pub fn from_key_material(material: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256>>::new_from_slice(b"codezest-auth/refresh-successor/v1")
            .expect("HMAC takes any key length");
        mac.update(material);
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    /// A new random token.
    pub fn issue(&self) -> RefreshToken {
        RefreshToken::random()
    }

    /// The token that replaces `presented` when it is rotated.
    pub fn successor(&self, presented: &RefreshToken) -> RefreshToken {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(&presented.raw);
        RefreshToken::from_raw(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for RefreshTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshTokens([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn issued_tokens_round_trip() {
        let tokens = RefreshTokens::from_key_material(b"k");
        let token = tokens.issue();
        assert_eq!(token.expose().len(), ENCODED_LEN);
        let parsed = RefreshToken::parse(token.expose()).unwrap();
        assert_eq!(parsed.hash(), token.hash());
    }

    #[test]
    fn successors_are_deterministic_per_key() {
        let a = RefreshTokens::from_key_material(b"one");
        let b = RefreshTokens::from_key_material(b"two");
        let token = a.issue();
        assert_eq!(a.successor(&token).hash(), a.successor(&token).hash());
        assert_ne!(a.successor(&token).hash(), b.successor(&token).hash());
        assert_ne!(a.successor(&token).hash(), token.hash());
    }

    #[test]
    fn debug_is_redacted() {
        let token = RefreshTokens::from_key_material(b"k").issue();
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    proptest! {
        #[test]
        fn parse_rejects_anything_but_32_bytes(raw in "\\PC{0,80}") {
            if let Some(token) = RefreshToken::parse(&raw) {
                prop_assert_eq!(token.expose(), raw.as_str());
            }
        }
    }
}
