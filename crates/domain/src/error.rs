//! Errors of the domain: what storage can report, why a request is refused, and
//! what the auth services can fail with.
//!
//! Refusals are data ([`Denial`], [`Resource`]), matched by variant, never by
//! their text; internal failures keep their source chain for the one log line
//! that reports them.

use std::fmt;

use crate::password::{HashError, NewPasswordError};
pub use crate::ports::{BoxError, ProviderError, RepoError};
use crate::tokens::TokenError;
use crate::validation::ValidationErrors;

/// Why a request carries no usable credentials (401). Each reason is safe to
/// show: none tells an attacker more than "this token does not work".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No `Authorization` header.
    MissingToken,
    /// An `Authorization` header that is not `Bearer <token>`.
    MalformedHeader,
    /// A token that does not verify (signature, algorithm, `typ`, `kid`, claims).
    InvalidToken,
    /// A valid token past its `exp`.
    Expired,
    /// The token's session was revoked, has expired, or its user is gone.
    SessionEnded,
    /// A refresh token that is unknown, malformed, revoked or expired.
    BadRefresh,
    /// A token the provider issued to a relying party, presented to the
    /// account API: an application signed in with this service may read
    /// userinfo, never act on the account.
    IssuedToApplication,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingToken => "missing bearer token",
            Self::MalformedHeader => "malformed Authorization header: expected `Bearer <token>`",
            Self::InvalidToken => "access token is invalid",
            Self::Expired => "access token has expired",
            Self::SessionEnded => "session has ended",
            Self::BadRefresh => "refresh token is invalid or expired",
            Self::IssuedToApplication => {
                "this token was issued to an application: it cannot act on the account"
            }
        })
    }
}

/// What a request named that does not exist (404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Session,
    LinkedProvider,
    Passkey,
    User,
    ApiClient,
    /// An application the user allowed (a consent).
    Grant,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Session => "session",
            Self::LinkedProvider => "linked provider",
            Self::Passkey => "passkey",
            Self::User => "user",
            Self::ApiClient => "API client",
            Self::Grant => "allowed application",
        })
    }
}

