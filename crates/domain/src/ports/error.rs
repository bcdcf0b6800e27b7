//! What the ports fail with: storage and identity providers.

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a repository can fail with. Constraint violations that mean something to
/// a user are their own variants; everything else is opaque.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("this email address is already registered")]
    EmailTaken,
    #[error("this provider account is already linked")]
    OAuthAccountTaken,
    #[error("this passkey is already registered")]
    PasskeyTaken,
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

/// A provider failure, as the caller may see it (never a token or a code).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached, timed out or answered garbage: 502.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the code, or its answer failed validation (ID token
    /// signature, issuer, audience, expiry, nonce): 400.
    #[error("the identity provider's answer was rejected: {0}")]
    Rejected(String),
}
