//! Upstream identity providers, the accounts they sign in, and the logins
//! waiting for their callback.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::ProviderError;
use super::RepoResult;
use crate::amr::Amr;
use crate::ids::UserId;
use crate::refresh::TokenHash;
use crate::user::{NewOAuthAccount, OAuthAccount, ProviderName};

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

/// The parameters of an authorization request, made by `FederationService`.
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
