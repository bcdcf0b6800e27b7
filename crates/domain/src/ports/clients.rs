//! API clients (resource servers that introspect and revoke tokens).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::RepoResult;
use crate::ids::{ClientId, UserId};
use crate::oidc::ClientSettings;
use crate::refresh::{RefreshToken, TokenHash};
use crate::user::DisplayName;
use crate::validation::FieldError;

/// A client secret as handed out once: the same 256-bit base64url form as a
/// refresh token, and stored the same way (SHA-256).
pub type ClientSecret = RefreshToken;

/// A registered client, as stored (never with its secret): an API client
/// (introspection, revocation, `client_credentials`) or, with redirect URIs,
/// a relying party of the OpenID provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub id: ClientId,
    pub name: ClientName,
    /// The SHA-256 of its secret; `None` for a public client (a browser or
    /// native app, which cannot keep one: it proves itself with PKCE).
    pub secret_hash: Option<TokenHash>,
    pub created_at: OffsetDateTime,
    /// The admin who made it; `None` from the command line.
    pub created_by: Option<UserId>,
    pub settings: ClientSettings,
}

impl ApiClient {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

/// A client's display name: the rules of a person's ([`DisplayName`]):
/// trimmed, 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(DisplayName);

impl ClientName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        DisplayName::parse(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[async_trait]
pub trait ApiClientRepository: Send + Sync + 'static {
    async fn create(&self, client: ApiClient) -> RepoResult<ApiClient>;
    async fn find(&self, id: ClientId) -> RepoResult<Option<ApiClient>>;
    /// Every client, oldest first.
    async fn list(&self) -> RepoResult<Vec<ApiClient>>;
    /// `false` when there was no such client.
    async fn delete(&self, id: ClientId) -> RepoResult<bool>;
}
