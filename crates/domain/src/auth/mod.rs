//! The auth services: register, login, refresh, logout, the authenticated
//! principal, sessions, profile and password changes.

mod browser;
mod introspection;
mod registration;
mod roles;
mod signin;

pub use browser::PageSecret;
pub use registration::Registration;

use std::sync::Arc;

use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use crate::amr::Amr;
use crate::audit::{Audit, AuditKind, Outcome};
use crate::client_info::ClientInfo;
use crate::error::{AuthError, Denial, Resource};
use crate::ids::{ClientId, SessionId, UserId};
use crate::password::{NewPassword, Password, PasswordHasher};
use crate::ports::{Attempt, LockoutPolicy, Throttle};
use crate::ports::{AuditLog, VerifiedTokens};
use crate::ports::{MfaRepository, ProfileRepository, SessionRepository, UserRepository};
use crate::refresh::{RefreshToken, RefreshTokens};
use crate::signin::SignIn;
use crate::throttle::{MemoryThrottle, client_key};
use crate::tokens::AccessTokens;
use crate::user::{
    ClientSession, DisplayName, Email, NewSession, Profile, ProfileUpdate, RotateOutcome, Session,
    User,
};

/// Lifetimes and windows of the token scheme.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    /// Absolute lifetime of a session (and so of its refresh tokens).
    pub refresh_ttl: time::Duration,
    /// How long after a rotation the predecessor token still counts as a
    /// concurrent refresh rather than theft.
    pub reuse_grace: time::Duration,
    /// How recent a sign-in the sensitive operations (password or email
    /// change, account deletion) need; refreshing does not renew it.
    pub step_up_max_age: time::Duration,
}

/// A verified access token whose session is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// When the session's user signed in (the session's creation; refreshing
    /// keeps it).
    pub signed_in_at: OffsetDateTime,
    /// `Some` when the token was issued to a relying party.
    pub client: Option<ClientSession>,
}

/// The result of every flow that signs someone in.
#[derive(Debug)]
pub struct Authenticated {
    pub access_token: String,
    pub refresh_token: RefreshToken,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: User,
    pub profile: Option<Profile>,
}

/// The storage the auth services reach.
pub struct AuthPorts {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub profiles: Arc<dyn ProfileRepository>,
    pub audit_log: Arc<dyn AuditLog>,
    pub mfa: Arc<dyn MfaRepository>,
}

pub struct AuthService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    profiles: Arc<dyn ProfileRepository>,
    mfa: Arc<dyn MfaRepository>,
    hasher: PasswordHasher,
    audit: Audit,
    tokens: Arc<AccessTokens>,
    verified: Option<Arc<dyn VerifiedTokens>>,
    throttle: Arc<dyn Throttle>,
    lockout: LockoutPolicy,
    /// Whether passkeys are configured (offered as a second factor).
    passkeys_enabled: bool,
    refresh: RefreshTokens,
    /// Browser-session cookies and the pages' anti-forgery tokens.
    browser: browser::BrowserKeys,
    settings: AuthSettings,
}

pub(crate) const SESSION_EXPIRED: AuthError = AuthError::Denied(Denial::SessionEnded);
const BAD_REFRESH: AuthError = AuthError::Denied(Denial::BadRefresh);

impl AuthService {
    pub fn new(
        ports: AuthPorts,
        hasher: PasswordHasher,
        tokens: Arc<AccessTokens>,
        settings: AuthSettings,
    ) -> Self {
        let refresh = RefreshTokens::from_key_material(tokens.signer().primary_material());
        let browser = browser::BrowserKeys::from_key_material(tokens.signer().primary_material());
        let AuthPorts {
            users,
            sessions,
            profiles,
            audit_log,
            mfa,
        } = ports;
        Self {
            users,
            sessions,
            profiles,
            mfa,
            audit: Audit::new(audit_log),
            hasher,
            tokens,
            verified: None,
            throttle: Arc::new(MemoryThrottle::default()),
            lockout: LockoutPolicy::default(),
            passkeys_enabled: false,
            refresh,
            browser,
            settings,
        }
    }

    /// Remembers verified access tokens so a token presented again is not
    /// verified from scratch (its expiry and session are still checked).
    pub fn with_verified_tokens(mut self, cache: Arc<dyn VerifiedTokens>) -> Self {
        self.verified = Some(cache);
        self
    }

    /// Where failed sign-ins are counted (shared by every instance when it is
    /// Redis-backed), and when they lock. Without this: in process, defaults.
    pub fn with_lockout(mut self, throttle: Arc<dyn Throttle>, lockout: LockoutPolicy) -> Self {
        self.throttle = throttle;
        self.lockout = lockout;
        self
    }

