//! Token introspection (RFC 7662) and revocation (RFC 7009) on `AuthService`.

use time::OffsetDateTime;

use super::AuthService;
use crate::audit::{AuditKind, Outcome};
use crate::client_info::ClientInfo;
use crate::error::AuthError;
use crate::introspection::{ActiveToken, TokenKind, guess};
use crate::refresh::RefreshToken;
use crate::user::Session;

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
            client: session.client,
            exp,
            iat,
        }))
    }

    /// An access token's session (as `/me` finds it) with the token's `exp`
    /// and `iat`; `None` for a token that does not verify.
    async fn access_session(&self, token: &str) -> Result<Option<(Session, i64, i64)>, AuthError> {
        let Ok(verified) = self
            .access_tokens()
            .verify_cached(token, self.verified.as_deref())
        else {
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
        if !self
            .sessions
            .revoke(user_id, active.session_id)
            .await?
            .is_empty()
        {
            self.audit
                .record(
                    AuditKind::TokenRevoked,
                    Outcome::Success,
                    Some(user_id),
                    client,
                )
                .await;
            tracing::info!(%user_id, session_id = %active.session_id, "session revoked by an API client");
        }
        Ok(())
    }
}
