//! Token introspection (RFC 7662) and revocation (RFC 7009) for the other
//! services of a platform. An access token is checked exactly as `/me` checks
//! it (the verified-token cache, then its session and user from the two-tier
//! cache), so a logout anywhere makes it inactive at once; a refresh token is
//! looked up by its digest. Neither answer ever says why a token is inactive.
//! The data is here; the checks are `AuthService`'s (`auth/introspection.rs`).

use crate::ids::{ClientId, SessionId};
use crate::oidc::Scopes;
use crate::user::{ClientSession, User};

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

    pub(crate) fn other(self) -> Self {
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
    /// `Some` for a token the provider issued to an application: its client
    /// and granted scopes.
    pub client: Option<ClientSession>,
    /// Unix seconds: the access token's own, or the session's end for a
    /// refresh token (whose `iat` is its last rotation).
    pub exp: i64,
    pub iat: i64,
}

impl ActiveToken {
    /// The relying party it was issued to (`None`: the platform's own).
    pub fn owner(&self) -> Option<ClientId> {
        self.client.map(|c| c.client_id)
    }
}

/// An active `client_credentials` token: the client acts for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveClientToken {
    /// Its `jti` (what revoking it remembers).
    pub jti: uuid::Uuid,
    pub client_id: ClientId,
    pub scopes: Scopes,
    pub exp: i64,
    pub iat: i64,
}

/// What introspection found active.
#[derive(Debug)]
pub enum Introspected {
    /// A user's token (the platform's or a relying party's).
    User(ActiveToken),
    /// A client's own (`client_credentials`).
    Client(ActiveClientToken),
}

/// Without a hint: a JWT has dots, a refresh token never does.
pub(crate) fn guess(token: &str) -> TokenKind {
    if token.contains('.') {
        TokenKind::AccessToken
    } else {
        TokenKind::RefreshToken
    }
}
