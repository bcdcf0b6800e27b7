//! Second factors as stored: TOTP, recovery codes, sign-in challenges.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::RepoResult;
use crate::amr::Amr;
use crate::ids::UserId;
use crate::refresh::TokenHash;

/// A user's TOTP factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTotp {
    /// The secret sealed under `MFA_ENCRYPTION_KEY` (see `mfa::MfaKey`).
    pub sealed: Vec<u8>,
    /// `false` while set-up waits for its first correct code.
    pub confirmed: bool,
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub user_id: UserId,
    /// How the first factor was passed.
    pub amr: Amr,
}

/// Second factors: TOTP secrets, recovery codes, and the sign-ins waiting for
/// one. Each method that spends something (a code's step, a recovery code, a
/// challenge) does so atomically: under concurrent use it works once.
#[async_trait]
pub trait MfaRepository: Send + Sync + 'static {
    /// The user's TOTP factor, confirmed or pending.
    async fn totp(&self, user_id: UserId) -> RepoResult<Option<StoredTotp>>;

    /// Stores a pending secret, replacing an earlier pending one; `false` when
    /// the user has a confirmed factor already.
    async fn begin_totp(&self, user_id: UserId, sealed: &[u8]) -> RepoResult<bool>;

    /// Confirms the pending factor, records `step` as used and replaces the
    /// recovery codes with `codes`, in one transaction; `false` when nothing
    /// was pending.
    async fn confirm_totp(
        &self,
        user_id: UserId,
        step: i64,
        codes: &[[u8; 32]],
    ) -> RepoResult<bool>;

    /// Records `step` as used unless a step at or after it was: `false` for a
    /// replayed code.
    async fn use_totp_step(&self, user_id: UserId, step: i64) -> RepoResult<bool>;

    /// Removes the TOTP factor and the recovery codes; `false` when there was none.
    async fn disable_totp(&self, user_id: UserId) -> RepoResult<bool>;

    /// Spends one unused recovery code; `false` when there is none with that digest.
    async fn use_recovery_code(&self, user_id: UserId, hash: &[u8; 32]) -> RepoResult<bool>;

    /// Replaces every recovery code of the user.
    async fn replace_recovery_codes(&self, user_id: UserId, codes: &[[u8; 32]]) -> RepoResult<()>;

    /// Unused recovery codes.
    async fn recovery_codes_left(&self, user_id: UserId) -> RepoResult<i64>;

    /// Stores a challenge under `hash`, dropping the user's expired ones.
    async fn create_challenge(
        &self,
        hash: &TokenHash,
        challenge: &MfaChallenge,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()>;

    /// The challenge if it exists and is unexpired at `now`.
    async fn find_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<MfaChallenge>>;

    /// Spends one of the challenge's attempts before a factor is judged, in
    /// one conditional statement: the challenge if it is unexpired at `now`
    /// and had fewer than `max_attempts`; `None` otherwise.
    async fn attempt_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_attempts: i32,
    ) -> RepoResult<Option<MfaChallenge>>;

    /// Removes every second factor of the user (passkeys, TOTP, recovery
    /// codes, pending challenges): an administrator's answer to factors a
    /// thief added. Returns how many factors went.
    async fn remove_all_factors(&self, user_id: UserId) -> RepoResult<u64>;

    /// Deletes the challenge: `true` for the one caller that took it.
    async fn take_challenge(&self, hash: &TokenHash) -> RepoResult<bool>;

    /// Deletes challenges expired before `before`; returns how many.
    async fn purge_challenges(&self, before: OffsetDateTime) -> RepoResult<u64>;
}