    /// Where work done after an answer runs (a failed sign-in's audit
    /// record), so a graceful shutdown waits for it.
    pub fn with_tasks(mut self, tasks: tokio_util::task::TaskTracker) -> Self {
        self.audit = self.audit.with_tasks(tasks);
        self
    }

    /// Passkeys are configured: offer them as a second factor.
    pub fn with_passkeys(mut self, enabled: bool) -> Self {
        self.passkeys_enabled = enabled;
        self
    }

    /// Issues and verifies access tokens; its signer publishes the JWKS.
    pub fn access_tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// Checks a signed-in user's password (for changes that require it).
    pub(crate) async fn check_password(
        &self,
        user_id: UserId,
        presented: String,
    ) -> Result<(), AuthError> {
        let presented = Password::presented(presented).ok_or(AuthError::InvalidCredentials)?;
        let credentials = self.users.credentials_by_id(user_id).await?;
        let hash = credentials.as_ref().and_then(|c| c.password_hash.as_ref());
        if self.hasher.verify(&presented, hash).await {
            Ok(())
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    pub(crate) fn new_session(
        &self,
        user_id: UserId,
        amr: Amr,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> (NewSession, RefreshToken) {
        let token = self.refresh.issue();
        let session = NewSession {
            id: SessionId::new(),
            user_id,
            refresh_token_hash: token.hash(),
            expires_at: now + self.settings.refresh_ttl,
            user_agent: client.user_agent.clone(),
            ip: client.ip,
            amr,
            client: None,
        };
        (session, token)
    }

    /// Checks a password and opens a session, or asks for the second factor.
    /// Unknown email and wrong password fail alike, in status, body and time.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let password = Password::presented(password).ok_or(AuthError::InvalidCredentials)?;
        // Keyed on the account *and* the client: an attacker elsewhere cannot
        // lock the owner out of their own device.
        let lock_key = lockout_key(email, client);
        // Counted before the password is judged, so concurrent guesses cannot
        // all pass a check made before any of them was recorded.
        let lock = match self.throttle.attempt(&lock_key, self.lockout).await {
            Attempt::Locked(retry_after) => {
                event("login", "locked");
                return Err(AuthError::AccountLocked { retry_after });
            }
            Attempt::Allowed { lock } => lock,
        };
        let credentials = match Email::parse(email) {
            Ok(email) => self.users.credentials_by_email(&email).await?,
            Err(_) => None,
        };
        let hash = credentials.as_ref().and_then(|c| c.password_hash.as_ref());
        if !self.hasher.verify(&password, hash).await {
            tracing::info!("login failed");
            event("login", FAILURE);
            let user_id = credentials.map(|c| c.user_id);
            if user_id.is_some() {
                self.audit
                    .detached(AuditKind::Login, Outcome::Failure, user_id, client);
            }
            if let Some(lock) = lock {
                tracing::warn!(
                    lock_secs = lock.as_secs(),
                    "sign-ins to an account locked for a client"
                );
                event("lockout", "locked");
                if user_id.is_some() {
                    self.audit
                        .detached(AuditKind::LoginLockout, Outcome::Locked, user_id, client);
                }
            }
            return Err(AuthError::InvalidCredentials);
        }
        let credentials = credentials.ok_or(AuthError::InvalidCredentials)?;
        self.throttle.clear_failures(&lock_key).await;
        let user_id = credentials.user_id;
        if credentials.disabled {
            event("login", "disabled");
            self.audit
                .record(AuditKind::Login, Outcome::Disabled, Some(user_id), client)
                .await;
            return Err(AuthError::AccountDisabled);
        }
        let signed_in = self
            .sign_in(user_id, credentials.mfa, Amr::PWD, client)
            .await;
        let outcome = SignIn::outcome_of(&signed_in);
        event("login", outcome.name());
        self.audit
            .record(AuditKind::Login, outcome, Some(user_id), client)
            .await;
        signed_in
    }

    /// Rotates a refresh token: the presented one is spent and its successor
    /// returned. A spent token presented again revokes the session, unless it is
    /// the immediate predecessor arriving inside the grace window (a concurrent
    /// refresh), which is answered with the same successor.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<Authenticated, AuthError> {
        let now = OffsetDateTime::now_utc();
        let (session, successor, user) = self.rotate_refresh(presented, None, client, now).await?;
        let profile = self.profiles.find_by_user(user.id).await?;
        event("refresh", SUCCESS);
        self.tokens_for(&session, successor, user, profile, now)
    }

    /// Spends a refresh token of `owner`'s (`None`: the platform's own front
    /// end; a relying party's otherwise) and returns its session, successor
    /// and (enabled) user. Reuse revokes the session and what was opened
    /// from it.
    pub(crate) async fn rotate_refresh(
        &self,
        presented: &str,
        owner: Option<ClientId>,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<(Session, RefreshToken, User), AuthError> {
        let presented = RefreshToken::parse(presented).ok_or(BAD_REFRESH)?;
        let successor = self.refresh.successor(&presented);
        let outcome = self
            .sessions
            .rotate(
                &presented.hash(),
                &successor.hash(),
                now,
                self.settings.reuse_grace,
                owner,
            )
            .await?;
        let session = match outcome {
            RotateOutcome::Rotated(session) => session,
            RotateOutcome::Grace(session) => {
                tracing::info!(session_id = %session.id, "concurrent refresh inside the grace window");
                session
            }
            RotateOutcome::Reused {
                session_id,
                user_id,
                ..
            } => {
                tracing::warn!(%session_id, %user_id, "refresh token reuse detected; session revoked");
                event("token_reuse", "detected");
                event("refresh", FAILURE);
                self.audit
                    .record(
                        AuditKind::RefreshTokenReuse,
                        Outcome::Detected,
                        Some(user_id),
                        client,
                    )
                    .await;
                return Err(AuthError::TokenReused);
            }
            RotateOutcome::Inactive | RotateOutcome::NotFound => {
                event("refresh", FAILURE);
                return Err(BAD_REFRESH);
            }
        };
        let user = self
            .users
            .find_by_id(session.user_id)
            .await?
            .filter(|user| !user.disabled)
            .ok_or(BAD_REFRESH)?;
        Ok((session, successor, user))
    }

    /// A session by id (through the cache), active or not.
    pub(crate) async fn session(&self, id: SessionId) -> Result<Option<Session>, AuthError> {
        Ok(self.sessions.find_by_id(id).await?)
    }

    /// A fresh refresh token (a relying party's session's first).
    pub(crate) fn new_refresh_token(&self) -> RefreshToken {
        self.refresh.issue()
    }

    /// Verifies an access token and checks that its session is still active, so
    /// logout and revocation take effect at once.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthError> {
        let token = self
            .tokens
            .verify_cached(access_token, self.verified.as_deref())?;
        let session = self
            .sessions
            .find_by_id(token.session_id)
            .await?
            .ok_or(SESSION_EXPIRED)?;
        if session.user_id != token.user_id || !session.is_active(OffsetDateTime::now_utc()) {
            return Err(SESSION_EXPIRED);
        }
        Ok(Principal {
            user_id: session.user_id,
            session_id: session.id,
            signed_in_at: session.created_at,
            client: session.client,
        })
    }

    /// Step-up: refuses a sensitive operation on a session whose sign-in is
    /// older than `step_up_max_age`.
    pub fn require_recent_sign_in(&self, principal: &Principal) -> Result<(), AuthError> {
        let max_age = self.settings.step_up_max_age;
        if OffsetDateTime::now_utc() - principal.signed_in_at > max_age {
            event("step_up", FAILURE);
            return Err(AuthError::ReauthenticationRequired { max_age });
        }
        Ok(())
    }

    /// The signed-in user with their profile.
    pub async fn me(&self, principal: &Principal) -> Result<(User, Option<Profile>), AuthError> {
        let user = self.user(principal).await?;
        let profile = self.profiles.find_by_user(principal.user_id).await?;
        Ok((user, profile))
    }

    /// The signed-in user, if their address is verified: what adding a
    /// sign-in method or a provider link needs (pre-account hijacking: an
    /// address registered by someone else must not carry their way in).
    pub(crate) async fn verified_user(&self, principal: &Principal) -> Result<User, AuthError> {
        let user = self.user(principal).await?;
        if !user.email_verified {
            event("factor_add", "email_not_verified");
            return Err(AuthError::EmailNotVerified);
        }
        Ok(user)
    }

    /// The signed-in user alone (forward-auth's identity, without the profile).
    /// A disabled user's sessions were revoked with the change; one opened in a
    /// race with it still gets nothing.
    pub async fn user(&self, principal: &Principal) -> Result<User, AuthError> {
        self.users
            .find_by_id(principal.user_id)
            .await?
            .filter(|user| !user.disabled)
            .ok_or(SESSION_EXPIRED)
    }

    pub async fn logout(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.sessions
            .revoke(principal.user_id, principal.session_id)
            .await?;
        event("logout", SUCCESS);
        self.audit
            .record(
                AuditKind::Logout,
                Outcome::Success,
                Some(principal.user_id),
                client,
            )
            .await;
        tracing::info!(user_id = %principal.user_id, session_id = %principal.session_id, "logged out");
        Ok(())
    }

    pub async fn logout_all(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        let revoked = self.sessions.revoke_all(principal.user_id).await?;
        event("logout_all", SUCCESS);
        self.audit
            .record(
                AuditKind::LogoutAll,
                Outcome::Success,
                Some(principal.user_id),
                client,
            )
            .await;
        tracing::info!(user_id = %principal.user_id, sessions = revoked.len(), "logged out everywhere");
        Ok(revoked.len())
    }

    /// The user's own sessions (applications' sessions are listed as
    /// allowed applications, not here).
    pub async fn list_sessions(&self, principal: &Principal) -> Result<Vec<Session>, AuthError> {
        let mut sessions = self
            .sessions
            .list_active(principal.user_id, OffsetDateTime::now_utc())
            .await?;
        sessions.retain(|session| session.client.is_none());
        Ok(sessions)
    }

    /// Revokes one of the user's own sessions (another device, or this one).
    pub async fn revoke_session(
        &self,
        principal: &Principal,
        id: SessionId,
    ) -> Result<(), AuthError> {
        if !self
            .sessions
            .revoke(principal.user_id, id)
            .await?
            .is_empty()
        {
            tracing::info!(user_id = %principal.user_id, session_id = %id, "session revoked");
            Ok(())
        } else {
            Err(AuthError::NotFound(Resource::Session))
        }
    }

    pub async fn update_name(
        &self,
        principal: &Principal,
        name: &DisplayName,
    ) -> Result<(User, Option<Profile>), AuthError> {
        let user = self
            .users
            .update_name(principal.user_id, name)
            .await?
            .ok_or(SESSION_EXPIRED)?;
        let profile = self.profiles.find_by_user(principal.user_id).await?;
        Ok((user, profile))
    }

    pub async fn update_profile(
        &self,
        principal: &Principal,
        update: &ProfileUpdate,
    ) -> Result<(User, Option<Profile>), AuthError> {
        let profile = self
            .profiles
            .upsert(principal.user_id, update)
            .await?
            .ok_or(SESSION_EXPIRED)?;
        let user = self
            .users
            .find_by_id(principal.user_id)
            .await?
            .ok_or(SESSION_EXPIRED)?;
        Ok((user, Some(profile)))
    }

    /// Checks the current password, stores the new one and revokes every other
    /// session of the user. The calling session stays signed in.
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: String,
        new: NewPassword,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.require_recent_sign_in(principal)?;
        // The current password is checked next, so equal strings mean the
        // new password is the one the account has.
        let same = bool::from(current.as_bytes().ct_eq(new.password().expose().as_bytes()));
        if let Err(error) = self.check_password(principal.user_id, current).await {
            event("password_change", FAILURE);
            self.audit
                .record(
                    AuditKind::PasswordChange,
                    Outcome::Failure,
                    Some(principal.user_id),
                    client,
                )
                .await;
            return Err(error);
        }
        if same {
            return Err(AuthError::SamePassword);
        }
        let user = self.user(principal).await?;
        let related = [user.email.as_str(), user.name.as_str()];
        let new_hash = self.hasher.hash_new(&new, &related).await?;
        let changed = self
            .users
            .change_password(principal.user_id, &new_hash, principal.session_id)
            .await?
            .ok_or(SESSION_EXPIRED)?;
        event("password_change", SUCCESS);
        self.audit
            .record(
                AuditKind::PasswordChange,
                Outcome::Success,
                Some(principal.user_id),
                client,
            )
            .await;
        tracing::info!(user_id = %principal.user_id, revoked = changed.revoked.len(), "password changed");
        Ok(())
    }
}

/// The lockout key of a sign-in: the address as typed (trimmed, lower-cased,
/// bounded) and the client ([`client_key`]: an IPv6 client by its /64).
fn lockout_key(email: &str, client: &ClientInfo) -> String {
    format!("login:{}:{}", Email::key_of(email), client_key(client.ip))
}

pub(crate) const SUCCESS: &str = "success";
pub(crate) const FAILURE: &str = "failure";

/// Counts an auth event in `auth_events_total{event,outcome}` (the `metrics`
/// facade: a no-op until the binary installs a recorder).
pub fn event(event: &'static str, outcome: &'static str) {
    metrics::counter!("auth_events_total", "event" => event, "outcome" => outcome).increment(1);
}
