//! Sessions, and the cache of verified access tokens.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::RepoResult;
use crate::ids::{ClientId, SessionId, UserId};
use crate::refresh::TokenHash;
use crate::user::{NewSession, RotateOutcome, Session};

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
    /// `client` is whose token it must be (`None`: this platform's own front
    /// end); anyone else's is `NotFound`, and nothing is spent.
    async fn rotate(
        &self,
        presented: &TokenHash,
        successor: &TokenHash,
        now: OffsetDateTime,
        grace: time::Duration,
        client: Option<ClientId>,
    ) -> RepoResult<RotateOutcome>;

    /// Revokes one active session of `user_id` and the relying parties'
    /// sessions opened from it; returns every session ended (none when there
    /// was no such active session; the first is `id`).
    async fn revoke(&self, user_id: UserId, id: SessionId) -> RepoResult<Vec<SessionId>>;

    /// Revokes every active session of the user and voids their outstanding
    /// reset and email-change links, in one transaction; returns which sessions.
    async fn revoke_all(&self, user_id: UserId) -> RepoResult<Vec<SessionId>>;

    /// The session whose *current* refresh token has this hash, active or not
    /// (introspection and revocation); never rotates anything.
    async fn find_by_refresh_token(&self, hash: &TokenHash) -> RepoResult<Option<Session>>;
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
