//! The ports: every trait through which the domain reaches the world, and the
//! data that crosses them. Storage (`UserRepository`, `SessionRepository`,
//! `ProfileRepository`, `OAuthAccountRepository`, `PendingLoginRepository`) is
//! implemented by `repo-postgres` and wrapped again by `cache-redis`; identity
//! providers (`IdentityProvider`) by `oauth`; the verified-token cache
//! (`VerifiedTokens`) by `cache-redis`. `app` wires them.
//!
//! Every storage method that changes data returns what a cache needs to
//! invalidate (the affected ids and emails), so a decorator never has to read
//! before it writes.

use crate::amr::Amr;
use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::{ProviderError, RepoError};
use crate::ids::{SessionId, UserId};
use crate::mail::OutgoingMail;
use crate::password::PasswordHash;
use crate::refresh::TokenHash;
use crate::user::{
    Credentials, DisplayName, Email, NewOAuthAccount, NewSession, NewUser, OAuthAccount, Profile,
    ProfileUpdate, ProviderName, RotateOutcome, Session, User,
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

    /// Revokes every active session of the user and voids their outstanding
    /// reset and email-change links, in one transaction; returns which sessions.
    async fn revoke_all(&self, user_id: UserId) -> RepoResult<Vec<SessionId>>;

    /// The session whose *current* refresh token has this hash, active or not
    /// (introspection and revocation); never rotates anything.
    async fn find_by_refresh_token(&self, hash: &TokenHash) -> RepoResult<Option<Session>>;
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
        provider: &ProviderName,
        subject: &str,
    ) -> RepoResult<Option<OAuthAccount>>;

    async fn find_by_user_and_provider(
        &self,
        user_id: UserId,
        provider: &ProviderName,
    ) -> RepoResult<Option<OAuthAccount>>;

    async fn list_for_user(&self, user_id: UserId) -> RepoResult<Vec<OAuthAccount>>;

    /// `RepoError::OAuthAccountTaken` when the identity is linked already, or the
    /// user already has an account at that provider.
    async fn link(&self, account: NewOAuthAccount) -> RepoResult<OAuthAccount>;

    /// `false` when there was no such link.
    async fn unlink(&self, user_id: UserId, provider: &ProviderName) -> RepoResult<bool>;
}

/// What a provider says about the person who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub subject: String,
    pub email: Option<String>,
    /// Only what the provider asserts (`email_verified`, GitHub's `verified`).
    pub email_verified: bool,
    pub name: Option<String>,
}

/// The parameters of an authorization request, made by `OAuthService`.
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    pub state: &'a str,
    /// `BASE64URL(SHA-256(verifier))` (PKCE `S256`).
    pub pkce_challenge: &'a str,
    /// OpenID Connect only.
    pub nonce: Option<&'a str>,
    pub redirect_uri: &'a str,
}

/// An identity provider: Google, GitHub, or any OpenID Connect issuer.
#[async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    fn name(&self) -> &ProviderName;

    /// Whether it is OpenID Connect (sends an ID token; gets a `nonce`).
    fn is_oidc(&self) -> bool;

    /// RFC 9207: the issuer a callback's `iss` must equal, and whether the
    /// provider always sends it.
    async fn issuer(&self) -> Result<Option<(String, bool)>, ProviderError>;

    async fn authorization_url(
        &self,
        request: AuthorizationRequest<'_>,
    ) -> Result<String, ProviderError>;

    /// Exchanges the code (with the PKCE verifier) and returns the validated
    /// identity. `nonce` is what the ID token must carry.
    async fn identity(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: Option<&str>,
        redirect_uri: &str,
    ) -> Result<ExternalIdentity, ProviderError>;
}

/// A login started at `/authorize`, waiting for its callback.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    /// SHA-256 of `state`: the state itself is never stored.
    pub state_hash: [u8; 32],
    pub provider: ProviderName,
    pub pkce_verifier: String,
    pub nonce: Option<String>,
    /// SHA-256 of the cookie that binds the flow to the browser that began it.
    pub browser_hash: [u8; 32],
    pub redirect_to: Option<String>,
    /// Set when a signed-in user is linking a provider.
    pub link_user: Option<UserId>,
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait PendingLoginRepository: Send + Sync + 'static {
    async fn save(&self, login: &PendingLogin) -> RepoResult<()>;
    /// Removes and returns the pending login: a state works once.
    async fn take(&self, state_hash: &[u8; 32]) -> RepoResult<Option<PendingLogin>>;
    /// Stores a completed sign-in under the hash of the one-time code the
    /// redirect hands the front end.
    async fn save_handoff(
        &self,
        code: &TokenHash,
        user_id: UserId,
        amr: Amr,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()>;
    /// Removes and returns the sign-in of an unexpired code: a code works once.
    async fn take_handoff(
        &self,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<(UserId, Amr)>>;
}

/// What a request needs of a verified access token: small and `Copy`, so the
/// verified-token cache hands it out without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// Unix seconds.
    pub exp: i64,
    /// Unix seconds.
    pub iat: i64,
}

