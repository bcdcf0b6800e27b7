//! Passwords: the value type, its stored hash, and the argon2id hasher that runs on
//! the blocking pool behind a concurrency bound.

use std::fmt;
use std::sync::Arc;

use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash as PhcString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use crate::validation::FieldError;

mod strength;
use strength::judged_form;

/// Why hashing a password failed: the process's fault, never the caller's.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 failed to hash")]
    Argon2(#[source] argon2::Error),
    #[error("the password hasher is shut down")]
    Closed,
    #[error("the password hashing task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// A password as typed: 8–128 Unicode characters, kept whole (never truncated)
/// and secret (never in `Debug`, logs or errors).
pub struct Password(SecretString);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;
    /// The lowest zxcvbn score a new password may have: 2 refuses what its
    /// dictionaries (30 000 common passwords, names, English words) and patterns
    /// (repeats, sequences, keyboard walks, dates, l33t) guess in under 10⁶
    /// tries — "password123", "Passw0rd!", "qwertyuiop", "aaaaaaaa".
    pub const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Two;

    /// Parses a new password for `field` (`password`, `new_password`, …): the
    /// length policy, which costs nothing. The strength policy is judged
    /// where the password is hashed ([`PasswordHasher::hash_new`]), on the
    /// blocking pool with the account's own words.
    pub fn parse(raw: String, field: &'static str) -> Result<NewPassword, FieldError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(FieldError::new(field, "must be at least 8 characters"));
        }
        if chars > Self::MAX_CHARS {
            return Err(FieldError::new(field, "must be at most 128 characters"));
        }
        Ok(NewPassword {
            password: Self(SecretString::from(raw)),
            field,
        })
    }

    /// A password presented at login is not held to the creation policy (the
    /// policy may have changed since); only its size is bounded, so an attacker
    /// cannot make the server hash megabytes.
    pub fn presented(raw: String) -> Option<Self> {
        (raw.len() <= Self::MAX_CHARS * 4).then(|| Self(SecretString::from(raw)))
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A new password whose length passed; its strength is judged when it is
/// hashed ([`PasswordHasher::hash_new`]).
#[derive(Debug)]
pub struct NewPassword {
    password: Password,
    /// The request field it came in, named by a refusal.
    field: &'static str,
}

impl NewPassword {
    pub fn password(&self) -> &Password {
        &self.password
    }

    /// The strength policy: refuses what zxcvbn guesses in under 10⁶ tries,
    /// including passwords built from `related` words (the address, the
    /// name). CPU-bound, with bounded work (see [`judged_form`]): run it off
    /// the async workers.
    pub fn judge(&self, related: &[&str]) -> Result<(), FieldError> {
        // zxcvbn matches whole inputs: "ada.lovelace@example.com" gives it
        // "ada", "lovelace", "example" as well.
        let words: Vec<&str> = related
            .iter()
            .flat_map(|input| input.split(|c: char| !c.is_alphanumeric()))
            .filter(|word| word.chars().count() >= 3)
            .chain(related.iter().copied())
            .collect();
        let estimate = zxcvbn::zxcvbn(&judged_form(self.password.expose()), &words);
        if estimate.score() < Password::MIN_SCORE {
            return Err(
                FieldError::new(self.field, too_common(&estimate)).with_code("password_too_common")
            );
        }
        Ok(())
    }
}

/// Why a new password was not stored.
#[derive(Debug, thiserror::Error)]
pub enum NewPasswordError {
    /// It fails the strength policy: the caller's to fix.
    #[error("{0}")]
    Weak(FieldError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// zxcvbn's own advice, which names the weakness but never the password.
fn too_common(estimate: &zxcvbn::Entropy) -> String {
    let mut message = String::from("is too easy to guess");
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            message.push_str(&format!(": {warning}"));
        }
        for suggestion in feedback.suggestions() {
            message.push_str(&format!(" {suggestion}"));
        }
    } else {
        message.push_str(". Add another word or two; uncommon words are better.");
    }
    message
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// An argon2 hash in PHC string format. Secret all the same: it never reaches a
/// log, a cache or an error message.
#[derive(Clone)]
pub struct PasswordHash(SecretString);

impl PasswordHash {
    /// Wraps a PHC string read from storage.
    pub fn from_phc(phc: String) -> Self {
        Self(SecretString::from(phc))
    }

    /// The PHC string, for storage.
    pub fn expose_phc(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

/// Hashes and verifies passwords with argon2id on the blocking thread pool, at
/// most `max_concurrent` at a time, so that a flood of logins queues up instead
/// of starving the async runtime or exhausting memory (each hash takes `m` KiB).
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    params: Params,
    permits: Semaphore,
    /// Work memory (m KiB each), reused across hashes: at most one per permit.
    /// Allocating 19 MiB per hash lets the allocator keep hundreds of MiB of
    /// freed arenas around under load; reusing keeps memory flat.
    memory: Mutex<Vec<Vec<Block>>>,
    /// Verified against when the email is unknown, so the response takes as long
    /// as a real check.
    dummy: String,
}

impl PasswordHasher {
    /// OWASP's recommended argon2id parameters: m = 19 MiB, t = 2, p = 1.
    pub fn owasp() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_params(19_456, 2, 1, threads)
    }

    /// # Panics
    /// On parameters argon2 rejects: a programming error, caught by tests.
    pub fn with_params(m_cost: u32, t_cost: u32, p_cost: u32, max_concurrent: usize) -> Self {
        let params = Params::new(m_cost, t_cost, p_cost, None).expect("valid argon2 parameters");
        let mut inner = HasherInner {
            params,
            permits: Semaphore::new(max_concurrent.max(1)),
            memory: Mutex::new(Vec::new()),
            dummy: String::new(),
        };
        inner.dummy = inner
            .hash_phc(b"codezest-auth dummy password")
            .expect("argon2 hashes a constant password");
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Hashes `password` with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let secret = SecretString::from(password.expose().to_owned());
        let inner = Arc::clone(&self.inner);
        let phc = self
            .run_blocking(move || {
                inner
                    .hash_phc(secret.expose_secret().as_bytes())
                    .map_err(HashError::Argon2)
            })
            .await??;
        Ok(PasswordHash::from_phc(phc))
    }

    /// Judges a new password's strength (with the account's `related` words)
    /// and hashes it: one task on the blocking pool, behind the same permits
    /// as every hash, so neither a flood of sign-ups nor an input built to
    /// be slow to judge can hold the async workers.
    pub async fn hash_new(
        &self,
        new: &NewPassword,
        related: &[&str],
    ) -> Result<PasswordHash, NewPasswordError> {
        let secret = SecretString::from(new.password.expose().to_owned());
        let field = new.field;
        let related: Vec<String> = related.iter().map(|word| (*word).to_owned()).collect();
        let inner = Arc::clone(&self.inner);
        let phc = self
            .run_blocking(move || {
                let new = NewPassword {
                    password: Password(secret),
                    field,
                };
                let related: Vec<&str> = related.iter().map(String::as_str).collect();
                new.judge(&related).map_err(NewPasswordError::Weak)?;
                inner
                    .hash_phc(new.password.expose().as_bytes())
                    .map_err(|e| NewPasswordError::Hash(HashError::Argon2(e)))
            })
            .await??;
        Ok(PasswordHash::from_phc(phc))
    }

    /// Checks `password` against `hash`; with no hash (unknown account, or one
    /// without a password) it checks against a dummy hash and answers `false`, so
    /// both cases cost the same time.
    pub async fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        let secret = SecretString::from(password.expose().to_owned());
        let (phc, real) = match hash {
            Some(hash) => (hash.expose_phc().to_owned(), true),
            None => (self.inner.dummy.clone(), false),
        };
        let inner = Arc::clone(&self.inner);
        let verified = self
            .run_blocking(move || {
                inner
                    .verify_phc(secret.expose_secret().as_bytes(), &phc)
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "stored password hash cannot be checked");
                        false
                    })
            })
            .await;
        matches!(verified, Ok(true)) && real
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .instrument(tracing::debug_span!("argon2_queue"))
            .await
            .map_err(|_| HashError::Closed)?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(HashError::Task)
    }
}

