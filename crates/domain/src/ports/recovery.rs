//! Mailed tokens (reset, verification, email change, factor removal), the
//! state changes they authorise, and the mail outbox.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::RepoResult;
use crate::ids::{SessionId, UserId};
use crate::mail::OutgoingMail;
use crate::password::PasswordHash;
use crate::refresh::TokenHash;
use crate::user::{Email, ProviderName, User};

/// What a mailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerify,
    EmailChange,
    /// The link in the notice of a sign-in method added: removes it.
    FactorRemoval,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerify => "email_verify",
            Self::EmailChange => "email_change",
            Self::FactorRemoval => "factor_removal",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::PasswordReset,
            Self::EmailVerify,
            Self::EmailChange,
            Self::FactorRemoval,
        ]
        .into_iter()
        .find(|purpose| purpose.as_str() == raw)
    }
}

/// A mailed token about to be stored (as its hash) with the mail that carries it.
#[derive(Debug, Clone)]
pub struct NewAccountToken {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// The address the token proves: the user's own, or the new one of a change.
    pub email: Email,
    pub expires_at: OffsetDateTime,
    /// The sign-in method a [`TokenPurpose::FactorRemoval`] link removes.
    pub factor: Option<FactorRef>,
}

/// One of a user's second factors, as a removal link names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorRef {
    /// TOTP (with its recovery codes).
    Totp,
    /// A passkey, by its id.
    Passkey(uuid::Uuid),
}

impl FactorRef {
    /// As stored: `totp`, or `passkey:{id}`.
    pub fn to_stored(self) -> String {
        match self {
            Self::Totp => "totp".to_owned(),
            Self::Passkey(id) => format!("passkey:{id}"),
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.split_once(':') {
            None if raw == "totp" => Some(Self::Totp),
            Some(("passkey", id)) => id.parse().ok().map(Self::Passkey),
            _ => None,
        }
    }
}

/// A removal link that was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorRemoved {
    pub user_id: UserId,
    pub email: Email,
    pub factor: FactorRef,
    /// `false` when the factor was gone already (the user removed it).
    pub removed: bool,
    /// Every session it revoked.
    pub revoked: Vec<SessionId>,
}

/// A stored token that is unused and unexpired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToken {
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    pub email: Email,
}

/// A password reset that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    pub user_id: UserId,
    pub email: Email,
    /// Every session it revoked.
    pub revoked: Vec<SessionId>,
    /// On an account whose address was unverified (the reset is the first
    /// proof of the mailbox): the providers unlinked with its factors.
    pub unlinked: Vec<ProviderName>,
}

/// An address verified, or an email change completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfirmed {
    pub user: User,
    /// The address the user had before, when this completed a change.
    pub previous_email: Option<Email>,
    /// On the first verification of the account: every session revoked
    /// (factors and provider links went too) …
    pub revoked: Vec<SessionId>,
    /// … and the providers unlinked.
    pub unlinked: Vec<ProviderName>,
}

/// Mailed tokens and the state changes they authorise. Every method that
/// consumes a token does so atomically with its effect: a token works once even
/// under concurrent use, and nothing is half-applied.
#[async_trait]
pub trait RecoveryRepository: Send + Sync + 'static {
    /// Stores the token, voiding the user's earlier tokens of its purpose, and
    /// queues `mail` in the same transaction.
    async fn issue(&self, token: NewAccountToken, mail: OutgoingMail) -> RepoResult<()>;

    /// Queues a mail on its own (a notice that needs no token).
    async fn enqueue(&self, mail: OutgoingMail) -> RepoResult<()>;

    /// The token if it is unused and unexpired at `now`.
    async fn find(&self, hash: &TokenHash, now: OffsetDateTime)
    -> RepoResult<Option<AccountToken>>;

    /// Spends a reset token of `user_id`, stores the new hash, voids the user's
    /// other reset and email-change links and revokes every session. `None` when the token is no
    /// longer usable (spent concurrently, expired).
    async fn reset_password(
        &self,
        token: &TokenHash,
        user_id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<PasswordReset>>;

    /// Spends a verification or change token: marks the address verified, or
    /// moves the account to the new address (verified) and queues `notice` for
    /// the previous one ([`OutgoingMail::email_changed`]). `None` when the token is not usable, or the address it
    /// proves is no longer the user's. `RepoError::EmailTaken` when the new
    /// address was registered meanwhile.
    async fn confirm_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<EmailConfirmed>>;

    /// Spends a factor-removal token: removes the factor it names (TOTP with
    /// its recovery codes, or the passkey) and revokes every session of the
    /// user, in one transaction. `None` when the token is not usable.
    async fn remove_factor(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<FactorRemoved>>;
}

/// A mail waiting in the outbox, claimed by one sender.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    pub attempts: i32,
    pub mail: OutgoingMail,
}

/// The mail outbox, as the background sender sees it.
#[async_trait]
pub trait MailOutbox: Send + Sync + 'static {
    /// Claims up to `limit` due mails for `lease` (no other sender takes them
    /// meanwhile; a sender that dies lets its lease run out).
    async fn claim(&self, limit: i64, lease: std::time::Duration) -> RepoResult<Vec<QueuedMail>>;

    /// The SMTP server accepted it: marks it sent and erases its body.
    async fn sent(&self, id: i64) -> RepoResult<()>;

    /// It failed: retry at `retry_at`, or give up (`None`) and erase its body.
    async fn failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> RepoResult<()>;

    /// Mails neither sent nor given up on.
    async fn pending(&self) -> RepoResult<i64>;
}
