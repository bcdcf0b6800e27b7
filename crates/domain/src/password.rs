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
mod tests;
