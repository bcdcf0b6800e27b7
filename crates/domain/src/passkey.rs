//! Passkeys (WebAuthn): registration, listing, renaming and removal; the
//! passwordless (discoverable) sign-in; a passkey as the second factor.
//!
//! The ceremonies themselves — challenges, signatures, counters, backup flags —
//! are `webauthn-rs`'s, behind the [`WebAuthn`] port (the `passkeys` crate;
//! the port and `PasskeyRepository` live in [`crate::ports`]).
//! The domain stores their opaque state between the two halves of a ceremony,
//! single use and for five minutes, so any instance can finish what another
//! started.

use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;

use crate::account::AccountService;
use crate::amr::Amr;
use crate::audit::{Audit, AuditKind, Outcome};
use crate::auth::{AuthService, FAILURE, Principal, SUCCESS, event};
use crate::client_info::ClientInfo;
use crate::error::{AuthError, Resource};
use crate::ids::UserId;
use crate::ports::AuditLog;
use crate::ports::{
    Ceremony, CeremonyError, FactorRef, Passkey, PasskeyRepository, Purpose, WebAuthn,
};
use crate::refresh::TokenHash;
use crate::signin::SignIn;
use crate::validation::FieldError;

/// How long a ceremony may take.
const CEREMONY_TTL: time::Duration = time::Duration::minutes(5);
/// The most passkeys one account holds.
pub const MAX_PASSKEYS: usize = 20;
const NAME_MAX: usize = 64;

/// A passkey name: 1–64 characters once trimmed, no control characters.
pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() || raw.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "must be 1 to 64 characters, without control characters",
        ));
    }
    Ok(name.to_owned())
}

pub struct PasskeyService {
    auth: Arc<AuthService>,
    repo: Arc<dyn PasskeyRepository>,
    audit: Audit,
    /// `None`: passkeys are not configured (`WEBAUTHN_RP_ID` / `_ORIGIN`).
    webauthn: Option<Arc<dyn WebAuthn>>,
    /// Mails the "sign-in method added" notice.
    account: Arc<AccountService>,
}

fn rejected(error: CeremonyError) -> AuthError {
    match error {
        CeremonyError::Rejected(reason) => {
            tracing::info!(reason, "WebAuthn answer rejected");
            AuthError::PasskeyRejected
        }
        CeremonyError::Internal(reason) => AuthError::Internal(reason.into()),
    }
}

impl PasskeyService {
    pub fn new(
        auth: Arc<AuthService>,
        repo: Arc<dyn PasskeyRepository>,
        audit_log: Arc<dyn AuditLog>,
        webauthn: Option<Arc<dyn WebAuthn>>,
        account: Arc<AccountService>,
    ) -> Self {
        Self {
            auth,
            repo,
            audit: Audit::new(audit_log),
            webauthn,
            account,
        }
    }

    fn webauthn(&self) -> Result<&dyn WebAuthn, AuthError> {
        self.webauthn
            .as_deref()
            .ok_or(AuthError::PasskeysUnavailable)
    }

    pub fn is_enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    async fn keep(
        &self,
        ceremony: Ceremony,
        purpose: Purpose,
        user_id: Option<UserId>,
        mfa_token: Option<&TokenHash>,
    ) -> Result<(uuid::Uuid, Value), AuthError> {
        let id = uuid::Uuid::new_v4();
        let expires_at = OffsetDateTime::now_utc() + CEREMONY_TTL;
        self.repo
            .save_ceremony(id, purpose, user_id, mfa_token, &ceremony.state, expires_at)
            .await?;
        Ok((id, ceremony.options))
    }

    pub async fn list(&self, principal: &Principal) -> Result<Vec<Passkey>, AuthError> {
        Ok(self.repo.list(principal.user_id).await?)
    }

