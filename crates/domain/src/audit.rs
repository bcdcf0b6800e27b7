//! The audit trail as the services write it: a typed event, an outcome, who
//! and from where. [`Audit`] is a handle each service holds; the stored form
//! (the `AuditLog` port) keeps the names below, which `GET /auth/events` and
//! the admin API show.

use std::sync::Arc;

use crate::client_info::ClientInfo;
use crate::ids::UserId;
use crate::ports::{AuditEvent, AuditLog};
use tokio_util::task::TaskTracker;

/// What happened to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Register,
    Login,
    LoginLockout,
    RefreshTokenReuse,
    Logout,
    LogoutAll,
    PasswordChange,
    PasswordResetRequested,
    PasswordReset,
    EmailVerified,
    EmailChanged,
    EmailChangeRequested,
    AccountDeleted,
    FactorRemovedByLink,
    MfaTotpSetup,
    MfaEnrol,
    MfaVerify,
    MfaDisable,
    RecoveryCodesRegenerate,
    RecoveryCodeUsed,
    PasskeyAdded,
    PasskeyRemoved,
    PasskeyLogin,
    OauthLogin,
    OauthLink,
    OauthUnlink,
    TokenRevoked,
    RoleGranted,
    ApiClientCreated,
    ApiClientDeleted,
    /// By an admin.
    UserDisabled,
    UserEnabled,
    UserDeleted,
    SessionsRevoked,
    FactorsRemoved,
    RolesSet,
}

impl AuditKind {
    /// The stored name (and the metric's `event` label where both exist).
    pub fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::LoginLockout => "login_lockout",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::PasswordChange => "password_change",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::EmailVerified => "email_verified",
            Self::EmailChanged => "email_changed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::AccountDeleted => "account_deleted",
            Self::FactorRemovedByLink => "factor_removed_by_link",
            Self::MfaTotpSetup => "mfa_totp_setup",
            Self::MfaEnrol => "mfa_enrol",
            Self::MfaVerify => "mfa_verify",
            Self::MfaDisable => "mfa_disable",
            Self::RecoveryCodesRegenerate => "recovery_codes_regenerate",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::PasskeyLogin => "passkey_login",
            Self::OauthLogin => "oauth_login",
            Self::OauthLink => "oauth_link",
            Self::OauthUnlink => "oauth_unlink",
            Self::TokenRevoked => "token_revoked",
            Self::RoleGranted => "role_granted",
            Self::ApiClientCreated => "api_client_created",
            Self::ApiClientDeleted => "api_client_deleted",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::UserDeleted => "user_deleted",
            Self::SessionsRevoked => "sessions_revoked",
            Self::FactorsRemoved => "factors_removed",
            Self::RolesSet => "roles_set",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Refused by a lockout.
    Locked,
    /// The account is disabled (its password was right).
    Disabled,
    /// A reused refresh token.
    Detected,
    /// The first factor passed; a second is asked for.
    MfaRequired,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Locked => "locked",
            Self::Disabled => "disabled",
            Self::Detected => "detected",
            Self::MfaRequired => "mfa_required",
        }
    }

    /// `Success` or `Failure`.
    pub fn of(passed: bool) -> Self {
        if passed { Self::Success } else { Self::Failure }
    }
}

/// Appends to the audit trail. A failure to write it is logged, never turned
/// into a failure of what was audited.
#[derive(Clone)]
pub struct Audit {
    log: Arc<dyn AuditLog>,
    /// Where [`Audit::detached`] records run, so a graceful shutdown waits
    /// for them.
    tasks: TaskTracker,
}

impl Audit {
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self {
            log,
            tasks: TaskTracker::new(),
        }
    }

    /// Detached records run on `tasks` (the process's, which shutdown awaits).
    pub fn with_tasks(mut self, tasks: TaskTracker) -> Self {
        self.tasks = tasks;
        self
    }

    /// Something that happened to `user_id`, done by themself.
    pub async fn record(
        &self,
        kind: AuditKind,
        outcome: Outcome,
        user_id: Option<UserId>,
        client: &ClientInfo,
    ) {
        self.record_by(kind, outcome, user_id, None, client).await;
    }

    /// Something `actor` (an admin, an API client's owner) did to `user_id`.
    pub async fn record_by(
        &self,
        kind: AuditKind,
        outcome: Outcome,
        user_id: Option<UserId>,
        actor: Option<UserId>,
        client: &ClientInfo,
    ) {
        let record = event(kind, outcome, user_id, actor, client);
        if let Err(error) = self.log.record(record).await {
            tracing::error!(error = %error, event = kind.name(), "writing the audit trail failed");
        }
    }

    /// [`Audit::record`] written after the answer, not before it: a failed
    /// sign-in of a known address must cost what one of an unknown address
    /// costs (enumeration by timing), so its record is not on the answer's
    /// path.
    pub fn detached(
        &self,
        kind: AuditKind,
        outcome: Outcome,
        user_id: Option<UserId>,
        client: &ClientInfo,
    ) {
        let record = event(kind, outcome, user_id, None, client);
        let log = Arc::clone(&self.log);
        self.tasks.spawn(async move {
            if let Err(error) = log.record(record).await {
                tracing::error!(error = %error, event = kind.name(), "writing the audit trail failed");
            }
        });
    }

    /// A user's newest events first.
    pub async fn recent(
        &self,
        user_id: UserId,
        limit: i64,
    ) -> crate::ports::RepoResult<Vec<crate::ports::AuditRecord>> {
        self.log.recent(user_id, limit).await
    }
}

fn event(
    kind: AuditKind,
    outcome: Outcome,
    user_id: Option<UserId>,
    actor: Option<UserId>,
    client: &ClientInfo,
) -> AuditEvent {
    AuditEvent {
        user_id,
        actor,
        event: kind.name(),
        outcome: outcome.name(),
        ip: client.ip,
        user_agent: client.user_agent.clone(),
    }
}
