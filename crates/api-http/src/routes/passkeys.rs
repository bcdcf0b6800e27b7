//! `/api/v1/auth/passkeys/*`: registering, listing, renaming and removing
//! passkeys, and the passwordless sign-in. `publicKey` and `credential` are the
//! WebAuthn JSON forms (binary fields base64url), so what
//! `navigator.credentials` returns is posted as is.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::ports::Passkey;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::dto::*;
use crate::error::{ApiError, Result};
use crate::extract::{AppJson, AuthUser, Client};
use crate::problems::{Bearer, Ceremony, Limited, Name, OwnPasskey, PasskeysOff, StepUp};
use crate::routes::auth::token_response;
use crate::state::AppState;
use api_types::*;

/// The routes counted against the client address's limit (the caller puts
/// the per-address layer on them).
pub(crate) fn limited() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_start))
        .routes(routes!(register_finish))
        .routes(routes!(login_start))
        .routes(routes!(login_finish))
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(rename, delete))
}

/// A path's passkey id; anything but a UUID names no passkey (404).
fn passkey_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::from(domain::error::Resource::Passkey))
}

impl ToDto for Passkey {
    type Dto = PasskeyDto;
    fn to_dto(self) -> PasskeyDto {
        let passkey = self;
        PasskeyDto {
            id: passkey.id,
            name: passkey.name,
            created_at: passkey.created_at,
            last_used_at: passkey.last_used_at,
        }
    }
}

/// Start registering a passkey for the signed-in user.
#[utoipa::path(
    post, path = paths::PASSKEY_REGISTER_START, tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Options for `navigator.credentials.create` (a discoverable credential; the account's passkeys excluded)", body = CeremonyResponse),
        (status = 409, description = "The account holds 20 passkeys (`too_many_passkeys`)"),
        Bearer, Limited, StepUp, PasskeysOff,
    )
)]
async fn register_start(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<CeremonyResponse>> {
    let (challenge_id, public_key) = state.passkeys.start_registration(&principal).await?;
    Ok(Json(CeremonyResponse {
        challenge_id,
        public_key,
    }))
}

/// Finish registering a passkey with the authenticator's answer.
#[utoipa::path(
    post, path = paths::PASSKEY_REGISTER_FINISH, tag = "passkeys",
    security(("bearer" = [])),
    request_body = RegisterFinishRequest,
    responses(
        (status = 201, description = "Registered", body = PasskeyDto),
        (status = 409, description = "The credential is registered already (`passkey_taken`)"),
        Bearer, Limited, StepUp, Name, Ceremony,
    )
)]
async fn register_finish(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
    AppJson(body): AppJson<RegisterFinishRequest>,
) -> Result<(StatusCode, Json<PasskeyDto>)> {
    let name = domain::passkey::parse_name(&body.name)?;
    let passkey = state
        .passkeys
        .finish_registration(
            &principal,
            body.challenge_id,
            name,
            &body.credential,
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(passkey.to_dto())))
}

/// The signed-in user's passkeys, oldest first.
#[utoipa::path(
    get, path = paths::PASSKEYS, tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The passkeys", body = [PasskeyDto]),
        Bearer,
    )
)]
async fn list(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<Vec<PasskeyDto>>> {
    let passkeys = state.passkeys.list(&principal).await?;
    Ok(Json(passkeys.into_iter().map(ToDto::to_dto).collect()))
}

/// Rename one of the user's passkeys.
#[utoipa::path(
    patch, path = paths::PASSKEY, tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id (UUID)")),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "Renamed", body = PasskeyDto),
        Bearer, Name, OwnPasskey,
    )
)]
async fn rename(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<RenameRequest>,
) -> Result<Json<PasskeyDto>> {
    let id = passkey_id(&id)?;
    let name = domain::passkey::parse_name(&body.name)?;
    let passkey = state.passkeys.rename(&principal, id, &name).await?;
    Ok(Json(passkey.to_dto()))
}

/// Remove one of the user's passkeys (needs a recent sign-in).
#[utoipa::path(
    delete, path = paths::PASSKEY, tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id (UUID)")),
    responses(
        (status = 204, description = "Removed"),
        Bearer, StepUp, OwnPasskey,
    )
)]
async fn delete(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = passkey_id(&id)?;
    state.passkeys.delete(&principal, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start a passwordless sign-in: the authenticator offers the user's passkeys
/// for this site, no address typed.
#[utoipa::path(
    post, path = paths::PASSKEY_LOGIN_START, tag = "passkeys",
    responses(
        (status = 200, description = "Options for `navigator.credentials.get` (no `allowCredentials`)", body = CeremonyResponse),
        Limited, PasskeysOff,
    )
)]
async fn login_start(State(state): State<AppState>) -> Result<Json<CeremonyResponse>> {
    let (challenge_id, public_key) = state.passkeys.start_login().await?;
    Ok(Json(CeremonyResponse {
        challenge_id,
        public_key,
    }))
}

/// Finish a passwordless sign-in with the authenticator's answer.
#[utoipa::path(
    post, path = paths::PASSKEY_LOGIN_FINISH, tag = "passkeys",
    request_body = LoginFinishRequest,
    responses(
        (status = 200, description = "Signed in; `amr` is `hwk` (device-bound) or `swk` (synced) with `mfa`", body = TokenResponse),
        (status = 422, description = "A missing field, or a `challenge_id` that is not a UUID"),
        Limited, Ceremony,
    )
)]
async fn login_finish(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<LoginFinishRequest>,
) -> Result<Json<TokenResponse>> {
    let step = state
        .passkeys
        .finish_login(body.challenge_id, &body.credential, &client)
        .await?;
    token_response(&state, step)
}
