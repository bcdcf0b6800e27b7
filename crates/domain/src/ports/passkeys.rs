//! Passkeys: the WebAuthn ceremonies (`webauthn-rs`, in the `passkeys`
//! crate), the stored credentials, and the ceremony state kept between a
//! ceremony's two halves.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use super::RepoResult;
use crate::amr::Amr;
use crate::ids::UserId;
use crate::refresh::TokenHash;
use crate::user::User;

/// A ceremony's first half: the options for the browser, the state to keep.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// `PublicKeyCredentialCreationOptions` or `…RequestOptions`, as JSON.
    pub options: Value,
    /// Opaque to the domain; handed back to finish the ceremony.
    pub state: Value,
}

/// A credential a registration produced.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub credential_id: Vec<u8>,
    /// The implementation's own record (public key, counter, flags).
    pub data: Value,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

/// A successful assertion.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub credential_id: Vec<u8>,
    /// The credential's record after this use (counter, backup state), when it changed.
    pub updated: Option<Value>,
    /// The backup flags as this assertion reports them (eligibility only ever
    /// turns on).
    pub backup_eligible: bool,
    pub backup_state: bool,
}

/// A stored passkey.
#[derive(Debug, Clone)]
pub struct Passkey {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub credential_id: Vec<u8>,
    pub name: String,
    pub data: Value,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl Passkey {
    /// RFC 8176: a synced passkey is a software key, a device-bound one a
    /// hardware key; user verification makes either multi-factor.
    pub fn amr(&self) -> Amr {
        let key = if self.backup_eligible {
            Amr::SWK
        } else {
            Amr::HWK
        };
        key.with(Amr::MFA)
    }
}

/// Why a ceremony failed.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// The browser's answer does not satisfy the ceremony (origin, RP id,
    /// challenge, signature, counter, user verification, …).
    #[error("{0}")]
    Rejected(String),
    /// The implementation failed (state it cannot read, a library error).
    #[error("{0}")]
    Internal(String),
}

/// The WebAuthn ceremonies.
pub trait WebAuthn: Send + Sync + 'static {
    /// Registration of a discoverable credential for `user`, excluding `existing`.
    fn start_registration(
        &self,
        user: &User,
        existing: &[Passkey],
    ) -> Result<Ceremony, CeremonyError>;
    fn finish_registration(
        &self,
        credential: &Value,
        state: &Value,
    ) -> Result<NewCredential, CeremonyError>;
    /// A sign-in where the authenticator names the user (no `allowCredentials`).
    fn start_discoverable(&self) -> Result<Ceremony, CeremonyError>;
    /// The user handle and credential id an assertion names.
    fn identify(&self, credential: &Value) -> Result<(UserId, Vec<u8>), CeremonyError>;
    /// An assertion by one of `passkeys` (the second factor).
    fn start_authentication(&self, passkeys: &[Passkey]) -> Result<Ceremony, CeremonyError>;
    /// Checks an assertion against `state` and the user's `passkeys`.
    fn finish_authentication(
        &self,
        credential: &Value,
        state: &Value,
        passkeys: &[Passkey],
        discoverable: bool,
    ) -> Result<Assertion, CeremonyError>;
}

/// What a stored ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    Login,
    Mfa,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::Mfa => "mfa",
        }
    }
}

/// A stored ceremony, taken (deleted) by the request that finishes it.
#[derive(Debug, Clone)]
pub struct PendingCeremony {
    pub user_id: Option<UserId>,
    pub state: Value,
}

/// Passkeys and ceremonies in storage.
#[async_trait]
pub trait PasskeyRepository: Send + Sync + 'static {
    async fn list(&self, user_id: UserId) -> RepoResult<Vec<Passkey>>;
    /// `RepoError::PasskeyTaken` when the credential is registered already.
    async fn add(&self, passkey: &Passkey) -> RepoResult<()>;
    /// `None` when the user has no such passkey.
    async fn rename(
        &self,
        user_id: UserId,
        id: uuid::Uuid,
        name: &str,
    ) -> RepoResult<Option<Passkey>>;
    async fn delete(&self, user_id: UserId, id: uuid::Uuid) -> RepoResult<bool>;
    /// Records a use: the new record (counter, backup flags) when it changed,
    /// and the flags the assertion reported.
    async fn used(&self, credential_id: &[u8], assertion: &Assertion) -> RepoResult<()>;
    async fn save_ceremony(
        &self,
        id: uuid::Uuid,
        purpose: Purpose,
        user_id: Option<UserId>,
        mfa_token: Option<&TokenHash>,
        state: &Value,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()>;
    /// Deletes and returns an unexpired ceremony of `purpose`.
    async fn take_ceremony(
        &self,
        id: uuid::Uuid,
        purpose: Purpose,
    ) -> RepoResult<Option<PendingCeremony>>;
    /// Deletes and returns the newest unexpired second-factor ceremony of a sign-in.
    async fn take_mfa_ceremony(&self, mfa_token: &TokenHash)
    -> RepoResult<Option<PendingCeremony>>;
    /// Deletes ceremonies expired before `before`.
    async fn purge_ceremonies(&self, before: OffsetDateTime) -> RepoResult<u64>;
}
