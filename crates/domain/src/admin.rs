//! The admin API's operations (role `admin`): find users, look at one,
//! disable, enable, delete, end their sessions, set their roles. Every change
//! is audited with the acting admin, and reaches every instance at once (the
//! cached user and sessions are invalidated).

use std::sync::Arc;

use time::OffsetDateTime;

use crate::audit::{Audit, AuditKind, Outcome};
use crate::auth::{AuthService, Principal};
use crate::client_info::ClientInfo;
use crate::error::{AuthError, Resource};
use crate::ids::UserId;
use crate::ports::{AuditLog, MfaRepository, ProfileRepository, SessionRepository, UserRepository};
use crate::ports::{OAuthAccountRepository, UserQuery};
use crate::ports::{Passkey, PasskeyRepository};
use crate::roles::ADMIN;
use crate::user::{OAuthAccount, Profile, Session, User, parse_roles};
use crate::validation::ValidationErrors;

/// The largest page of the user listing.
pub const MAX_PAGE: u32 = 100;

/// One user as an admin sees them.
#[derive(Debug)]
pub struct UserDetail {
    pub user: User,
    pub profile: Option<Profile>,
    /// Active sessions, newest first.
    pub sessions: Vec<Session>,
    pub oauth_accounts: Vec<OAuthAccount>,
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: Vec<Passkey>,
}

/// A page of the listing; `next` is the cursor of the following page.
#[derive(Debug)]
pub struct UserPage {
    pub users: Vec<User>,
    pub next: Option<UserId>,
}

/// An admin, checked: what every admin operation takes, so none can run for
/// someone who is not one.
#[derive(Debug, Clone, Copy)]
pub struct Admin {
    pub user_id: UserId,
}

/// The storage [`AdminService`] reaches.
pub struct AdminPorts {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub profiles: Arc<dyn ProfileRepository>,
    pub mfa: Arc<dyn MfaRepository>,
    pub oauth_accounts: Arc<dyn OAuthAccountRepository>,
    pub passkeys: Arc<dyn PasskeyRepository>,
    pub audit_log: Arc<dyn AuditLog>,
}

pub struct AdminService {
    auth: Arc<AuthService>,
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    profiles: Arc<dyn ProfileRepository>,
    mfa: Arc<dyn MfaRepository>,
    oauth_accounts: Arc<dyn OAuthAccountRepository>,
    passkeys: Arc<dyn PasskeyRepository>,
    audit: Audit,
}

impl AdminService {
    pub fn new(auth: Arc<AuthService>, ports: AdminPorts) -> Self {
        let AdminPorts {
            users,
            sessions,
            profiles,
            mfa,
            oauth_accounts,
            passkeys,
            audit_log,
        } = ports;
        Self {
            auth,
            users,
            sessions,
            profiles,
            mfa,
            oauth_accounts,
            passkeys,
            audit: Audit::new(audit_log),
        }
    }

    /// The principal's user has the `admin` role *now* (the cached user, which a
    /// role change invalidates everywhere; not the token's `roles`, which only
    /// change at the next refresh): 403 `forbidden` otherwise.
    pub async fn admin(&self, principal: &Principal) -> Result<Admin, AuthError> {
        let user = self.auth.user(principal).await?;
        if !user.has_role(ADMIN) {
            return Err(AuthError::Forbidden(ADMIN));
        }
        Ok(Admin { user_id: user.id })
    }

