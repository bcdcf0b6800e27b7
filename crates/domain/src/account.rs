//! Account recovery and maintenance: password reset, email verification and
//! change, account deletion, and the user's own audit trail.
//!
//! Tokens sent by mail are 256 random bits, stored only as SHA-256, single use,
//! short-lived, and a new one voids the user's earlier ones of its kind. The
//! mail that carries a token is queued in the transaction that stores it (the
//! outbox); a background sender delivers it.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::audit::{Audit, AuditKind, Outcome};
use crate::auth::{AuthService, FAILURE, Principal, SUCCESS, event};
use crate::client_info::ClientInfo;
use crate::error::{AuthError, Denial};
use crate::ids::UserId;
use crate::links::{HttpUrl, MailedLinks};
use crate::mail::{MailKind, OutgoingMail};
use crate::password::NewPassword;
use crate::password::PasswordHasher;
use crate::ports::Quota;
use crate::ports::{AuditLog, ProfileRepository, Throttle};
use crate::ports::{
    AuditRecord, FactorRef, NewAccountToken, RecoveryRepository, TokenPurpose, UserRepository,
};
use crate::refresh::MailToken;
use crate::user::{Email, Profile, User};
use crate::validation::FieldError;
use tokio_util::task::TaskTracker;

/// Where links point and how long they work.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// The mailed links, under the front end's base URL (`APP_URL`).
    pub links: MailedLinks,
    pub reset_ttl: Duration,
    pub verify_ttl: Duration,
    /// How long the link in a "sign-in method added" notice removes it.
    pub factor_removal_ttl: Duration,
}

impl AccountSettings {
    pub fn new(app_url: HttpUrl) -> Self {
        Self {
            links: MailedLinks::new(app_url),
            reset_ttl: Duration::minutes(30),
            verify_ttl: Duration::hours(24),
            factor_removal_ttl: Duration::days(7),
        }
    }
}

/// Reset mails an account's mailbox receives, at most, whoever asks.
const RESET_MAILS: Quota = Quota::per_hour(5);

/// The most events `GET /auth/events` returns.
pub const MAX_EVENTS: i64 = 100;

/// The storage [`AccountService`] reaches.
pub struct AccountPorts {
    pub users: Arc<dyn UserRepository>,
    pub profiles: Arc<dyn ProfileRepository>,
    pub recovery: Arc<dyn RecoveryRepository>,
    /// Caps the reset mails an account receives.
    pub throttle: Arc<dyn Throttle>,
    pub audit_log: Arc<dyn AuditLog>,
}

pub struct AccountService {
    auth: Arc<AuthService>,
    users: Arc<dyn UserRepository>,
    profiles: Arc<dyn ProfileRepository>,
    recovery: Arc<dyn RecoveryRepository>,
    throttle: Arc<dyn Throttle>,
    audit: Audit,
    hasher: PasswordHasher,
    settings: AccountSettings,
    /// Work done after the answer (the reset mail's queueing), which a
    /// graceful shutdown waits for.
    tasks: TaskTracker,
}

const SESSION_ENDED: AuthError = AuthError::Denied(Denial::SessionEnded);

impl AccountService {
    pub fn new(
        auth: Arc<AuthService>,
        ports: AccountPorts,
        hasher: PasswordHasher,
        settings: AccountSettings,
        tasks: TaskTracker,
    ) -> Self {
        let AccountPorts {
            users,
            profiles,
            recovery,
            throttle,
            audit_log,
        } = ports;
        Self {
            auth,
            users,
            profiles,
            recovery,
            throttle,
            audit: Audit::new(audit_log),
            hasher,
            settings,
            tasks,
        }
    }

    fn users(&self) -> &dyn UserRepository {
        self.users.as_ref()
    }

    fn link(&self, page: &str, token: &MailToken) -> String {
        self.settings.links.link(page, token)
    }

