//! `/api/v1/auth/*`: register, login, refresh, logout, me, sessions, password.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::{Password, SessionId, auth::Registration, error::Resource, signin::SignIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::*;
use crate::error::{ApiError, Result};
use crate::extract::{AppJson, AuthUser, Client};
use crate::problems::{
    Bearer, CurrentPassword, EmailTaken, Invalid, Limited, Locked, NewPassword, StepUp,
};
use crate::state::AppState;
use api_types::*;
use http_kit::limit::Limit;

/// A sign-in's next step as the API answers it: tokens for an opened
/// session, the `mfa_required` problem (with its `mfa_token`) for a second
/// factor.
pub(crate) fn token_response(state: &AppState, step: SignIn) -> Result<Json<TokenResponse>> {
    match step {
        SignIn::Opened(opened) => Ok(Json(state.auth.issue_tokens(*opened)?.to_dto())),
        SignIn::SecondFactor(required) => Err(ApiError::SecondFactor(required)),
    }
}

/// The routes counted against the client address's limit (the caller puts
/// the per-address layer on them).
pub(crate) fn limited() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(change_password))
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(me))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(list_grants))
        .routes(routes!(revoke_grant))
}

/// Create an account and sign in.
#[utoipa::path(
    post, path = paths::REGISTER, tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = TokenResponse),
        Limited, Invalid, EmailTaken,
    )
)]
async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<TokenResponse>)> {
    let registration: Registration = body.parse()?;
    let opened = state.auth.register(registration, &client).await?;
    // The account exists whatever happens to its verification mail: a failure
    // to queue it is logged, and the user can ask for it again.
    if let Err(error) = state.account.verify_new_account(&opened.user).await {
        tracing::error!(error = %error, "queueing the verification mail failed");
    }
    let tokens = state.auth.issue_tokens(opened)?;
    Ok((StatusCode::CREATED, Json(tokens.to_dto())))
}

/// Sign in with email and password.
///
/// An unknown email and a wrong password are answered alike, in status, body and time.
#[utoipa::path(
    post, path = paths::LOGIN, tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong email or password (`invalid_credentials`); or the password was right and the account has a second factor (`mfa_required`, with `mfa_token` and `methods`: complete at `/api/v1/auth/mfa/verify`)"),
        Invalid, Locked,
    )
)]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<Json<TokenResponse>> {
    state
        .limits
        .check_account(Limit::LoginEmail, &body.email, client.ip)
        .await?;
    let step = state
        .auth
        .login(&body.email, body.password, &client)
        .await?;
    token_response(&state, step)
}

/// Exchange a refresh token for a new pair (rotation).
///
/// The presented token is spent. Presenting a spent token again revokes its
/// session (`token_reused`), except for a concurrent refresh inside the grace
/// window (`REFRESH_REUSE_GRACE`), which receives the same new pair.
#[utoipa::path(
    post, path = paths::REFRESH, tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "Rotated pair", body = TokenResponse),
        (status = 401, description = "Invalid, expired or revoked (`unauthorized`), or reused (`token_reused`)"),
        Limited, Invalid,
    )
)]
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<Json<TokenResponse>> {
    let auth = state.auth.refresh(&body.refresh_token, &client).await?;
    Ok(Json(auth.to_dto()))
}

/// Sign out this session, everywhere at once.
#[utoipa::path(
    post, path = paths::LOGOUT, tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Session revoked"),
        Bearer,
    )
)]
async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
) -> Result<StatusCode> {
    state.auth.logout(&principal, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out every session of the user.
#[utoipa::path(
    post, path = paths::LOGOUT_ALL, tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session revoked"),
        Bearer,
    )
)]
async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
) -> Result<StatusCode> {
    state.auth.logout_all(&principal, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user and their profile.
#[utoipa::path(
    get, path = paths::ME, tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        Bearer,
    )
)]
async fn me(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<UserResponse>> {
    Ok(Json(state.auth.me(&principal).await?.to_dto()))
}

/// The user's active sessions, newest first.
#[utoipa::path(
    get, path = paths::SESSIONS, tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active sessions", body = [SessionDto]),
        Bearer,
    )
)]
async fn list_sessions(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<Vec<SessionDto>>> {
    let sessions = state.auth.list_sessions(&principal).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| session_dto(s, Some(principal.session_id)))
            .collect(),
    ))
}

/// Revoke one of the user's sessions (another device, or this one).
#[utoipa::path(
    delete, path = paths::SESSION, tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id (UUID)")),
    responses(
        (status = 204, description = "Session revoked"),
        (status = 404, description = "No active session of this user with that id"),
        Bearer,
    )
)]
async fn revoke_session(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id: SessionId = id.parse().map_err(|_| Resource::Session)?;
    state.auth.revoke_session(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The applications the user allowed (through the OpenID provider), newest first.
#[utoipa::path(
    get, path = paths::GRANTS, tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Allowed applications", body = [GrantDto]),
        Bearer,
    )
)]
async fn list_grants(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<Vec<GrantDto>>> {
    let apps = state.provider.grants(&principal).await?;
    Ok(Json(
        apps.into_iter()
            .map(|app| GrantDto {
                client_id: app.client_id.as_uuid(),
                name: app.name,
                scopes: app.scopes.names(),
                granted_at: app.granted_at,
            })
            .collect(),
    ))
}

/// Revoke an application's access: the consent is forgotten and its tokens
/// stop working on every instance at once.
#[utoipa::path(
    delete, path = paths::GRANT, tag = "sessions",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The application's client id (UUID)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "The user did not allow this application"),
        Bearer,
    )
)]
async fn revoke_grant(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(client_id): Path<String>,
) -> Result<StatusCode> {
    let client: domain::ClientId = client_id.parse().map_err(|_| Resource::Grant)?;
    state.provider.revoke_grant(&principal, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password; every other session is signed out.
#[utoipa::path(
    post, path = paths::PASSWORD_CHANGE, tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed; other sessions revoked"),
        Limited, StepUp, NewPassword, CurrentPassword,
    )
)]
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
    AppJson(body): AppJson<ChangePasswordRequest>,
) -> Result<StatusCode> {
    let new = Password::parse(body.new_password, "new_password")?;
    state
        .auth
        .change_password(&principal, body.current_password, new, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
