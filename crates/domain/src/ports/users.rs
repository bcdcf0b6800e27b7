//! Users and their profiles.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::RepoResult;
use crate::ids::{SessionId, UserId};
use crate::password::PasswordHash;
use crate::user::{
    Credentials, DisplayName, Email, NewSession, NewUser, Profile, ProfileUpdate, ProviderName,
    Session, User,
};

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

    /// Replaces the user's roles (already parsed); the user as it now is, so
    /// caches drop both of its keys. `None` when the user does not exist.
    async fn set_roles(&self, id: UserId, roles: &[String]) -> RepoResult<Option<User>>;

    /// Deletes the user with their sessions, profile and OAuth links. Returns
    /// what was removed, so caches can drop every key that named it.
    async fn delete(&self, id: UserId) -> RepoResult<Option<DeletedUser>>;

    /// Disables the user and revokes every active session of theirs in one
    /// transaction, or enables them again. `None` when the user does not exist.
    async fn set_disabled(&self, id: UserId, disabled: bool) -> RepoResult<Option<UserDisabled>>;

    /// One page of the admin listing: newest first, after the cursor.
    async fn list(&self, query: &UserQuery) -> RepoResult<Vec<User>>;
}

/// What disabling or enabling a user touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDisabled {
    pub user: User,
    /// The sessions it revoked (none when enabling).
    pub revoked: Vec<SessionId>,
}

/// A page of users: keyset pagination on the (time-ordered) id, so rows
/// inserted while an admin pages through never shift or repeat a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Lower-cased; users whose address starts with it.
    pub email_prefix: Option<String>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
    /// Only users with an id below this one (the previous page's last).
    pub before: Option<UserId>,
    pub limit: u32,
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
    pub oauth_providers: Vec<ProviderName>,
}

#[async_trait]
pub trait ProfileRepository: Send + Sync + 'static {
    async fn find_by_user(&self, user_id: UserId) -> RepoResult<Option<Profile>>;

    /// Creates or replaces the profile. `None` when the user does not exist.
    async fn upsert(&self, user_id: UserId, update: &ProfileUpdate) -> RepoResult<Option<Profile>>;
}
