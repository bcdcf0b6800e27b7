//! `/api/v1/users/me*`: the signed-in user's name and profile.

use axum::Json;
use axum::extract::State;
use domain::{DisplayName, ProfileUpdate};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::*;
use crate::error::Result;
use crate::extract::{AppJson, AuthUser};
use crate::problems::{Bearer, Invalid, Name};
use crate::state::AppState;
use api_types::*;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(update_user))
        .routes(routes!(update_profile))
}

/// Update the user's display name.
#[utoipa::path(
    patch, path = paths::USER, tag = "users",
    security(("bearer" = [])),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = UserResponse),
        Bearer, Name,
    )
)]
async fn update_user(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    AppJson(body): AppJson<UpdateUserRequest>,
) -> Result<Json<UserResponse>> {
    let updated = match body.name {
        Some(name) => {
            state
                .auth
                .update_name(&principal, &DisplayName::parse(&name)?)
                .await?
        }
        None => state.auth.me(&principal).await?,
    };
    Ok(Json(updated.to_dto()))
}

/// Replace the user's profile (absent fields are cleared).
#[utoipa::path(
    put, path = paths::PROFILE, tag = "users",
    security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "The user with the new profile", body = UserResponse),
        Bearer, Invalid,
    )
)]
async fn update_profile(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    AppJson(body): AppJson<UpdateProfileRequest>,
) -> Result<Json<UserResponse>> {
    let update = ParseBody::<ProfileUpdate>::parse(body)?;
    Ok(Json(
        state
            .auth
            .update_profile(&principal, &update)
            .await?
            .to_dto(),
    ))
}