/// Access tokens whose signature was already verified, by the SHA-256 digest of
/// the exact token (never the token itself). A presented token found here skips
/// signature verification; its expiry is still checked on every request, and the
/// caller still checks its session. Implemented outside the domain (an in-process
/// cache); without one, every request verifies the signature.
pub trait VerifiedTokens: Send + Sync + 'static {
    fn get(&self, digest: &[u8; 32]) -> Option<VerifiedToken>;
    /// Remembers `token` for at most `ttl` (never beyond the token's expiry).
    fn insert(&self, digest: [u8; 32], token: VerifiedToken, ttl: std::time::Duration);
}

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

/// One thing that happened to an account.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub user_id: Option<UserId>,
    /// Who acted, when it was not the user themself (an admin).
    pub actor: Option<UserId>,
    pub event: &'static str,
    pub outcome: &'static str,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: uuid::Uuid,
    pub event: String,
    pub outcome: String,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
    pub created_at: OffsetDateTime,
}

/// The audit trail.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    async fn record(&self, event: AuditEvent) -> RepoResult<()>;
    /// A user's newest events first.
    async fn recent(&self, user_id: UserId, limit: i64) -> RepoResult<Vec<AuditRecord>>;
    /// Deletes events older than `before`; returns how many.
    async fn purge(&self, before: OffsetDateTime) -> RepoResult<u64>;
}

/// A user's TOTP factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTotp {
    /// The secret sealed under `MFA_ENCRYPTION_KEY` (see `mfa::MfaKey`).
    pub sealed: Vec<u8>,
    /// `false` while set-up waits for its first correct code.
    pub confirmed: bool,
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub user_id: UserId,
    /// How the first factor was passed.
    pub amr: Amr,
}

/// Second factors: TOTP secrets, recovery codes, and the sign-ins waiting for
/// one. Each method that spends something (a code's step, a recovery code, a
/// challenge) does so atomically: under concurrent use it works once.
#[async_trait]
pub trait MfaRepository: Send + Sync + 'static {
    /// The user's TOTP factor, confirmed or pending.
    async fn totp(&self, user_id: UserId) -> RepoResult<Option<StoredTotp>>;

    /// Stores a pending secret, replacing an earlier pending one; `false` when
    /// the user has a confirmed factor already.
    async fn begin_totp(&self, user_id: UserId, sealed: &[u8]) -> RepoResult<bool>;

    /// Confirms the pending factor, records `step` as used and replaces the
    /// recovery codes with `codes`, in one transaction; `false` when nothing
    /// was pending.
    async fn confirm_totp(
        &self,
        user_id: UserId,
        step: i64,
        codes: &[[u8; 32]],
    ) -> RepoResult<bool>;

    /// Records `step` as used unless a step at or after it was: `false` for a
    /// replayed code.
    async fn use_totp_step(&self, user_id: UserId, step: i64) -> RepoResult<bool>;

    /// Removes the TOTP factor and the recovery codes; `false` when there was none.
    async fn disable_totp(&self, user_id: UserId) -> RepoResult<bool>;

    /// Spends one unused recovery code; `false` when there is none with that digest.
    async fn use_recovery_code(&self, user_id: UserId, hash: &[u8; 32]) -> RepoResult<bool>;

    /// Replaces every recovery code of the user.
    async fn replace_recovery_codes(&self, user_id: UserId, codes: &[[u8; 32]]) -> RepoResult<()>;

    /// Unused recovery codes.
    async fn recovery_codes_left(&self, user_id: UserId) -> RepoResult<i64>;

    /// Stores a challenge under `hash`, dropping the user's expired ones.
    async fn create_challenge(
        &self,
        hash: &TokenHash,
        challenge: &MfaChallenge,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()>;

    /// The challenge if it exists and is unexpired at `now`.
    async fn find_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<MfaChallenge>>;

    /// Spends one of the challenge's attempts before a factor is judged, in
    /// one conditional statement: the challenge if it is unexpired at `now`
    /// and had fewer than `max_attempts`; `None` otherwise.
    async fn attempt_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_attempts: i32,
    ) -> RepoResult<Option<MfaChallenge>>;

    /// Removes every second factor of the user (passkeys, TOTP, recovery
    /// codes, pending challenges): an administrator's answer to factors a
    /// thief added. Returns how many factors went.
    async fn remove_all_factors(&self, user_id: UserId) -> RepoResult<u64>;

    /// Deletes the challenge: `true` for the one caller that took it.
    async fn take_challenge(&self, hash: &TokenHash) -> RepoResult<bool>;

    /// Deletes challenges expired before `before`; returns how many.
    async fn purge_challenges(&self, before: OffsetDateTime) -> RepoResult<u64>;
}
