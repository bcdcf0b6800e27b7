//! Second factors: TOTP set-up, confirmation and removal, recovery codes, and
//! the second step of a sign-in (`mfa_required` → `/auth/mfa/verify`).
//!
//! A sign-in whose first factor passed (a password, a provider) for a user with
//! a second factor opens no session: it stores a challenge, known by the
//! SHA-256 of a 256-bit `mfa_token`, valid for five minutes and five judged
//! codes, and answers [`SignIn::SecondFactor`]. Codes also count toward a
//! per-user lockout (`mfa:{user_id}`): whoever holds the password gets the
//! same few guesses per lock period from any number of addresses. Both limits
//! count an attempt before judging it, so concurrent guesses cannot outrun them.

mod codes;
mod totp;

use std::sync::Arc;

use time::OffsetDateTime;

use crate::account::AccountService;
use crate::amr::Amr;
use crate::audit::{Audit, AuditKind, Outcome};
use crate::auth::{AuthService, FAILURE, Principal, SUCCESS, event};
use crate::client_info::ClientInfo;
use crate::error::AuthError;
use crate::ids::UserId;
use crate::passkey::PasskeyService;
use crate::ports::Attempt;
use crate::ports::{AuditLog, LockoutPolicy, Throttle};
use crate::ports::{FactorRef, MfaChallenge, MfaRepository, StoredTotp};
use crate::refresh::{MailToken, TokenHash};
use crate::signin::SignIn;

pub use codes::{RECOVERY_CODES, RecoveryCode};
pub use totp::{MfaKey, TotpSecret};

/// Codes judged on one `mfa_token`, at most (the last one may be right).
const MAX_CHALLENGE_ATTEMPTS: i32 = 5;

/// How TOTP is configured.
#[derive(Debug, Clone)]
pub struct MfaSettings {
    /// The issuer authenticator apps show (`WEBAUTHN_RP_NAME`).
    pub issuer: String,
    /// Seals TOTP secrets; `None` (production without `MFA_ENCRYPTION_KEY`):
    /// TOTP is unavailable.
    pub key: Option<MfaKey>,
}

/// A second factor presented to complete or authorise something.
#[derive(Debug)]
pub enum Factor {
    Totp(String),
    RecoveryCode(String),
    /// A WebAuthn assertion (`PublicKeyCredential` JSON), answering the
    /// challenge `/auth/mfa/webauthn/challenge` issued for the same sign-in.
    WebAuthn(serde_json::Value),
}

impl Factor {
    /// A code typed where either is accepted: six digits are a TOTP code,
    /// anything else a recovery code.
    pub fn of_code(code: &str) -> Self {
        let code = code.trim();
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            Self::Totp(code.to_owned())
        } else {
            Self::RecoveryCode(code.to_owned())
        }
    }
}

/// What set-up shows, once.
#[derive(Debug)]
pub struct TotpSetup {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// The second factors a user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp: bool,
    pub recovery_codes_left: i64,
}

/// The storage [`MfaService`] reaches.
pub struct MfaPorts {
    pub mfa: Arc<dyn MfaRepository>,
    /// Counts wrong codes per user (`mfa:{user_id}`).
    pub throttle: Arc<dyn Throttle>,
    pub audit_log: Arc<dyn AuditLog>,
}

pub struct MfaService {
    auth: Arc<AuthService>,
    repo: Arc<dyn MfaRepository>,
    throttle: Arc<dyn Throttle>,
    lockout: LockoutPolicy,
    audit: Audit,
    passkeys: Arc<PasskeyService>,
    /// Mails the "sign-in method added" notice.
    account: Arc<AccountService>,
    settings: MfaSettings,
}

impl MfaService {
    pub fn new(
        auth: Arc<AuthService>,
        ports: MfaPorts,
        lockout: LockoutPolicy,
        passkeys: Arc<PasskeyService>,
        account: Arc<AccountService>,
        settings: MfaSettings,
    ) -> Self {
        let MfaPorts {
            mfa,
            throttle,
            audit_log,
        } = ports;
        Self {
            auth,
            repo: mfa,
            throttle,
            lockout,
            audit: Audit::new(audit_log),
            passkeys,
            account,
            settings,
        }
    }

    fn repo(&self) -> &dyn MfaRepository {
        &*self.repo
    }

    fn key(&self) -> Result<&MfaKey, AuthError> {
        self.settings.key.as_ref().ok_or(AuthError::MfaUnavailable)
    }

    /// Opens a stored secret. One that does not open (the key changed, or is
    /// ephemeral and the process restarted) fails closed: TOTP is unavailable
    /// until the key is back, never a wrong code and never a way around it.
    fn open(&self, user_id: UserId, stored: &StoredTotp) -> Result<TotpSecret, AuthError> {
        self.key()?.open(user_id, &stored.sealed).ok_or_else(|| {
            tracing::error!(
                user_id = %user_id,
                "a TOTP secret does not open under MFA_ENCRYPTION_KEY (was the key changed?)"
            );
            AuthError::MfaUnavailable
        })
    }

