//! The OpenID provider's storage: authorization requests kept across sign-in
//! and consent, authorization codes (their SHA-256 only), and consents.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::RepoResult;
use crate::ids::{ClientId, SessionId, UserId};
use crate::oidc::Scopes;
use crate::refresh::TokenHash;
use crate::user::Session;

/// What `prompt` asked for (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A checked authorization request, kept by id (the browser carries only
/// the id across sign-in and consent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    pub id: Uuid,
    pub client_id: ClientId,
    /// As presented (it matched a registered one); the token request must
    /// present it again, byte for byte.
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 challenge (base64url of a SHA-256).
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// Seconds.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// The user a valid `id_token_hint` named.
    pub hinted_user: Option<UserId>,
    pub acr_values: Option<String>,
    /// Pushed (RFC 9126): used once, by `request_uri`.
    pub pushed: bool,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// An authorization code as stored: its hash and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    pub hash: TokenHash,
    pub client_id: ClientId,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub user_id: UserId,
    /// The browser session the user authorized from.
    pub session_id: SessionId,
    pub scopes: Scopes,
    pub nonce: Option<String>,
    pub acr_requested: bool,
    pub expires_at: OffsetDateTime,
}

/// What redeeming a code must match, and the client session it opens.
#[derive(Debug, Clone)]
pub struct Redemption {
    pub hash: TokenHash,
    pub client_id: ClientId,
    pub redirect_uri: String,
    /// The S256 challenge computed from the presented verifier (`None`: no
    /// verifier was presented).
    pub code_challenge: Option<String>,
    /// The client session to open: its id and first refresh token's hash.
    pub session_id: SessionId,
    pub refresh_token_hash: TokenHash,
    pub user_agent: Option<String>,
    pub ip: Option<std::net::IpAddr>,
    pub now: OffsetDateTime,
}

/// What redeeming a code did, decided atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code was good: it is spent and the client session is open (a
    /// child of the browser session, with its `amr`, expiring with it).
    Opened {
        session: Session,
        /// When the user signed in (the browser session's start).
        signed_in_at: OffsetDateTime,
        nonce: Option<String>,
        acr_requested: bool,
    },
    /// The code was already spent: the sessions its first use opened (and
    /// their children) are revoked — returned for the caches.
    Reused { ended: Vec<SessionId> },
    /// Unknown, expired, another client's, another redirect URI, a PKCE
    /// mismatch, or its browser session has ended: nothing changed.
    Refused,
}

/// A consent: what a user allowed a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user_id: UserId,
    pub client_id: ClientId,
    pub scopes: Scopes,
    pub granted_at: OffsetDateTime,
}

#[async_trait]
pub trait ProviderRepository: Send + Sync + 'static {
    async fn save_request(&self, request: &StoredRequest) -> RepoResult<()>;
    /// An unexpired, not pushed request.
    async fn find_request(
        &self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> RepoResult<Option<StoredRequest>>;
    /// A pushed request of `client`, unexpired: it stops being a pushed one
    /// (single use) and is returned as the request the browser now follows.
    async fn take_pushed(
        &self,
        id: Uuid,
        client: ClientId,
        now: OffsetDateTime,
    ) -> RepoResult<Option<StoredRequest>>;
    /// Forgets a request once answered.
    async fn delete_request(&self, id: Uuid) -> RepoResult<()>;

    async fn save_code(&self, code: &NewCode) -> RepoResult<()>;
    /// Spends a code and opens its client session in one statement, or
    /// revokes what a first use opened when it is spent already.
    async fn redeem(&self, redemption: &Redemption) -> RepoResult<Redeemed>;

    async fn grant(&self, user: UserId, client: ClientId) -> RepoResult<Option<Grant>>;
    /// Adds `scopes` to the user's consent for the client.
    async fn save_grant(&self, user: UserId, client: ClientId, scopes: Scopes) -> RepoResult<()>;
    /// The user's consents, newest first.
    async fn grants(&self, user: UserId) -> RepoResult<Vec<Grant>>;
    /// Forgets a consent and ends that client's sessions of the user;
    /// `None` when there was no consent, else the sessions ended.
    async fn revoke_grant(
        &self,
        user: UserId,
        client: ClientId,
    ) -> RepoResult<Option<Vec<SessionId>>>;
    /// Remembers a revoked `client_credentials` token until `expires_at`.
    async fn revoke_client_token(
        &self,
        jti: Uuid,
        client: ClientId,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()>;
    /// Whether a `client_credentials` token was revoked.
    async fn client_token_revoked(&self, jti: Uuid) -> RepoResult<bool>;
    /// Drops expired requests, codes and revocations; how many.
    async fn purge_expired(&self, now: OffsetDateTime) -> RepoResult<u64>;
}

/// A back-channel logout waiting in the outbox, claimed by one sender: the
/// client to tell, where, and about which session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedLogout {
    pub id: i64,
    pub attempts: i32,
    pub client_id: ClientId,
    /// The client's `backchannel_logout_uri` as registered now.
    pub uri: String,
    /// The algorithm the client's ID tokens (and so its logout tokens) use.
    pub algorithm: crate::oidc::IdTokenAlgorithm,
    pub user_id: UserId,
    /// The browser session (the ID tokens' `sid`).
    pub sid: SessionId,
}

/// The back-channel logout outbox, as the background sender sees it. Rows
/// are queued by the storage itself in the transaction that ends a client
/// session (whatever ends it), never by a service.
#[async_trait]
pub trait LogoutOutbox: Send + Sync + 'static {
    /// Claims up to `limit` due logouts for `lease` (no other sender takes
    /// them meanwhile; a sender that dies lets its lease run out). Logouts
    /// whose client is gone or no longer has a logout URI are dropped.
    async fn claim(&self, limit: i64, lease: std::time::Duration) -> RepoResult<Vec<QueuedLogout>>;
    /// The relying party acknowledged it: forgotten.
    async fn delivered(&self, id: i64) -> RepoResult<()>;
    /// It failed: retry at `retry_at`, or give up (`None`).
    async fn failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> RepoResult<()>;
    /// Logouts neither delivered nor given up on.
    async fn pending(&self) -> RepoResult<i64>;
    /// Ends the client sessions that reached their expiry unrevoked (which
    /// queues their logouts); how many.
    async fn end_expired(&self, now: OffsetDateTime) -> RepoResult<u64>;
    /// Returns when a logout may have been queued (by any instance), or after
    /// `timeout`.
    async fn wait(&self, timeout: std::time::Duration);
}
