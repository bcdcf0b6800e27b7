//! API clients (resource servers that introspect and revoke tokens).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::RepoResult;
use crate::ids::{ClientId, UserId};
use crate::refresh::{RefreshToken, TokenHash};
use crate::user::DisplayName;
use crate::validation::FieldError;

/// A client secret as handed out once: the same 256-bit base64url form as a
/// refresh token, and stored the same way (SHA-256).
pub type ClientSecret = RefreshToken;

/// A registered client, as stored (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub id: ClientId,
    pub name: ClientName,
    pub secret_hash: TokenHash,
    pub created_at: OffsetDateTime,
    /// The admin who made it; `None` from the command line.
    pub created_by: Option<UserId>,
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
