//! Errors of the domain: what storage can report, and what the auth services can.

use crate::validation::ValidationErrors;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a repository can fail with. Constraint violations that mean something to
/// a user are their own variants; everything else is opaque.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("this email address is already registered")]
    EmailTaken,
    #[error("this provider account is already linked")]
    OAuthAccountTaken,
    #[error("storage is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("storage operation failed")]
    Other(#[source] BoxError),
}

impl RepoError {
    pub fn other(error: impl Into<BoxError>) -> Self {
        Self::Other(error.into())
    }
}

/// What the auth services can fail with. The HTTP layer maps each variant to a
/// status and a stable problem code; only `Repo` and `Internal` are server faults,
/// and their details are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationErrors),
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("this email address is already registered")]
    EmailTaken,
    /// The request carries no valid credentials; the reason is safe to show.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A rotated refresh token was presented again; its session is now revoked.
    #[error("refresh token was already used; the session has been revoked")]
    TokenReused,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("storage failed")]
    Repo(#[source] RepoError),
    #[error("internal error: {0}")]
    Internal(String),
    /// A sign-in with an external identity provider failed.
    #[error(transparent)]
    OAuth(crate::oauth::OAuthFailure),
}

impl AuthError {
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
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