    /// Starts registering a passkey for the signed-in user. Adding a factor
    /// needs a recent sign-in, as removing one does.
    pub async fn start_registration(
        &self,
        principal: &Principal,
    ) -> Result<(uuid::Uuid, Value), AuthError> {
        self.auth.require_recent_sign_in(principal)?;
        let webauthn = self.webauthn()?;
        let user = self.auth.verified_user(principal).await?;
        let existing = self.repo.list(user.id).await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(AuthError::TooManyPasskeys);
        }
        let ceremony = webauthn
            .start_registration(&user, &existing)
            .map_err(rejected)?;
        self.keep(ceremony, Purpose::Register, Some(user.id), None)
            .await
    }

    /// Finishes a registration started by the same user (still recently
    /// signed in); the owner is mailed a notice with a link that removes it.
    pub async fn finish_registration(
        &self,
        principal: &Principal,
        challenge_id: uuid::Uuid,
        name: String,
        credential: &Value,
        client: &ClientInfo,
    ) -> Result<Passkey, AuthError> {
        self.auth.require_recent_sign_in(principal)?;
        let webauthn = self.webauthn()?;
        self.auth.verified_user(principal).await?;
        let pending = self
            .repo
            .take_ceremony(challenge_id, Purpose::Register)
            .await?
            .filter(|p| p.user_id == Some(principal.user_id))
            .ok_or(AuthError::ChallengeInvalid)?;
        let new = webauthn
            .finish_registration(credential, &pending.state)
            .map_err(rejected);
        let new = new.inspect_err(|_| event("passkey_register", FAILURE))?;
        let passkey = Passkey {
            id: uuid::Uuid::now_v7(),
            user_id: principal.user_id,
            credential_id: new.credential_id,
            name,
            data: new.data,
            backup_eligible: new.backup_eligible,
            backup_state: new.backup_state,
            created_at: OffsetDateTime::now_utc(),
            last_used_at: None,
        };
        self.repo.add(&passkey).await?;
        event("passkey_register", SUCCESS);
        self.audit
            .record(
                AuditKind::PasskeyAdded,
                Outcome::Success,
                Some(principal.user_id),
                client,
            )
            .await;
        self.account
            .factor_added(
                passkey.user_id,
                FactorRef::Passkey(passkey.id),
                format!("a passkey named “{}”", passkey.name),
            )
            .await;
        Ok(passkey)
    }

    pub async fn rename(
        &self,
        principal: &Principal,
        id: uuid::Uuid,
        name: &str,
    ) -> Result<Passkey, AuthError> {
        self.repo
            .rename(principal.user_id, id, name)
            .await?
            .ok_or(AuthError::NotFound(Resource::Passkey))
    }

    /// Removes a passkey (step-up).
    pub async fn delete(
        &self,
        principal: &Principal,
        id: uuid::Uuid,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.auth.require_recent_sign_in(principal)?;
        if !self.repo.delete(principal.user_id, id).await? {
            return Err(AuthError::NotFound(Resource::Passkey));
        }
        self.audit
            .record(
                AuditKind::PasskeyRemoved,
                Outcome::Success,
                Some(principal.user_id),
                client,
            )
            .await;
        Ok(())
    }

    /// Starts a passwordless sign-in: the authenticator picks the account.
    pub async fn start_login(&self) -> Result<(uuid::Uuid, Value), AuthError> {
        let ceremony = self.webauthn()?.start_discoverable().map_err(rejected)?;
        self.keep(ceremony, Purpose::Login, None, None).await
    }

    /// Finishes a passwordless sign-in: an opened session. A passkey is
    /// multi-factor by itself (possession and user verification), so no second
    /// step follows.
    pub async fn finish_login(
        &self,
        challenge_id: uuid::Uuid,
        credential: &Value,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let webauthn = self.webauthn()?;
        let pending = self
            .repo
            .take_ceremony(challenge_id, Purpose::Login)
            .await?
            .ok_or(AuthError::ChallengeInvalid)?;
        let (user_id, credential_id) = webauthn.identify(credential).map_err(rejected)?;
        let passkeys = self.repo.list(user_id).await?;
        let used = self
            .check(webauthn, credential, &pending.state, &passkeys, true)
            .await;
        let outcome = Outcome::of(used.is_ok());
        event("passkey_login", outcome.name());
        let known = passkeys.iter().any(|p| p.credential_id == credential_id);
        if known {
            self.audit
                .record(AuditKind::PasskeyLogin, outcome, Some(user_id), client)
                .await;
        }
        let passkey = used?;
        self.auth.open_session(user_id, passkey.amr(), client).await
    }

    /// Starts the second step of a sign-in with one of the user's passkeys.
    pub async fn start_second_factor(
        &self,
        user_id: UserId,
        mfa_token: &TokenHash,
    ) -> Result<Value, AuthError> {
        let passkeys = self.repo.list(user_id).await?;
        if passkeys.is_empty() {
            return Err(AuthError::NotFound(Resource::Passkey));
        }
        let ceremony = self
            .webauthn()?
            .start_authentication(&passkeys)
            .map_err(rejected)?;
        let (_, options) = self
            .keep(ceremony, Purpose::Mfa, Some(user_id), Some(mfa_token))
            .await?;
        Ok(options)
    }

    /// Checks a second-factor assertion; `Ok(None)` for a wrong one.
    pub(crate) async fn second_factor(
        &self,
        user_id: UserId,
        mfa_token: &TokenHash,
        credential: &Value,
    ) -> Result<Option<Amr>, AuthError> {
        let webauthn = self.webauthn()?;
        let Some(pending) = self
            .repo
            .take_mfa_ceremony(mfa_token)
            .await?
            .filter(|p| p.user_id == Some(user_id))
        else {
            return Ok(None);
        };
        let passkeys = self.repo.list(user_id).await?;
        match self
            .check(webauthn, credential, &pending.state, &passkeys, false)
            .await
        {
            Ok(passkey) => Ok(Some(passkey.amr())),
            Err(AuthError::PasskeyRejected) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Verifies an assertion and records the use (counter, backup state).
    async fn check(
        &self,
        webauthn: &dyn WebAuthn,
        credential: &Value,
        state: &Value,
        passkeys: &[Passkey],
        discoverable: bool,
    ) -> Result<Passkey, AuthError> {
        let assertion = webauthn
            .finish_authentication(credential, state, passkeys, discoverable)
            .map_err(rejected)?;
        let mut passkey = passkeys
            .iter()
            .find(|p| p.credential_id == assertion.credential_id)
            .cloned()
            .ok_or(AuthError::PasskeyRejected)?;
        self.repo.used(&assertion.credential_id, &assertion).await?;
        // `amr` follows the flags as they are now (a key may become syncable).
        passkey.backup_eligible |= assertion.backup_eligible;
        passkey.backup_state = assertion.backup_state;
        Ok(passkey)
    }

    /// Deletes ceremonies that expired.
    pub async fn purge(&self) -> Result<u64, AuthError> {
        Ok(self
            .repo
            .purge_ceremonies(OffsetDateTime::now_utc())
            .await?)
    }
}
