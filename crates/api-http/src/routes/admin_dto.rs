//! The admin API's domain values as the contract shows them.

use crate::dto::*;
use api_types::*;
use domain::{admin::UserDetail, ports::ApiClient, ports::ClientSecret, user::User};

impl ToDto for User {
    type Dto = AdminUserDto;
    fn to_dto(self) -> AdminUserDto {
        let user = self;
        AdminUserDto {
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

impl ToDto for UserDetail {
    type Dto = AdminUserResponse;
    fn to_dto(self) -> AdminUserResponse {
        let detail = self;
        let roles = detail.user.roles.clone();
        let disabled = detail.user.disabled;
        AdminUserResponse {
            user: user_dto(detail.user, detail.profile),
            roles,
            disabled,
            sessions: detail
                .sessions
                .into_iter()
                .map(|s| session_dto(s, None))
                .collect(),
            oauth_accounts: detail
                .oauth_accounts
                .into_iter()
                .map(ToDto::to_dto)
                .collect(),
            mfa: AdminMfaDto {
                totp: detail.totp,
                recovery_codes_left: detail.recovery_codes_left,
                passkeys: detail.passkeys.into_iter().map(ToDto::to_dto).collect(),
            },
        }
    }
}

pub(crate) fn created_client(client: ApiClient, secret: &ClientSecret) -> CreatedClientResponse {
    CreatedClientResponse {
        client_id: client.id.as_uuid(),
        client_secret: secret.expose().to_owned(),
        name: client.name.as_str().to_owned(),
    }
}

impl ToDto for ApiClient {
    type Dto = ClientDto;
    fn to_dto(self) -> ClientDto {
        let client = self;
        ClientDto {
            client_id: client.id.as_uuid(),
            name: client.name.as_str().to_owned(),
            created_at: client.created_at,
            created_by: client.created_by.map(|id| id.as_uuid()),
        }
    }
}