    pub async fn status(&self, principal: &Principal) -> Result<MfaStatus, AuthError> {
        let totp = self.repo().totp(principal.user_id).await?;
        let recovery_codes_left = self.repo().recovery_codes_left(principal.user_id).await?;
        Ok(MfaStatus {
            totp: totp.is_some_and(|t| t.confirmed),
            recovery_codes_left,
        })
    }

    /// Starts TOTP set-up: a new secret, inactive until confirmed (an earlier
    /// unconfirmed one is replaced). Adding a factor needs a recent sign-in,
    /// as removing one does: a stolen session of any age must not plant one.
    #[tracing::instrument(skip_all)]
    pub async fn setup_totp(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<TotpSetup, AuthError> {
        self.auth.require_recent_sign_in(principal)?;
        let key = self.key()?;
        let user = self.auth.verified_user(principal).await?;
        let secret = TotpSecret::random();
        let sealed = key.seal(user.id, &secret);
        if !self.repo().begin_totp(user.id, &sealed).await? {
            return Err(AuthError::MfaAlreadyEnabled);
        }
        let (secret, otpauth_uri) = secret.provisioning(&self.settings.issuer, user.email.as_str());
        let qr_svg = totp::qr_svg(&otpauth_uri)
            .ok_or_else(|| AuthError::Internal("the set-up URI does not fit a QR code".into()))?;
        self.audit
            .record(
                AuditKind::MfaTotpSetup,
                Outcome::Success,
                Some(user.id),
                client,
            )
            .await;
        Ok(TotpSetup {
            secret,
            otpauth_uri,
            qr_svg,
        })
    }

    /// Activates the pending secret with its first correct code; returns a
    /// new set of recovery codes (any earlier set is void). Needs a recent
    /// sign-in; the owner is mailed a notice with a link that removes it.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, AuthError> {
        self.auth.require_recent_sign_in(principal)?;
        let user_id = self.auth.verified_user(principal).await?.id;
        let stored = match self.repo().totp(user_id).await? {
            Some(stored) if stored.confirmed => return Err(AuthError::MfaAlreadyEnabled),
            Some(stored) => stored,
            None => return Err(AuthError::MfaNotEnabled),
        };
        let Some(step) = self.open(user_id, &stored)?.matching_step(code, unix_now()) else {
            event("mfa_enrol", FAILURE);
            return Err(AuthError::InvalidCode);
        };
        let codes = RecoveryCode::set();
        let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
        if !self.repo().confirm_totp(user_id, step, &hashes).await? {
            return Err(AuthError::MfaNotEnabled);
        }
        event("mfa_enrol", SUCCESS);
        self.audit
            .record(AuditKind::MfaEnrol, Outcome::Success, Some(user_id), client)
            .await;
        tracing::info!(user_id = %user_id, "TOTP enabled");
        self.account
            .factor_added(
                user_id,
                FactorRef::Totp,
                "an authenticator app (TOTP)".to_owned(),
            )
            .await;
        Ok(codes)
    }

    /// Turns TOTP off (and voids the recovery codes). Needs a recent sign-in
    /// and a current code or a recovery code.
    #[tracing::instrument(skip_all)]
    pub async fn disable_totp(
        &self,
        principal: &Principal,
        factor: &Factor,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.auth.require_recent_sign_in(principal)?;
        let user_id = principal.user_id;
        self.require_totp(user_id).await?;
        self.check_factor(user_id, factor, None, AuditKind::MfaDisable, client)
            .await?;
        if !self.repo().disable_totp(user_id).await? {
            return Err(AuthError::MfaNotEnabled);
        }
        tracing::info!(user_id = %user_id, "TOTP disabled");
        Ok(())
    }