/// What the auth services can fail with. The HTTP layer maps each variant to a
/// status and a stable problem code; only `Repo` (other than the constraint
/// variants) and `Internal` are server faults, and their chains are logged,
/// never sent.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Validation(#[from] ValidationErrors),
    #[error("The email or password is incorrect.")]
    InvalidCredentials,
    #[error("An account with this email address already exists.")]
    EmailTaken,
    #[error("{0}")]
    Denied(Denial),
    /// A rotated refresh token was presented again; its session is now revoked.
    #[error("This refresh token was already used; the session has been revoked. Sign in again.")]
    TokenReused,
    #[error("No such {0}.")]
    NotFound(Resource),
    /// A reset or verification token that is unknown, used, expired or voided.
    #[error("This link is invalid or has expired; request a new one.")]
    LinkInvalid,
    /// A password reset or change to the password the account already has.
    #[error("The new password must differ from the current one.")]
    SamePassword,
    /// A sensitive operation on a session signed in too long ago: sign in
    /// again (step-up).
    #[error("Sign in again to do this: it needs a sign-in from the last {} s.", .max_age.whole_seconds())]
    ReauthenticationRequired { max_age: time::Duration },
    /// An `mfa_token` that is unknown, expired, completed or voided.
    #[error("This sign-in has expired or is complete; sign in again.")]
    InvalidMfaToken,
    /// A wrong TOTP or recovery code.
    #[error("The code is incorrect.")]
    InvalidCode,
    #[error("Two-factor authentication is already on; turn it off first to set it up again.")]
    MfaAlreadyEnabled,
    #[error(
        "Two-factor authentication is not on for this account (or its set-up was not started)."
    )]
    MfaNotEnabled,
    /// TOTP cannot be used: no `MFA_ENCRYPTION_KEY` in production.
    #[error("Two-factor authentication is not available on this server.")]
    MfaUnavailable,
    /// A WebAuthn answer that fails the ceremony (origin, RP id, challenge,
    /// signature, counter, user verification).
    #[error("The passkey's answer was not accepted.")]
    PasskeyRejected,
    /// A `challenge_id` that is unknown, expired, used, or another user's.
    #[error("This passkey request has expired or was already used; start again.")]
    ChallengeInvalid,
    /// Passkeys are not configured (`WEBAUTHN_RP_ID`, `WEBAUTHN_RP_ORIGIN`).
    #[error("Passkeys are not available on this server.")]
    PasskeysUnavailable,
    #[error("This account has as many passkeys as it may hold; remove one first.")]
    TooManyPasskeys,
    /// Adding a sign-in method (TOTP, a passkey, a provider link) to an
    /// account whose address nobody verified: whoever registered someone
    /// else's address must not plant a way in before its owner shows up.
    #[error(
        "Verify your email address first: sign-in methods and provider links need a verified address."
    )]
    EmailNotVerified,
    /// The account was disabled by an admin (its password was right).
    #[error("This account is disabled.")]
    AccountDisabled,
    /// Signed in, but without the role the operation needs.
    #[error("This needs the `{0}` role.")]
    Forbidden(&'static str),
    /// An admin disabling, deleting or demoting themself.
    #[error("An admin cannot disable, delete or take the admin role from their own account.")]
    SelfAdministration,
    /// An API client that is unknown, or whose secret is wrong (RFC 6749
    /// `invalid_client`). Never says which.
    #[error("Client authentication failed.")]
    InvalidClient,
    /// Too many failed sign-ins to this account from this client.
    #[error("Too many failed sign-ins; retry in {} s.", .retry_after.as_secs().max(1))]
    AccountLocked { retry_after: std::time::Duration },
    #[error("storage failed")]
    Repo(#[source] RepoError),
    /// A bug or a failure of the process itself (hashing, signing).
    #[error("internal error")]
    Internal(#[source] BoxError),
    /// A sign-in with an external identity provider failed.
    #[error(transparent)]
    OAuth(#[from] OAuthFailure),
}

impl From<Denial> for AuthError {
    fn from(denial: Denial) -> Self {
        Self::Denied(denial)
    }
}

impl From<RepoError> for AuthError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::EmailTaken => Self::EmailTaken,
            other => Self::Repo(other),
        }
    }
}

impl From<HashError> for AuthError {
    fn from(error: HashError) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<NewPasswordError> for AuthError {
    fn from(error: NewPasswordError) -> Self {
        match error {
            NewPasswordError::Weak(refusal) => Self::Validation(refusal.into()),
            NewPasswordError::Hash(error) => error.into(),
        }
    }
}

impl From<TokenError> for AuthError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Invalid => Self::Denied(Denial::InvalidToken),
            TokenError::Expired => Self::Denied(Denial::Expired),
            failure @ (TokenError::Signing(_) | TokenError::NoKey(_)) => {
                Self::Internal(Box::new(failure))
            }
        }
    }
}

/// Why an OAuth request failed; each maps to a status and a problem code.
#[derive(Debug, thiserror::Error)]
pub enum OAuthFailure {
    #[error("unknown identity provider {0:?}")]
    UnknownProvider(String),
    #[error("the login state is missing, unknown, expired, already used or from another browser")]
    InvalidState,
    #[error("the identity provider reported an error: {0}")]
    Denied(String),
    #[error("the callback's issuer does not match the identity provider")]
    IssuerMismatch,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("the identity provider shared no email address")]
    NoEmail,
    #[error(
        "an account with this email address exists; sign in to it and link this provider from there"
    )]
    AccountExists,
    #[error("this provider account is linked to another user")]
    LinkedElsewhere,
    #[error("this provider is already linked to your account")]
    AlreadyLinked,
    #[error("this is your only way to sign in; set a password or link another provider first")]
    LastSignInMethod,
    #[error("redirect_to is not an allowed destination")]
    RedirectNotAllowed,
    #[error(
        "the identity provider did not verify this email address, so it cannot create or claim an account; verify it with the provider, or sign up with a password"
    )]
    EmailUnverified,
}
