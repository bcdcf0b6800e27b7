//! Recovery codes: 120 random bits each, shown once as `xxxx-xxxx-xxxx-xxxx-xxxx-xxxx`
//! (lower-case RFC 4648 base32), stored only as SHA-256. 120 bits put a
//! stored hash beyond brute force, so no slow hash is needed (ASVS 6.5.2).

use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const CODE_BYTES: usize = 15;
const CODE_CHARS: usize = 24;
const GROUP: usize = 4;
/// How many codes a set has.
pub const RECOVERY_CODES: usize = 10;

/// A recovery code as shown to its owner.
pub struct RecoveryCode(SecretString);

impl RecoveryCode {
    fn random() -> Self {
        let mut raw = [0_u8; CODE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let plain = base32::encode(base32::Alphabet::Rfc4648Lower { padding: false }, &raw);
        let grouped = plain
            .as_bytes()
            .chunks(GROUP)
            .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("-");
        Self(SecretString::from(grouped))
    }

    /// A new set of [`RECOVERY_CODES`] codes.
    pub fn set() -> Vec<Self> {
        (0..RECOVERY_CODES).map(|_| Self::random()).collect()
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The digest storage knows it by.
    pub fn hash(&self) -> [u8; 32] {
        hash_of(self.expose()).expect("a generated code is well-formed")
    }
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode([REDACTED])")
    }
}

/// The digest of a presented code, ignoring case, dashes and spaces; `None`
/// when it cannot be a recovery code.
pub fn hash_of(presented: &str) -> Option<[u8; 32]> {
    let normal: String = presented
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let well_formed = normal.len() == CODE_CHARS
        && normal
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    well_formed.then(|| Sha256::digest(normal.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_well_formed_codes() {
        let set = RecoveryCode::set();
        assert_eq!(set.len(), RECOVERY_CODES);
        let mut hashes: Vec<_> = set.iter().map(RecoveryCode::hash).collect();
        hashes.dedup();
        assert_eq!(hashes.len(), RECOVERY_CODES);
        let code = set[0].expose();
        assert_eq!(code.len(), CODE_CHARS + CODE_CHARS / GROUP - 1);
        assert_eq!(code.split('-').count(), 6, "{code}");
    }

    #[test]
    fn presented_codes_are_normalised_and_checked() {
        let code = RecoveryCode::random();
        let typed = code.expose().to_uppercase().replace('-', " ");
        assert_eq!(hash_of(&typed), Some(code.hash()));
        assert_eq!(hash_of("short"), None);
        assert_eq!(hash_of(&"1".repeat(CODE_CHARS)), None, "not base32");
        assert_eq!(hash_of(""), None);
    }
}
