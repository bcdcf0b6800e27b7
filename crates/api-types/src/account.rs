//! Recovery, verification, email change, deletion, the audit trail.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForgotPasswordRequest {
    #[cfg_attr(feature = "openapi", schema(example = "ada@example.com", format = Email, max_length = 254))]
    pub email: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetPasswordRequest {
    /// The token from the reset link (`…/reset-password?token=…`).
    pub token: String,
    /// 8–128 characters; any Unicode; not a common or easily guessed password
    /// (`password_too_common`); not the current password.
    #[cfg_attr(feature = "openapi", schema(example = "a different passphrase", format = Password, min_length = 8, max_length = 128))]
    pub new_password: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyEmailRequest {
    /// The token from the verification link (`…/verify-email?token=…`).
    pub token: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeEmailRequest {
    #[cfg_attr(feature = "openapi", schema(example = "ada.king@example.com", format = Email, max_length = 254))]
    pub new_email: String,
    /// The current password.
    #[cfg_attr(feature = "openapi", schema(example = "correct horse battery staple", format = Password))]
    pub password: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteAccountRequest {
    /// The current password.
    #[cfg_attr(feature = "openapi", schema(example = "correct horse battery staple", format = Password))]
    pub password: String,
}

/// The answer to a request whose effect is a mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptedResponse {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "accepted"))]
    pub status: Cow<'static, str>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct EventsQuery {
    /// How many events, newest first (1–100; default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<i64>,
}

/// One entry of the user's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventDto {
    pub id: Uuid,
    /// `register`, `login`, `logout`, `password_reset`, `email_verified`, …
    #[cfg_attr(feature = "openapi", schema(example = "login"))]
    pub event: String,
    /// `success`, `failure`, `detected`.
    #[cfg_attr(feature = "openapi", schema(example = "success"))]
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}
