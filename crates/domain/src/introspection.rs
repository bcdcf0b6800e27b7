//! Token introspection (RFC 7662) and revocation (RFC 7009) for the other
//! services of a platform. An access token is checked exactly as `/me` checks
//! it (the verified-token cache, then its session and user from the two-tier
//! cache), so a logout anywhere makes it inactive at once; a refresh token is
//! looked up by its digest. Neither answer ever says why a token is inactive.

use time::OffsetDateTime;

use crate::auth::{AuthService, ClientInfo, SUCCESS};
use crate::error::AuthError;
use crate::ids::SessionId;
use crate::refresh::RefreshToken;
use crate::user::{Session, User};

/// RFC 7662 `token_type_hint` / RFC 7009's: where to look first. A wrong hint
/// only costs the other lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    AccessToken,
    RefreshToken,
}

impl TokenKind {
    /// RFC 7662 §2.1: an unknown hint is ignored, not refused.
    pub fn from_hint(hint: Option<&str>) -> Option<Self> {
        match hint? {
            "access_token" => Some(Self::AccessToken),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }

    fn other(self) -> Self {
        match self {
            Self::AccessToken => Self::RefreshToken,
            Self::RefreshToken => Self::AccessToken,
        }
    }
}

/// An active token: what introspection may tell its client.
#[derive(Debug)]
pub struct ActiveToken {
    pub kind: TokenKind,
    /// The user as they are now (their current roles, not the token's).
    pub user: User,
    pub session_id: SessionId,
    /// Unix seconds: the access token's own, or the session's end for a
    /// refresh token (whose `iat` is its last rotation).
    pub exp: i64,
    pub iat: i64,
}

impl AuthService {
    /// The token, if it is active: valid, unexpired, its session active and
    /// its user neither gone nor disabled. `None` for everything else.
    pub async fn introspect(
        &self,
        token: &str,
        hint: Option<TokenKind>,
    ) -> Result<Option<ActiveToken>, AuthError> {
        let first = hint.unwrap_or_else(|| guess(token));
        if let Some(active) = self.introspect_as(token, first).await? {
            return Ok(Some(active));
        }
        self.introspect_as(token, first.other()).await
    }

    async fn introspect_as(
        &self,
        token: &str,
        kind: TokenKind,
    ) -> Result<Option<ActiveToken>, AuthError> {
        let now = OffsetDateTime::now_utc();
        let Some((session, exp, iat)) = (match kind {
            TokenKind::AccessToken => self.access_session(token).await?,
            TokenKind::RefreshToken => self.refresh_session(token).await?.map(|session| {
                let (exp, iat) = (session.expires_at, session.last_used_at);
                (session, exp.unix_timestamp(), iat.unix_timestamp())
            }),
        }) else {
            return Ok(None);
        };
        if !session.is_active(now) {
            return Ok(None);
        }
        let user = self.users.find_by_id(session.user_id).await?;
        Ok(user.filter(|u| !u.disabled).map(|user| ActiveToken {
            kind,
            user,
            session_id: session.id,
            exp,
            iat,
        }))
    }

    /// An access token's session (as `/me` finds it) with the token's `exp`
    /// and `iat`; `None` for a token that does not verify.
    async fn access_session(&self, token: &str) -> Result<Option<(Session, i64, i64)>, AuthError> {
        let Ok(verified) = self.keys().verify_cached(token, self.verified.as_deref()) else {
            return Ok(None);
        };
        let session = self.sessions.find_by_id(verified.session_id).await?;
        Ok(session
            .filter(|s| s.user_id == verified.user_id)
            .map(|s| (s, verified.exp, verified.iat)))
    }

    /// The session whose current refresh token this is.
    async fn refresh_session(&self, token: &str) -> Result<Option<Session>, AuthError> {
        let Some(token) = RefreshToken::parse(token) else {
            return Ok(None);
        };
        Ok(self.sessions.find_by_refresh_token(&token.hash()).await?)
    }

    /// RFC 7009: ends the session of an active access or refresh token, on
    /// every instance at once. Anything else is already unusable: nothing to do,
    /// and the caller is told nothing different.
    pub async fn revoke_token(
        &self,
        token: &str,
        hint: Option<TokenKind>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let Some(active) = self.introspect(token, hint).await? else {
            return Ok(());
        };
        let user_id = active.user.id;
        if self.sessions.revoke(user_id, active.session_id).await? {
            self.audit("token_revoked", SUCCESS, Some(user_id), client)
                .await;
            tracing::info!(%user_id, session_id = %active.session_id, "session revoked by an API client");
        }
        Ok(())
    }
}

/// Without a hint: a JWT has dots, a refresh token never does.
fn guess(token: &str) -> TokenKind {
    if token.contains('.') {
        TokenKind::AccessToken
    } else {
        TokenKind::RefreshToken
    }
}
