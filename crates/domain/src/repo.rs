//! Repository traits: the only way the domain reaches storage. `repo-postgres`
//! implements them on PostgreSQL; `cache-redis` wraps any implementation in a
//! cache that implements them again.
//!
//! Every method that changes data returns what a cache needs to invalidate (the
//! affected ids and emails), so a decorator never has to read before it writes.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::RepoError;
use crate::ids::{SessionId, UserId};
use crate::password::PasswordHash;
use crate::refresh::TokenHash;
use crate::user::{
    Credentials, DisplayName, Email, NewOAuthAccount, NewSession, NewUser, OAuthAccount, Profile,
    ProfileUpdate, RotateOutcome, Session, User,
};

pub type RepoResult<T> = Result<T, RepoError>;

#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    /// Creates the user and their first session in one transaction.
    /// `RepoError::EmailTaken` when the email is registered, in any letter case.
    async fn create_with_session(
        &self,
        user: NewUser,
        session: NewSession,
    ) -> RepoResult<(User, Session)>;

    /// Creates a user with no session (OAuth sign-up, administration).
    async fn create(&self, user: NewUser) -> RepoResult<User>;

    async fn find_by_id(&self, id: UserId) -> RepoResult<Option<User>>;

    async fn find_by_email(&self, email: &Email) -> RepoResult<Option<User>>;

    /// The password hash, read on its own path: never cached, never part of `User`.
    async fn credentials_by_email(&self, email: &Email) -> RepoResult<Option<Credentials>>;

    async fn credentials_by_id(&self, id: UserId) -> RepoResult<Option<Credentials>>;

    /// `None` when the user does not exist.
    async fn update_name(&self, id: UserId, name: &DisplayName) -> RepoResult<Option<User>>;

    /// Replaces the password hash and revokes every other active session of the
    /// user, in one transaction. `None` when the user does not exist.
    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: SessionId,
    ) -> RepoResult<Option<PasswordChanged>>;

    /// Deletes the user with their sessions, profile and OAuth links. Returns
    /// what was removed, so caches can drop every key that named it.
    async fn delete(&self, id: UserId) -> RepoResult<Option<DeletedUser>>;
}

/// What a password change touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChanged {
    pub email: Email,
    /// The other sessions it revoked.
    pub revoked: Vec<SessionId>,
}

/// Everything a user's deletion took with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedUser {
    pub email: Email,
    pub sessions: Vec<SessionId>,
    pub oauth_providers: Vec<String>,
}

#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    async fn create(&self, session: NewSession) -> RepoResult<Session>;

    /// The session, active or not: callers check [`Session::is_active`].
    async fn find_by_id(&self, id: SessionId) -> RepoResult<Option<Session>>;

    /// Active sessions of a user, newest first.
    async fn list_active(&self, user_id: UserId, now: OffsetDateTime) -> RepoResult<Vec<Session>>;

    /// Atomically resolves a presented refresh token (see [`RotateOutcome`]):
    /// `presented` is its hash, `successor` the hash of the token that replaces it,
    /// `grace` how long after a rotation the predecessor still counts as a
    /// concurrent refresh. Two concurrent calls with one token never both rotate.
    async fn rotate(
        &self,
        presented: &TokenHash,
        successor: &TokenHash,
        now: OffsetDateTime,
        grace: time::Duration,
    ) -> RepoResult<RotateOutcome>;

    /// Revokes one active session of `user_id`; `false` when there is none.
    async fn revoke(&self, user_id: UserId, id: SessionId) -> RepoResult<bool>;

    /// Revokes every active session of the user; returns which.
    async fn revoke_all(&self, user_id: UserId) -> RepoResult<Vec<SessionId>>;
}

#[async_trait]
pub trait ProfileRepository: Send + Sync + 'static {
    async fn find_by_user(&self, user_id: UserId) -> RepoResult<Option<Profile>>;

    /// Creates or replaces the profile. `None` when the user does not exist.
    async fn upsert(&self, user_id: UserId, update: &ProfileUpdate) -> RepoResult<Option<Profile>>;
}

#[async_trait]
pub trait OAuthAccountRepository: Send + Sync + 'static {
    /// The link for an external identity: accounts are keyed by (provider, subject),
    /// never by email.
    async fn find_by_subject(
        &self,
        provider: &str,
        subject: &str,
    ) -> RepoResult<Option<OAuthAccount>>;

    async fn find_by_user_and_provider(
        &self,
        user_id: UserId,
        provider: &str,
    ) -> RepoResult<Option<OAuthAccount>>;

    async fn list_for_user(&self, user_id: UserId) -> RepoResult<Vec<OAuthAccount>>;

    /// `RepoError::OAuthAccountTaken` when the identity is linked already, or the
    /// user already has an account at that provider.
    async fn link(&self, account: NewOAuthAccount) -> RepoResult<OAuthAccount>;

    /// `false` when there was no such link.
    async fn unlink(&self, user_id: UserId, provider: &str) -> RepoResult<bool>;
}

/// How a dependency is doing, for `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceStatus {
    Up,
    /// Unreachable, but the service works without it (slower).
    Degraded,
    Down,
    /// Not configured in this build or by configuration.
    Disabled,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub postgres: ServiceStatus,
    pub redis: ServiceStatus,
}

/// Checks the service's dependencies.
#[async_trait]
pub trait ReadinessProbe: Send + Sync + 'static {
    async fn check(&self) -> Readiness;
}