    /// Stores a new token for `user` and queues the mail that carries it.
    async fn issue(&self, user: &User, purpose: TokenPurpose, to: Email) -> Result<(), AuthError> {
        let token = MailToken::random();
        let (ttl, kind) = match purpose {
            TokenPurpose::PasswordReset => (
                self.settings.reset_ttl,
                MailKind::PasswordReset {
                    name: greeting(user, true),
                    link: self.link("reset-password", &token),
                },
            ),
            TokenPurpose::EmailVerify => (
                self.settings.verify_ttl,
                MailKind::VerifyEmail {
                    name: greeting(user, false),
                    link: self.link("verify-email", &token),
                },
            ),
            TokenPurpose::EmailChange => (
                self.settings.verify_ttl,
                MailKind::ConfirmEmailChange {
                    name: greeting(user, false),
                    link: self.link("verify-email", &token),
                    new_email: to.as_str().to_owned(),
                },
            ),
            TokenPurpose::FactorRemoval => {
                return Err(AuthError::Internal(
                    "a factor-removal link names its factor: use factor_added".into(),
                ));
            }
        };
        let record = NewAccountToken {
            hash: token.hash(),
            user_id: user.id,
            purpose,
            email: to.clone(),
            expires_at: OffsetDateTime::now_utc() + ttl,
            factor: None,
        };
        self.recovery
            .issue(record, OutgoingMail { to, kind })
            .await?;
        Ok(())
    }

    /// Tells the owner, at the account's address, that a sign-in method was
    /// added, with a link that removes it (and ends every session) for
    /// [`AccountSettings::factor_removal_ttl`]: someone who knew the password
    /// and added one of their own cannot keep it past the owner's mailbox.
    /// A failure to queue is logged; the factor stays.
    pub async fn factor_added(&self, user_id: UserId, factor: FactorRef, described: String) {
        let queued = async {
            let user = self
                .users()
                .find_by_id(user_id)
                .await?
                .ok_or(SESSION_ENDED)?;
            let token = MailToken::random();
            let record = NewAccountToken {
                hash: token.hash(),
                user_id,
                purpose: TokenPurpose::FactorRemoval,
                email: user.email.clone(),
                expires_at: OffsetDateTime::now_utc() + self.settings.factor_removal_ttl,
                factor: Some(factor),
            };
            let mail = OutgoingMail {
                to: user.email.clone(),
                kind: MailKind::FactorAdded {
                    name: greeting(&user, true),
                    factor: described,
                    link: self.link("remove-sign-in-method", &token),
                },
            };
            self.recovery.issue(record, mail).await?;
            Ok::<_, AuthError>(())
        };
        if let Err(error) = queued.await {
            tracing::error!(error = %error, user_id = %user_id, "queueing a sign-in method notice failed");
        }
    }

    /// Uses the link of a "sign-in method added" notice: the factor goes
    /// and every session of the account ends (whoever added it is signed out).
    #[tracing::instrument(skip_all)]
    pub async fn remove_factor_by_link(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let token = MailToken::parse(token).ok_or(AuthError::LinkInvalid)?;
        let now = OffsetDateTime::now_utc();
        let Some(removed) = self.recovery.remove_factor(&token.hash(), now).await? else {
            event("factor_removed_by_link", FAILURE);
            return Err(AuthError::LinkInvalid);
        };
        event("factor_removed_by_link", SUCCESS);
        self.audit
            .record(
                AuditKind::FactorRemovedByLink,
                Outcome::Success,
                Some(removed.user_id),
                client,
            )
            .await;
        tracing::info!(
            user_id = %removed.user_id,
            removed = removed.removed,
            revoked = removed.revoked.len(),
            "sign-in method removed by the link of its notice"
        );
        Ok(())
    }

