//! TOTP (RFC 6238) as authenticator apps know it — SHA-1, 6 digits, 30-second
//! steps, a 160-bit secret — computed by `totp-rs`; the secret sealed at rest
//! with AES-256-GCM (`aes-gcm`) under `MFA_ENCRYPTION_KEY`.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretBox};
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, TOTP};

use crate::ids::UserId;

const SECRET_BYTES: usize = 20;
const NONCE_BYTES: usize = 12;
const DIGITS: usize = 6;
const STEP_SECS: u64 = 30;
/// Steps accepted on either side of the current one (clock skew).
const SKEW_STEPS: i64 = 1;

/// The key that seals TOTP secrets (32 bytes).
#[derive(Clone)]
pub struct MfaKey(std::sync::Arc<Aes256Gcm>);

impl MfaKey {
    pub fn new(key: &[u8; 32]) -> Self {
        Self(std::sync::Arc::new(Aes256Gcm::new(
            &Key::<Aes256Gcm>::from(*key),
        )))
    }

    /// A random key for this process only (development without a key).
    pub fn ephemeral() -> Self {
        let mut key = [0_u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self::new(&key)
    }

    /// Seals `secret` for `user`: nonce ‖ ciphertext ‖ tag.
    pub(crate) fn seal(&self, user: UserId, secret: &TotpSecret) -> Vec<u8> {
        let mut nonce = [0_u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = user.as_uuid();
        let payload = Payload {
            msg: secret.0.expose_secret(),
            aad: aad.as_bytes(),
        };
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), payload)
            .expect("AES-GCM seals any message shorter than 64 GiB");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens what [`MfaKey::seal`] sealed for `user`; `None` when it was
    /// sealed under another key or for another user, or was altered.
    pub(crate) fn open(&self, user: UserId, sealed: &[u8]) -> Option<TotpSecret> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_BYTES)?;
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        let aad = user.as_uuid();
        let payload = Payload {
            msg: ciphertext,
            aad: aad.as_bytes(),
        };
        let secret = self.0.decrypt(&Nonce::from(nonce), payload).ok()?;
        Some(TotpSecret(SecretBox::new(Box::new(secret))))
    }
}

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKey([REDACTED])")
    }
}

/// A TOTP shared secret. Never logged, cached, or sent after set-up.
pub struct TotpSecret(SecretBox<Vec<u8>>);

impl TotpSecret {
    pub fn random() -> Self {
        let mut secret = vec![0_u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self(SecretBox::new(Box::new(secret)))
    }

    fn totp(&self, issuer: &str, account: &str) -> TOTP {
        // `otpauth` labels are `issuer:account`; neither may hold a colon.
        let clean = |s: &str| s.replace(':', " ");
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            0,
            STEP_SECS,
            self.0.expose_secret().clone(),
            Some(clean(issuer)),
            clean(account),
        )
    }

    /// What set-up shows: the base32 secret and the `otpauth://` URI.
    pub fn provisioning(&self, issuer: &str, account: &str) -> (String, String) {
        let totp = self.totp(issuer, account);
        (totp.get_secret_base32(), totp.get_url())
    }

    /// The time step whose code `code` is, within ±1 step of `unix_time`;
    /// every candidate is compared in constant time.
    pub fn matching_step(&self, code: &str, unix_time: u64) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("", "");
        let now = i64::try_from(unix_time / STEP_SECS).ok()?;
        let mut found = None;
        for step in now - SKEW_STEPS..=now + SKEW_STEPS {
            let Ok(at) = u64::try_from(step) else {
                continue;
            };
            let expected = totp.generate(at * STEP_SECS);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found
    }
}

/// The set-up QR code of `uri`, as SVG.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_user_and_key() {
        let key = MfaKey::ephemeral();
        let user = UserId::new();
        let secret = TotpSecret::random();
        let sealed = key.seal(user, &secret);
        let opened = key.open(user, &sealed).expect("opens");
        assert_eq!(opened.0.expose_secret(), secret.0.expose_secret());
        assert!(key.open(UserId::new(), &sealed).is_none(), "another user");
        assert!(
            MfaKey::ephemeral().open(user, &sealed).is_none(),
            "another key"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open(user, &altered).is_none(), "altered");
        assert!(key.open(user, &sealed[..5]).is_none(), "truncated");
    }

    /// RFC 6238's SHA-1 test secret: deterministic, so no code collides by chance.
    fn rfc_secret() -> TotpSecret {
        TotpSecret(SecretBox::new(Box::new(b"12345678901234567890".to_vec())))
    }

    #[test]
    fn rfc_6238_vectors_truncated_to_six_digits() {
        // RFC 6238 appendix B: 94287082 at T=59, 07081804 at T=1111111109.
        let secret = rfc_secret();
        assert_eq!(secret.matching_step("287082", 59), Some(1));
        assert_eq!(
            secret.matching_step("081804", 1_111_111_109),
            Some(37_037_036)
        );
    }

    #[test]
    fn codes_match_their_step_within_one_step_of_skew() {
        let secret = rfc_secret();
        let totp = secret.totp("", "");
        let now = 1_800_000_000_u64;
        let step = (now / STEP_SECS) as i64;
        for offset in -3..=3_i64 {
            let code = totp.generate((step + offset) as u64 * STEP_SECS);
            let expected = (offset.abs() <= SKEW_STEPS).then_some(step + offset);
            assert_eq!(
                secret.matching_step(&code, now),
                expected,
                "offset {offset}"
            );
        }
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("abcdef", now), None);
        assert_eq!(secret.matching_step("１２３４５６", now), None);
    }

    #[test]
    fn provisioning_names_the_issuer_and_account() {
        let (secret, uri) = TotpSecret::random().provisioning("Example: Inc", "a@example.com");
        assert_eq!(secret.len(), 32, "160 bits of base32");
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={secret}")), "{uri}");
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
    }
}
