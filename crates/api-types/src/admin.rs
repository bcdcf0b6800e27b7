//! The admin API.

use crate::auth::{SessionDto, UserDto};
use crate::federation::OAuthAccountDto;
use crate::passkeys::PasskeyDto;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A user as the listing shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUserDto {
    pub id: Uuid,
    #[cfg_attr(feature = "openapi", schema(example = "ada@example.com"))]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(example = "Ada Lovelace"))]
    pub name: String,
    pub email_verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(example = json!(["admin"])))]
    pub roles: Vec<String>,
    pub disabled: bool,
}

/// `GET /api/v1/admin/users`'s query.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ListUsersQuery {
    /// Users whose email address starts with this (any letter case); no
    /// control characters.
    #[cfg_attr(
        feature = "openapi",
        param(
            max_length = 254,
            example = "ada",
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
        )
    )]
    pub query: Option<String>,
    /// Only users created at or after this time (RFC 3339).
    #[cfg_attr(feature = "openapi", param(format = DateTime))]
    pub created_after: Option<String>,
    /// Only users created before this time (RFC 3339).
    #[cfg_attr(feature = "openapi", param(format = DateTime))]
    pub created_before: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (1–100; default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserListResponse {
    /// Newest first.
    pub users: Vec<AdminUserDto>,
    /// Pass as `cursor` for the next page; `null` on the last one. Opaque.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminMfaDto {
    /// TOTP is on.
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: Vec<PasskeyDto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUserResponse {
    pub user: UserDto,
    #[cfg_attr(feature = "openapi", schema(example = json!(["admin"])))]
    pub roles: Vec<String>,
    pub disabled: bool,
    /// Active sessions, newest first (`current` is always false here).
    pub sessions: Vec<SessionDto>,
    pub oauth_accounts: Vec<OAuthAccountDto>,
    pub mfa: AdminMfaDto,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetRolesRequest {
    /// The user's roles after the change (replaces them all; at most 32).
    /// Names: a lower-case letter, then lower-case letters, digits, `_ . : -`.
    #[cfg_attr(feature = "openapi", schema(example = json!(["admin", "billing:read"])))]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolesResponse {
    #[cfg_attr(feature = "openapi", schema(example = json!(["admin", "billing:read"])))]
    pub roles: Vec<String>,
}

/// A client to register: with a name only, an API client (introspection,
/// revocation, `client_credentials`); with redirect URIs, an application that
/// signs its users in through the OpenID provider.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateClientRequest {
    /// What the client is (1–100 characters; shown on the consent page).
    #[cfg_attr(feature = "openapi", schema(example = "billing-service"))]
    pub name: String,
    /// Where the provider may send authorization responses, matched byte for
    /// byte (a redirect URI on `http://127.0.0.1` or `http://[::1]` admits any
    /// port, RFC 8252). At most 20; https, loopback http or a reverse-domain
    /// scheme; no fragment.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = json!(["https://app.example.com/callback"])))]
    pub redirect_uris: Vec<String>,
    /// Where `/oauth2/logout` may send the browser afterwards (byte for byte).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens are POSTed (https in production).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// A browser or native app that cannot keep a secret: no secret, PKCE required.
    #[serde(default)]
    pub public: bool,
    /// Trusted: never asked for consent; always given refresh tokens.
    #[serde(default)]
    pub first_party: bool,
    /// The scopes it may ask for (absent: every supported scope).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = json!(["openid", "profile", "email"])))]
    pub scopes: Option<Vec<String>>,
    /// `RS256` (default), or `ES256` / `EdDSA` when the access-token key
    /// (`JWT_ALGORITHM`) is that algorithm; another is refused (422).
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
}

/// A new client: the secret is shown here and never again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedClientResponse {
    pub client_id: Uuid,
    /// 256 random bits, base64url (safe in HTTP Basic). Store it like a
    /// password; it cannot be shown again (delete the client and make another
    /// to replace it). Absent for a public client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(example = "kJ3vQ0m1xP6s9Yt2Lw8fR4nB7cZ5aE1dH0uG3iK6oMq")
    )]
    pub client_secret: Option<String>,
    #[serde(flatten)]
    pub client: ClientSettingsDto,
}

/// A registered client as listed (never a secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientDto {
    pub client_id: Uuid,
    #[serde(flatten)]
    pub client: ClientSettingsDto,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// The admin who made it; `null` when made on the command line.
    pub created_by: Option<Uuid>,
}

/// What a client is registered with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientSettingsDto {
    #[cfg_attr(feature = "openapi", schema(example = "billing-service"))]
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub public: bool,
    pub first_party: bool,
    pub scopes: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(example = "RS256"))]
    pub id_token_signed_response_alg: String,
}