    /// Queues a reset mail when `email` names an account. Answers the same,
    /// and as fast, either way: the lookup and the queueing run after the
    /// caller has its answer.
    pub fn forgot_password(
        self: &Arc<Self>,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let email = Email::parse(email).map_err(|e| AuthError::Validation(e.into()))?;
        let this = Arc::clone(self);
        let client = client.clone();
        self.tasks.spawn(async move {
            if let Err(error) = this.queue_reset(&email, &client).await {
                tracing::error!(error = %error, "queueing a password reset failed");
            }
        });
        Ok(())
    }

    async fn queue_reset(&self, email: &Email, client: &ClientInfo) -> Result<(), AuthError> {
        let Some(user) = self.users().find_by_email(email).await? else {
            tracing::info!("password reset requested for an unknown address");
            return Ok(());
        };
        // The request limit is per address *and* client (nobody elsewhere
        // can use up the owner's); what reaches the mailbox is capped per
        // account, whoever asks. Over the cap nothing new is sent, and the
        // answer is the same: the latest mail's link (30 min) still works.
        let mailbox = format!("reset_mail:{}", user.id);
        if !self.throttle.acquire(&mailbox, RESET_MAILS).await.allowed {
            tracing::info!(user_id = %user.id, "reset mails to this account capped: none queued");
            return Ok(());
        }
        self.issue(&user, TokenPurpose::PasswordReset, user.email.clone())
            .await?;
        self.audit
            .record(
                AuditKind::PasswordResetRequested,
                Outcome::Success,
                Some(user.id),
                client,
            )
            .await;
        tracing::info!(user_id = %user.id, "password reset mail queued");
        Ok(())
    }

