//! Account recovery and maintenance: password reset, email verification and
//! change, account deletion, the user's audit trail.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::Password;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::*;
use crate::error::Result;
use crate::extract::{AppJson, AppQuery, AuthUser, Client};
use crate::problems::{
    Bearer, CurrentPassword, EmailTaken, Invalid, Limited, MailedLink, NewPassword, NotAnEmail,
    StepUp,
};
use crate::state::AppState;
use api_types::*;
use http_kit::limit::Limit;

/// The routes counted against the client address's limit (the caller puts
/// the per-address layer on them).
pub(crate) fn limited() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(send_verification))
        .routes(routes!(verify_email))
        .routes(routes!(change_email))
        .routes(routes!(delete_account))
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

type Accepted = (StatusCode, Json<AcceptedResponse>);

fn accepted() -> Accepted {
    (StatusCode::ACCEPTED, Json(crate::dto::accepted()))
}

/// Ask for a password-reset link by mail.
///
/// Answered alike, and as fast, whether or not the address has an account.
#[utoipa::path(
    post, path = paths::PASSWORD_FORGOT, tag = "account",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "A reset link is mailed if the address has an account", body = AcceptedResponse),
        Limited, NotAnEmail,
    )
)]
async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<ForgotPasswordRequest>,
) -> Result<Accepted> {
    state
        .limits
        .check_account(Limit::Forgot, &body.email, client.ip)
        .await?;
    state.account.forgot_password(&body.email, &client)?;
    Ok(accepted())
}

/// Set a new password with the token of a reset link; every session ends.
#[utoipa::path(
    post, path = paths::PASSWORD_RESET, tag = "account",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; every session of the user revoked"),
        Limited, NewPassword, MailedLink,
    )
)]
async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<ResetPasswordRequest>,
) -> Result<StatusCode> {
    let new = Password::parse(body.new_password, "new_password")?;
    state
        .account
        .reset_password(&body.token, new, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mail (again) the link that verifies the user's address.
#[utoipa::path(
    post, path = paths::EMAIL_VERIFY_SEND, tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A verification link is mailed (nothing is sent for a verified address)", body = AcceptedResponse),
        Bearer, Limited,
    )
)]
async fn send_verification(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Accepted> {
    state
        .limits
        .check(Limit::VerifySend, principal.user_id)
        .await?;
    state.account.send_verification(&principal).await?;
    Ok(accepted())
}

/// Verify an address, or complete an email change, with the token of a link.
#[utoipa::path(
    post, path = paths::EMAIL_VERIFY, tag = "account",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "The user, address verified (and changed, for an email change)", body = UserResponse),
        Limited, Invalid, EmailTaken, MailedLink,
    )
)]
async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<VerifyEmailRequest>,
) -> Result<Json<UserResponse>> {
    let verified = state.account.verify_email(&body.token, &client).await?;
    Ok(Json(verified.to_dto()))
}

/// Start moving the account to another address (current password required).
///
/// The address changes only when the link mailed to `new_email` is used; the
/// old address is then told.
#[utoipa::path(
    post, path = paths::EMAIL_CHANGE, tag = "account",
    security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "A confirmation link is mailed to the new address", body = AcceptedResponse),
        Limited, StepUp, NotAnEmail, CurrentPassword, EmailTaken,
    )
)]
async fn change_email(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
    AppJson(body): AppJson<ChangeEmailRequest>,
) -> Result<Accepted> {
    state
        .limits
        .check(Limit::EmailChange, principal.user_id)
        .await?;
    state
        .account
        .request_email_change(&principal, &body.new_email, body.password, &client)
        .await?;
    Ok(accepted())
}

/// Delete the account (current password required): every session ends at once.
#[utoipa::path(
    delete, path = paths::USER, tag = "users",
    security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "The account and every session are gone"),
        Limited, Invalid, StepUp, CurrentPassword,
    )
)]
async fn delete_account(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
    AppJson(body): AppJson<DeleteAccountRequest>,
) -> Result<StatusCode> {
    state
        .account
        .delete_account(&principal, body.password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user's recent account events (sign-ins, password and address changes…), newest first.
#[utoipa::path(
    get, path = paths::EVENTS, tag = "account",
    security(("bearer" = [])),
    params(EventsQuery),
    responses(
        (status = 200, description = "Events, newest first", body = [AuditEventDto]),
        (status = 422, description = "`limit` is not a number from 1 to 100"),
        Bearer,
    )
)]
async fn events(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    AppQuery(query): AppQuery<EventsQuery>,
) -> Result<Json<Vec<AuditEventDto>>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=domain::account::MAX_EVENTS).contains(&limit) {
        return Err(domain::FieldError::new("limit", "must be from 1 to 100").into());
    }
    let events = state.account.events(principal.user_id, limit).await?;
    Ok(Json(events.into_iter().map(ToDto::to_dto).collect()))
}
