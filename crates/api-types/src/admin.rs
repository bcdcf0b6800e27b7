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

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateClientRequest {
    /// What the client is (1–100 characters).
    #[cfg_attr(feature = "openapi", schema(example = "billing-service"))]
    pub name: String,
}

/// A new client: the secret is shown here and never again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedClientResponse {
    pub client_id: Uuid,
    /// 256 random bits, base64url. Store it like a password; it cannot be
    /// shown again (delete the client and make another to replace it).
    #[cfg_attr(
        feature = "openapi",
        schema(example = "kJ3vQ0m1xP6s9Yt2Lw8fR4nB7cZ5aE1dH0uG3iK6oMq")
    )]
    pub client_secret: String,
    #[cfg_attr(feature = "openapi", schema(example = "billing-service"))]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientDto {
    pub client_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(example = "billing-service"))]
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// The admin who made it; `null` when made on the command line.
    pub created_by: Option<Uuid>,
}