impl HasherInner {
    /// Runs `work` with `blocks` KiB of argon2 memory, reusing a pooled buffer.
    fn with_memory<T>(&self, blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        let pooled = self
            .memory
            .lock()
            .map(|mut pool| pool.pop())
            .unwrap_or(None);
        let mut memory = pooled
            .filter(|m| m.len() == blocks)
            .unwrap_or_else(|| vec![Block::default(); blocks]);
        let result = work(&mut memory);
        // Keep only buffers of the current parameters; old hashes with other
        // parameters allocate (and free) their own.
        if blocks == self.params.block_count()
            && let Ok(mut pool) = self.memory.lock()
        {
            pool.push(memory);
        }
        result
    }

    /// Hashes with the configured parameters and a random salt, in PHC format.
    fn hash_phc(&self, password: &[u8]) -> Result<String, argon2::Error> {
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_buf = [0_u8; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_buf)
            .map_err(|_| argon2::Error::SaltTooShort)?;
        let mut out = [0_u8; 32];
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        self.with_memory(self.params.block_count(), |memory| {
            argon.hash_password_into_with_memory(password, salt_bytes, &mut out, memory)
        })?;
        let output = Output::new(&out).map_err(|_| argon2::Error::OutputTooShort)?;
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}${}${output}",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
            salt.as_str()
        ))
    }

    /// Checks `password` against a PHC string, with the parameters stored in it,
    /// comparing in constant time.
    fn verify_phc(&self, password: &[u8], phc: &str) -> Result<bool, String> {
        let parsed = PhcString::new(phc).map_err(|e| e.to_string())?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err("PHC string lacks a salt or a hash".to_owned());
        };
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
        let mut salt_buf = [0_u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| e.to_string())?;
        let mut out = vec![0_u8; expected.len()];
        let argon = Argon2::new(algorithm, version, params.clone());
        self.with_memory(params.block_count(), |memory| {
            argon.hash_password_into_with_memory(password, salt_bytes, &mut out, memory)
        })
        .map_err(|e| e.to_string())?;
        let computed = Output::new(&out).map_err(|e| e.to_string())?;
        // `Output`'s equality is constant-time.
        Ok(computed == expected)
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.inner.params.m_cost())
            .field("t_cost", &self.inner.params.t_cost())
            .field("p_cost", &self.inner.params.p_cost())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::strength::{JUDGED_CHARS, MAX_L33T_COMBINATIONS, is_l33t, l33t_combinations};
    use super::*;
    use proptest::prelude::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::with_params(256, 1, 1, 2)
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = cheap();
        let password = Password::presented("correct horse battery".into()).unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.expose_phc().starts_with("$argon2id$"));
        assert!(hasher.verify(&password, Some(&hash)).await);
        let wrong = Password::presented("correct horse battery!".into()).unwrap();
        assert!(!hasher.verify(&wrong, Some(&hash)).await);
        // Unknown account: checks against the dummy and says no.
        assert!(!hasher.verify(&password, None).await);
    }

    #[tokio::test]
    async fn long_unicode_passwords_are_not_truncated() {
        let hasher = cheap();
        let base = "ü".repeat(127);
        let a = Password::presented(format!("{base}a")).unwrap();
        let b = Password::presented(format!("{base}b")).unwrap();
        let hash = hasher.hash(&a).await.unwrap();
        assert!(!hasher.verify(&b, Some(&hash)).await);
    }

    #[tokio::test]
    async fn compatible_with_the_reference_implementation() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = cheap();
        let password = Password::presented("interoperable!".into()).unwrap();
        let ours = hasher.hash(&password).await.unwrap();
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 1, 1, None).unwrap(),
        );
        let parsed = PhcString::new(ours.expose_phc()).unwrap();
        assert!(
            reference
                .verify_password(b"interoperable!", &parsed)
                .is_ok()
        );
        // A hash made elsewhere, with other parameters, verifies here too.
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(512, 2, 1, None).unwrap(),
        )
        .hash_password(b"interoperable!", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(
            hasher
                .verify(&password, Some(&PasswordHash::from_phc(other.clone())))
                .await
        );
        let wrong = Password::presented("interoperable?".into()).unwrap();
        assert!(
            !hasher
                .verify(&wrong, Some(&PasswordHash::from_phc(other)))
                .await
        );
        // Garbage in storage is a failed check, not a panic.
        assert!(
            !hasher
                .verify(&password, Some(&PasswordHash::from_phc("garbage".into())))
                .await
        );
    }

    #[test]
    fn owasp_parameters() {
        let hasher = PasswordHasher::owasp();
        let debug = format!("{hasher:?}");
        assert!(debug.contains("m_cost: 19456") && debug.contains("t_cost: 2"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let password = Password::presented("hunter2hunter2".into()).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
        let hash = PasswordHash::from_phc("$argon2id$v=19$m=1,t=1,p=1$abc$def".into());
        assert!(!format!("{hash:?}").contains("argon2id"));
    }

    fn refusal(raw: &str, related: &[&str]) -> Option<FieldError> {
        Password::parse(raw.into(), "new_password")
            .and_then(|new| new.judge(related))
            .err()
    }

    #[test]
    fn common_and_patterned_passwords_are_refused_with_advice() {
        for weak in [
            "password123",
            "Passw0rd!",
            "qwertyuiop",
            "aaaaaaaaaaaa",
            "12345678",
            "iloveyou1",
            "abcdefgh",
        ] {
            let error = refusal(weak, &[]).unwrap_or_else(|| panic!("{weak} passed"));
            assert_eq!(error.code, Some("password_too_common"), "{weak}");
            assert_eq!(error.field, "new_password");
            assert!(
                error.message.starts_with("is too easy to guess"),
                "{}",
                error.message
            );
            assert!(
                !error.message.contains(weak),
                "the message repeats the password"
            );
        }
        assert!(
            refusal("password123", &[])
                .unwrap()
                .message
                .contains("very common password")
        );
    }

    #[test]
    fn passphrases_and_random_strings_pass() {
        for strong in [
            "correct horse battery staple",
            "a completely different passphrase",
            "hunter2 hunter2",
            "aB3$xY7!kq",
            "pässwörd-🔐-密码-",
        ] {
            assert_eq!(refusal(strong, &[]), None, "{strong}");
        }
    }

    #[test]
    fn related_words_weaken_a_password() {
        let own = "zephyrine.k";
        assert_eq!(refusal(own, &[]), None);
        let error = refusal(own, &["zephyrine@example.com", "Zephyrine Kowalski"]).unwrap();
        assert_eq!(error.code, Some("password_too_common"));
    }

    #[test]
    fn length_is_checked_before_strength() {
        let short = refusal("aaa", &[]).unwrap();
        assert_eq!(
            (short.message.as_str(), short.code),
            ("must be at least 8 characters", None)
        );
        let long = refusal(&"x".repeat(129), &[]).unwrap();
        assert_eq!(long.message, "must be at most 128 characters");
    }

    /// The probe's CPU sink and its relatives: inputs dense in l33t symbols,
    /// up to the longest allowed. What zxcvbn is given stays within both
    /// bounds (and the raw inputs are far beyond them); the judgement itself
    /// still works on them.
    #[test]
    fn adversarial_inputs_are_judged_within_the_bounds() {
        let every_symbol = "4@8({[<3691!|70$5+%2";
        let inputs = [
            every_symbol.chars().cycle().take(128).collect::<String>(),
            "1|7!".chars().cycle().take(128).collect(),
            "[{(<".chars().cycle().take(128).collect(),
            "a1b|c7d(e{f[g<h".chars().cycle().take(128).collect(),
            "$|7<9@(<[9{$$%72$227%+%@61$252[$1"
                .chars()
                .cycle()
                .take(128)
                .collect(),
        ];
        let distinct_l33t = |s: &str| -> Vec<char> {
            let mut seen: Vec<char> = s.chars().filter(|c| is_l33t(*c)).collect();
            seen.sort_unstable();
            seen.dedup();
            seen
        };
        assert!(l33t_combinations(&distinct_l33t(&inputs[0])) > 500);
        for input in &inputs {
            let judged = judged_form(input);
            assert!(judged.chars().count() <= JUDGED_CHARS);
            assert!(l33t_combinations(&distinct_l33t(&judged)) <= MAX_L33T_COMBINATIONS);
            // Judged, whatever the verdict: no panic, a field error at worst.
            let _ = refusal(input, &["someone@example.com"]);
        }
        assert_eq!(refusal(&inputs[0], &[]), None, "a symbol soup is strong");
        // Passwords within the bounds are judged as they are.
        assert_eq!(judged_form("P@55w0rd!"), "P@55w0rd!");
        assert!(refusal("P@55w0rd!", &[]).is_some());
        assert!(refusal("p4$$w0rd1", &[]).is_some());
    }

    #[tokio::test]
    async fn a_new_password_is_judged_and_hashed_on_the_blocking_pool() {
        let hasher = cheap();
        let weak = Password::parse("password123".into(), "password").unwrap();
        let refused = hasher.hash_new(&weak, &[]).await.unwrap_err();
        assert!(matches!(refused, NewPasswordError::Weak(e) if e.field == "password"));
        let own = Password::parse("zephyrine.k".into(), "new_password").unwrap();
        assert!(
            hasher
                .hash_new(&own, &["zephyrine@example.com"])
                .await
                .is_err()
        );
        let hash = hasher.hash_new(&own, &[]).await.unwrap();
        assert!(hasher.verify(own.password(), Some(&hash)).await);
    }

    proptest! {
        #[test]
        fn length_policy_counts_characters(raw in "\\PC{0,200}") {
            let chars = raw.chars().count();
            let parsed = Password::parse(raw, "password").and_then(|new| new.judge(&[]));
            if !(8..=128).contains(&chars) {
                prop_assert!(parsed.is_err());
            } else if let Err(error) = parsed {
                prop_assert_eq!(error.code, Some("password_too_common"));
            }
        }
    }
}