    /// A new set of recovery codes; the old set is void. Needs a recent
    /// sign-in and a current code or a recovery code.
    #[tracing::instrument(skip_all)]
    pub async fn regenerate_recovery_codes(
        &self,
        principal: &Principal,
        factor: &Factor,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, AuthError> {
        self.auth.require_recent_sign_in(principal)?;
        let user_id = principal.user_id;
        self.require_totp(user_id).await?;
        self.check_factor(
            user_id,
            factor,
            None,
            AuditKind::RecoveryCodesRegenerate,
            client,
        )
        .await?;
        let codes = RecoveryCode::set();
        let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
        self.repo().replace_recovery_codes(user_id, &hashes).await?;
        Ok(codes)
    }

    async fn require_totp(&self, user_id: UserId) -> Result<(), AuthError> {
        match self.repo().totp(user_id).await? {
            Some(stored) if stored.confirmed => Ok(()),
            _ => Err(AuthError::MfaNotEnabled),
        }
    }

    /// The sign-in an `mfa_token` names, if it is still open.
    async fn challenge(&self, mfa_token: &str) -> Result<(TokenHash, MfaChallenge), AuthError> {
        let hash = MailToken::parse(mfa_token)
            .ok_or(AuthError::InvalidMfaToken)?
            .hash();
        let challenge = self
            .repo()
            .find_challenge(&hash, OffsetDateTime::now_utc())
            .await?
            .ok_or(AuthError::InvalidMfaToken)?;
        Ok((hash, challenge))
    }

    /// WebAuthn options for completing a sign-in with one of the user's passkeys.
    pub async fn webauthn_challenge(
        &self,
        mfa_token: &str,
    ) -> Result<serde_json::Value, AuthError> {
        let (hash, challenge) = self.challenge(mfa_token).await?;
        self.passkeys
            .start_second_factor(challenge.user_id, &hash)
            .await
    }

    /// Completes a sign-in that answered `mfa_required`. Each presented
    /// factor spends one of the challenge's attempts *before* it is judged
    /// (one conditional `UPDATE`), so no burst of concurrent requests gets
    /// more than [`MAX_CHALLENGE_ATTEMPTS`] judged on one `mfa_token`.
    #[tracing::instrument(skip_all)]
    pub async fn verify(
        &self,
        mfa_token: &str,
        factor: &Factor,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let hash = MailToken::parse(mfa_token)
            .ok_or(AuthError::InvalidMfaToken)?
            .hash();
        let challenge = self
            .repo()
            .attempt_challenge(&hash, OffsetDateTime::now_utc(), MAX_CHALLENGE_ATTEMPTS)
            .await?
            .ok_or(AuthError::InvalidMfaToken)?;
        let user_id = challenge.user_id;
        let second = self
            .check_factor(user_id, factor, Some(&hash), AuditKind::MfaVerify, client)
            .await?;
        if !self.repo().take_challenge(&hash).await? {
            return Err(AuthError::InvalidMfaToken);
        }
        let amr = challenge.amr.with(second).with(Amr::MFA);
        self.auth.open_session(user_id, amr, client).await
    }

    /// Checks a presented factor under the user's second-factor lockout:
    /// a wrong, malformed or replayed code counts as a failure.
    /// Returns how the factor signs in (`otp`, `hwk`, `swk`).
    async fn check_factor(
        &self,
        user_id: UserId,
        factor: &Factor,
        mfa_token: Option<&TokenHash>,
        kind: AuditKind,
        client: &ClientInfo,
    ) -> Result<Amr, AuthError> {
        let lock_key = format!("mfa:{user_id}");
        let throttle = &self.throttle;
        // Counted before the code is judged (see `Throttle::attempt`).
        let lock = match throttle.attempt(&lock_key, self.lockout).await {
            Attempt::Locked(retry_after) => {
                event(kind.name(), Outcome::Locked.name());
                return Err(AuthError::AccountLocked { retry_after });
            }
            Attempt::Allowed { lock } => lock,
        };
        let otp = |passed: bool| passed.then_some(Amr::OTP);
        let passed = match (factor, mfa_token) {
            (Factor::Totp(code), _) => otp(self.spend_totp_code(user_id, code).await?),
            (Factor::RecoveryCode(code), _) => {
                otp(self.spend_recovery_code(user_id, code, client).await?)
            }
            (Factor::WebAuthn(credential), Some(hash)) => {
                self.passkeys
                    .second_factor(user_id, hash, credential)
                    .await?
            }
            (Factor::WebAuthn(_), None) => None,
        };
        let outcome = Outcome::of(passed.is_some());
        event(kind.name(), outcome.name());
        self.audit
            .record(kind, outcome, Some(user_id), client)
            .await;
        if let Some(amr) = passed {
            throttle.clear_failures(&lock_key).await;
            return Ok(amr);
        }
        if let Some(lock) = lock {
            tracing::warn!(
                user_id = %user_id,
                lock_secs = lock.as_secs(),
                "second-factor attempts locked"
            );
            event("lockout", "locked");
        }
        Err(AuthError::InvalidCode)
    }

    /// `true` when `code` is current and its step was not used before.
    async fn spend_totp_code(&self, user_id: UserId, code: &str) -> Result<bool, AuthError> {
        let Some(stored) = self.repo().totp(user_id).await?.filter(|t| t.confirmed) else {
            return Ok(false);
        };
        match self.open(user_id, &stored)?.matching_step(code, unix_now()) {
            Some(step) => Ok(self.repo().use_totp_step(user_id, step).await?),
            None => Ok(false),
        }
    }

    async fn spend_recovery_code(
        &self,
        user_id: UserId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<bool, AuthError> {
        let Some(hash) = codes::hash_of(code) else {
            return Ok(false);
        };
        let used = self.repo().use_recovery_code(user_id, &hash).await?;
        if used {
            self.audit
                .record(
                    AuditKind::RecoveryCodeUsed,
                    Outcome::Success,
                    Some(user_id),
                    client,
                )
                .await;
        }
        Ok(used)
    }
}

fn unix_now() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or_default()
}