    /// Sets a new password with a reset token and revokes every session.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        new: NewPassword,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let token = MailToken::parse(token).ok_or(AuthError::LinkInvalid)?;
        let now = OffsetDateTime::now_utc();
        let found = self.recovery.find(&token.hash(), now).await?;
        let Some(found) = found.filter(|t| t.purpose == TokenPurpose::PasswordReset) else {
            event("password_reset", FAILURE);
            return Err(AuthError::LinkInvalid);
        };
        let Some(user) = self.users().find_by_id(found.user_id).await? else {
            return Err(AuthError::LinkInvalid);
        };
        let current = self.users().credentials_by_id(found.user_id).await?;
        let current = current.as_ref().and_then(|c| c.password_hash.as_ref());
        if current.is_some() && self.hasher.verify(new.password(), current).await {
            return Err(AuthError::SamePassword);
        }
        let related = [user.email.as_str(), user.name.as_str()];
        let hash = self.hasher.hash_new(&new, &related).await?;
        let reset = self
            .recovery
            .reset_password(&token.hash(), found.user_id, &hash, now)
            .await?
            .ok_or(AuthError::LinkInvalid)?;
        event("password_reset", SUCCESS);
        self.audit
            .record(
                AuditKind::PasswordReset,
                Outcome::Success,
                Some(reset.user_id),
                client,
            )
            .await;
        tracing::info!(user_id = %reset.user_id, revoked = reset.revoked.len(), "password reset");
        Ok(())
    }

    /// Sends (again) the verification mail of the user's address. Nothing is
    /// sent for an address that is verified already.
    pub async fn send_verification(&self, principal: &Principal) -> Result<(), AuthError> {
        let user = self
            .users()
            .find_by_id(principal.user_id)
            .await?
            .ok_or(SESSION_ENDED)?;
        self.verify_new_account(&user).await
    }

    /// Queues the verification mail of a new (or unverified) account.
    pub async fn verify_new_account(&self, user: &User) -> Result<(), AuthError> {
        if user.email_verified {
            tracing::info!(user_id = %user.id, "address already verified: no mail sent");
            return Ok(());
        }
        self.issue(user, TokenPurpose::EmailVerify, user.email.clone())
            .await
    }

    /// Verifies an address, or completes an email change, with a mailed token.
    #[tracing::instrument(skip_all)]
    pub async fn verify_email(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(User, Option<Profile>), AuthError> {
        let token = MailToken::parse(token).ok_or(AuthError::LinkInvalid)?;
        let now = OffsetDateTime::now_utc();
        let Some(confirmed) = self.recovery.confirm_email(&token.hash(), now).await? else {
            event("email_verify", FAILURE);
            return Err(AuthError::LinkInvalid);
        };
        let user = confirmed.user;
        let kind = if confirmed.previous_email.is_some() {
            AuditKind::EmailChanged
        } else {
            AuditKind::EmailVerified
        };
        let name = kind.name();
        event(name, SUCCESS);
        self.audit
            .record(kind, Outcome::Success, Some(user.id), client)
            .await;
        tracing::info!(user_id = %user.id, "{name}");
        let profile = self.profiles.find_by_user(user.id).await?;
        Ok((user, profile))
    }

    /// Starts an email change: needs a recent sign-in and the password, and
    /// mails a link to the new address. The address changes only when that link is used.
    #[tracing::instrument(skip_all)]
    pub async fn request_email_change(
        &self,
        principal: &Principal,
        new_email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let new_email = Email::parse(new_email)
            .map_err(|e| AuthError::Validation(rename(e, "new_email").into()))?;
        self.auth.require_recent_sign_in(principal)?;
        self.auth
            .check_password(principal.user_id, password)
            .await?;
        let user = self
            .users()
            .find_by_id(principal.user_id)
            .await?
            .ok_or(SESSION_ENDED)?;
        if user.email == new_email {
            let error = FieldError::new("new_email", "is already your address");
            return Err(AuthError::Validation(error.into()));
        }
        if self.users().find_by_email(&new_email).await?.is_some() {
            return Err(AuthError::EmailTaken);
        }
        self.issue(&user, TokenPurpose::EmailChange, new_email.clone())
            .await?;
        // The current address hears of it now, not only once it took effect.
        let notice = OutgoingMail {
            to: user.email.clone(),
            kind: MailKind::EmailChangeRequested {
                name: greeting(&user, true),
                new_email: new_email.as_str().to_owned(),
            },
        };
        self.recovery.enqueue(notice).await?;
        self.audit
            .record(
                AuditKind::EmailChangeRequested,
                Outcome::Success,
                Some(user.id),
                client,
            )
            .await;
        Ok(())
    }

    /// Deletes the account (a recent sign-in and the password required): user, sessions, profile and
    /// links go, and every token of it stops working at once.
    #[tracing::instrument(skip_all)]
    pub async fn delete_account(
        &self,
        principal: &Principal,
        password: String,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.auth.require_recent_sign_in(principal)?;
        self.auth
            .check_password(principal.user_id, password)
            .await?;
        let deleted = self
            .users()
            .delete(principal.user_id)
            .await?
            .ok_or(SESSION_ENDED)?;
        event("account_delete", SUCCESS);
        self.audit
            .record(
                AuditKind::AccountDeleted,
                Outcome::Success,
                Some(principal.user_id),
                client,
            )
            .await;
        tracing::info!(user_id = %principal.user_id, sessions = deleted.sessions.len(), "account deleted");
        Ok(())
    }

    /// The user's own recent events, newest first (`limit` ≤ [`MAX_EVENTS`]).
    pub async fn events(&self, user_id: UserId, limit: i64) -> Result<Vec<AuditRecord>, AuthError> {
        Ok(self
            .audit
            .recent(user_id, limit.clamp(1, MAX_EVENTS))
            .await?)
    }
}

/// The name a mail greets with: the account's, only in mail to its own
/// address once that is verified. Anyone can register any address with any
/// name ("Claim your prize at …"); a mail to an address nobody confirmed must
/// not carry it. Empty: the templates say "Hello,".
fn greeting(user: &User, to_the_accounts_address: bool) -> String {
    if to_the_accounts_address && user.email_verified {
        user.name.clone()
    } else {
        String::new()
    }
}

fn rename(error: FieldError, field: &'static str) -> FieldError {
    FieldError {
        field: field.into(),
        ..error
    }
}