    /// Newest first; `query.limit` is clamped to 1..=[`MAX_PAGE`].
    pub async fn list_users(&self, _: Admin, mut query: UserQuery) -> Result<UserPage, AuthError> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        // One more than asked: whether a next page exists, without a count.
        query.limit = limit + 1;
        let mut users = self.users.list(&query).await?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let next = if more {
            users.last().map(|u| u.id)
        } else {
            None
        };
        Ok(UserPage { users, next })
    }

    pub async fn user(&self, _: Admin, id: UserId) -> Result<UserDetail, AuthError> {
        let user = self.find(id).await?;
        let profile = self.profiles.find_by_user(id).await?;
        let sessions = self
            .sessions
            .list_active(id, OffsetDateTime::now_utc())
            .await?;
        let oauth_accounts = self.oauth_accounts.list_for_user(id).await?;
        let totp = self.mfa.totp(id).await?.is_some_and(|t| t.confirmed);
        let recovery_codes_left = self.mfa.recovery_codes_left(id).await?;
        let passkeys = self.passkeys.list(id).await?;
        Ok(UserDetail {
            user,
            profile,
            sessions,
            oauth_accounts,
            totp,
            recovery_codes_left,
            passkeys,
        })
    }

    /// Disables the user and revokes every session of theirs, at once on every
    /// instance; their next sign-in answers `account_disabled`.
    pub async fn disable(
        &self,
        admin: Admin,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        not_self(admin, id)?;
        self.set_disabled(admin, id, true, client).await
    }

    /// Lets a disabled user sign in again (no session comes back).
    pub async fn enable(
        &self,
        admin: Admin,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.set_disabled(admin, id, false, client).await
    }

    async fn set_disabled(
        &self,
        admin: Admin,
        id: UserId,
        disabled: bool,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let changed = self
            .users
            .set_disabled(id, disabled)
            .await?
            .ok_or(AuthError::NotFound(Resource::User))?;
        let event = if disabled {
            AuditKind::UserDisabled
        } else {
            AuditKind::UserEnabled
        };
        self.audited(event, admin, id, client).await;
        tracing::info!(user_id = %id, disabled, revoked = changed.revoked.len(), "user disabled or enabled");
        Ok(())
    }

    /// Deletes the user with everything of theirs.
    pub async fn delete(
        &self,
        admin: Admin,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        not_self(admin, id)?;
        self.users
            .delete(id)
            .await?
            .ok_or(AuthError::NotFound(Resource::User))?;
        self.audited(AuditKind::UserDeleted, admin, id, client)
            .await;
        tracing::info!(user_id = %id, "user deleted by an admin");
        Ok(())
    }

    /// Ends every session of the user (they can sign in again).
    pub async fn revoke_sessions(
        &self,
        admin: Admin,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        self.find(id).await?;
        let revoked = self.sessions.revoke_all(id).await?;
        self.audited(AuditKind::SessionsRevoked, admin, id, client)
            .await;
        tracing::info!(user_id = %id, revoked = revoked.len(), "sessions revoked by an admin");
        Ok(revoked.len())
    }

    /// Removes every second factor of the user (passkeys, TOTP, recovery
    /// codes): the way back for an owner stuck behind a factor someone else
    /// added. Returns how many went; the user signs in with the password and
    /// may add their own again.
    pub async fn remove_factors(
        &self,
        admin: Admin,
        id: UserId,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        self.find(id).await?;
        let removed = self.mfa.remove_all_factors(id).await?;
        self.audited(AuditKind::FactorsRemoved, admin, id, client)
            .await;
        tracing::info!(user_id = %id, removed, "second factors removed by an admin");
        Ok(removed)
    }

    /// Replaces the user's roles. An admin cannot take `admin` from themself
    /// (someone else must), so the last admin cannot lock everyone out.
    pub async fn set_roles(
        &self,
        admin: Admin,
        id: UserId,
        roles: &[String],
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let roles = parse_roles(roles).map_err(ValidationErrors::from)?;
        if admin.user_id == id && !roles.iter().any(|r| r == ADMIN) {
            return Err(AuthError::SelfAdministration);
        }
        let user = self
            .users
            .set_roles(id, &roles)
            .await?
            .ok_or(AuthError::NotFound(Resource::User))?;
        self.audited(AuditKind::RolesSet, admin, id, client).await;
        tracing::info!(user_id = %id, roles = ?user.roles, "roles set by an admin");
        Ok(user)
    }

    async fn find(&self, id: UserId) -> Result<User, AuthError> {
        self.users
            .find_by_id(id)
            .await?
            .ok_or(AuthError::NotFound(Resource::User))
    }

    async fn audited(&self, event: AuditKind, admin: Admin, id: UserId, client: &ClientInfo) {
        self.audit
            .record_by(
                event,
                Outcome::Success,
                Some(id),
                Some(admin.user_id),
                client,
            )
            .await;
    }
}

/// An admin may not disable or delete themself.
fn not_self(admin: Admin, id: UserId) -> Result<(), AuthError> {
    if admin.user_id == id {
        return Err(AuthError::SelfAdministration);
    }
    Ok(())
}
