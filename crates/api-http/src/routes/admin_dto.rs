//! The admin API's JSON shapes.

use domain::{admin::UserDetail, ports::ApiClient, ports::ClientSecret, user::User};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::dto::{SessionDto, UserDto};
use crate::routes::federation::OAuthAccountDto;
use crate::routes::passkeys::PasskeyDto;

/// A user as the listing shows them.
#[derive(Serialize, ToSchema)]
pub struct AdminUserDto {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    pub email_verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    #[schema(example = json!(["admin"]))]
    pub roles: Vec<String>,
    pub disabled: bool,
}

impl From<User> for AdminUserDto {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name,
            email_verified: user.email_verified,
            created_at: user.created_at,
            updated_at: user.updated_at,
            roles: user.roles,
            disabled: user.disabled,
        }
    }
}

/// `GET /api/v1/admin/users`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Users whose email address starts with this (any letter case); no
    /// control characters.
    #[param(
        max_length = 254,
        example = "ada",
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub query: Option<String>,
    /// Only users created at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub created_after: Option<String>,
    /// Only users created before this time (RFC 3339).
    #[param(format = DateTime)]
    pub created_before: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (1–100; default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UserListResponse {
    /// Newest first.
    pub users: Vec<AdminUserDto>,
    /// Pass as `cursor` for the next page; `null` on the last one. Opaque.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminMfaDto {
    /// TOTP is on.
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: Vec<PasskeyDto>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminUserResponse {
    pub user: UserDto,
    #[schema(example = json!(["admin"]))]
    pub roles: Vec<String>,
    pub disabled: bool,
    /// Active sessions, newest first (`current` is always false here).
    pub sessions: Vec<SessionDto>,
    pub oauth_accounts: Vec<OAuthAccountDto>,
    pub mfa: AdminMfaDto,
}

impl From<UserDetail> for AdminUserResponse {
    fn from(detail: UserDetail) -> Self {
        let roles = detail.user.roles.clone();
        let disabled = detail.user.disabled;
        Self {
            user: UserDto::new(detail.user, detail.profile),
            roles,
            disabled,
            sessions: detail
                .sessions
                .into_iter()
                .map(|s| SessionDto::new(s, None))
                .collect(),
            oauth_accounts: detail.oauth_accounts.into_iter().map(Into::into).collect(),
            mfa: AdminMfaDto {
                totp: detail.totp,
                recovery_codes_left: detail.recovery_codes_left,
                passkeys: detail.passkeys.into_iter().map(Into::into).collect(),
            },
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SetRolesRequest {
    /// The user's roles after the change (replaces them all; at most 32).
    /// Names: a lower-case letter, then lower-case letters, digits, `_ . : -`.
    #[schema(example = json!(["admin", "billing:read"]))]
    pub roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RolesResponse {
    #[schema(example = json!(["admin", "billing:read"]))]
    pub roles: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateClientRequest {
    /// What the client is (1–100 characters).
    #[schema(example = "billing-service")]
    pub name: String,
}

/// A new client: the secret is shown here and never again.
#[derive(Serialize, ToSchema)]
pub struct CreatedClientResponse {
    pub client_id: Uuid,
    /// 256 random bits, base64url. Store it like a password; it cannot be
    /// shown again (delete the client and make another to replace it).
    #[schema(example = "kJ3vQ0m1xP6s9Yt2Lw8fR4nB7cZ5aE1dH0uG3iK6oMq")]
    pub client_secret: String,
    #[schema(example = "billing-service")]
    pub name: String,
}

impl CreatedClientResponse {
    pub fn new(client: ApiClient, secret: &ClientSecret) -> Self {
        Self {
            client_id: client.id.as_uuid(),
            client_secret: secret.expose().to_owned(),
            name: client.name.as_str().to_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ClientDto {
    pub client_id: Uuid,
    #[schema(example = "billing-service")]
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The admin who made it; `null` when made on the command line.
    pub created_by: Option<Uuid>,
}

impl From<ApiClient> for ClientDto {
    fn from(client: ApiClient) -> Self {
        Self {
            client_id: client.id.as_uuid(),
            name: client.name.as_str().to_owned(),
            created_at: client.created_at,
            created_by: client.created_by.map(|id| id.as_uuid()),
        }
    }
}
