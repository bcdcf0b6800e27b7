//! The admin API's domain values as the contract shows them.

use crate::dto::*;
use api_types::*;
use domain::oidc::{RegisteredUri, RegistrationRequest};
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

pub(crate) fn created_client(
    client: ApiClient,
    secret: Option<&ClientSecret>,
) -> CreatedClientResponse {
    CreatedClientResponse {
        client_id: client.id.as_uuid(),
        client_secret: secret.map(|secret| secret.expose().to_owned()),
        client: settings_dto(&client),
    }
}

fn settings_dto(client: &ApiClient) -> ClientSettingsDto {
    let settings = &client.settings;
    ClientSettingsDto {
        name: client.name.as_str().to_owned(),
        redirect_uris: RegisteredUri::strings(&settings.redirect_uris),
        post_logout_redirect_uris: RegisteredUri::strings(&settings.post_logout_redirect_uris),
        backchannel_logout_uri: settings
            .backchannel_logout_uri
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        public: client.is_public(),
        first_party: settings.first_party,
        scopes: settings.scopes.names(),
        id_token_signed_response_alg: settings.id_token_algorithm.as_str().to_owned(),
    }
}

impl ToDto for ApiClient {
    type Dto = ClientDto;
    fn to_dto(self) -> ClientDto {
        ClientDto {
            client_id: self.id.as_uuid(),
            client: settings_dto(&self),
            created_at: self.created_at,
            created_by: self.created_by.map(|id| id.as_uuid()),
        }
    }
}

pub(crate) fn registration_request(body: CreateClientRequest) -> RegistrationRequest {
    RegistrationRequest {
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        backchannel_logout_uri: body.backchannel_logout_uri,
        public: body.public,
        first_party: body.first_party,
        scopes: body.scopes,
        id_token_signed_response_alg: body.id_token_signed_response_alg,
    }
}
