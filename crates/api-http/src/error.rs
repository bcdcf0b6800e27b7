//! One error type for every handler, answered as RFC 9457 `application/problem+json`
//! with a stable `code`. Internals are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{AuthError, RepoError, ValidationErrors};
use serde::Serialize;
use utoipa::ToSchema;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: the body parsed but a field is invalid.
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// 400: the body is not JSON, or not the JSON object expected.
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    /// 415
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// 413
    #[error("request body is too large")]
    PayloadTooLarge,
    /// 401, the same for an unknown email and a wrong password.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// 409
    #[error("email already registered")]
    EmailTaken,
    /// 401, with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 401: a rotated refresh token came back; the session is revoked.
    #[error("refresh token reused")]
    TokenReused,
    /// 404
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 429, with `Retry-After`.
    #[error("too many requests")]
    RateLimited { retry_after: std::time::Duration },
    /// 503: a dependency is unavailable.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] RepoError),
    /// 400/404/409/502: a sign-in with an external provider failed.
    #[error(transparent)]
    OAuth(domain::OAuthFailure),
    /// 500: a bug or an unexpected failure. Logged with its chain.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:codezest-auth:problem:{code}`.
    #[serde(rename = "type")]
    #[schema(example = "urn:codezest-auth:problem:validation_failed")]
    pub kind: String,
    #[schema(example = "Validation failed")]
    pub title: &'static str,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "email: must be an email address like name@example.com")]
    pub detail: String,
    /// Stable, machine-readable: `invalid_credentials`, `validation_failed`,
    /// `email_taken`, `unauthorized`, `token_reused`, `not_found`, …
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    /// Present with `validation_failed`: one entry per invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    #[schema(example = "email")]
    pub field: String,
    #[schema(example = "must be an email address like name@example.com")]
    pub message: String,
}

impl ApiError {
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidCredentials | Self::Unauthorized(_) | Self::TokenReused => {
                StatusCode::UNAUTHORIZED
            }
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::OAuth(failure) => oauth_status(failure),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::MalformedJson(_) => "malformed_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidCredentials => "invalid_credentials",
            Self::EmailTaken => "email_taken",
            Self::Unauthorized(_) => "unauthorized",
            Self::TokenReused => "token_reused",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "service_unavailable",
            Self::OAuth(failure) => oauth_code(failure),
            Self::Internal(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Validation(_) => "Validation failed",
            Self::MalformedJson(_) => "Malformed JSON",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::PayloadTooLarge => "Payload too large",
            Self::InvalidCredentials => "Invalid credentials",
            Self::EmailTaken => "Email already registered",
            Self::Unauthorized(_) => "Unauthorized",
            Self::TokenReused => "Refresh token reused",
            Self::NotFound(_) => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::RateLimited { .. } => "Too many requests",
            Self::Unavailable(_) => "Service unavailable",
            Self::OAuth(domain::OAuthFailure::Provider(domain::ProviderError::Unavailable(_))) => {
                "Identity provider unavailable"
            }
            Self::OAuth(_) => "Sign-in with the identity provider failed",
            Self::Internal(_) => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Validation(errors) => errors.to_string(),
            Self::MalformedJson(detail) => detail.clone(),
            Self::Unauthorized(reason) => (*reason).to_owned(),
            Self::InvalidCredentials => "The email or password is incorrect.".to_owned(),
            Self::EmailTaken => "An account with this email address already exists.".to_owned(),
            Self::TokenReused => "This refresh token was already used; the session has been \
                                  revoked. Sign in again."
                .to_owned(),
            Self::NotFound(what) => format!("No such {what}."),
            Self::RateLimited { retry_after } => {
                format!(
                    "Too many attempts; retry in {} s.",
                    retry_secs(*retry_after)
                )
            }
            Self::Unavailable(_) => "A dependency is unavailable; try again shortly.".to_owned(),
            Self::Internal(_) => "An unexpected error occurred.".to_owned(),
            Self::OAuth(domain::OAuthFailure::Provider(domain::ProviderError::Unavailable(_))) => {
                "The identity provider did not answer properly; try again later.".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        let code = self.code();
        Problem {
            kind: format!("urn:codezest-auth:problem:{code}"),
            title: self.title(),
            status: self.status().as_u16(),
            detail: self.detail(),
            code,
            errors: match self {
                Self::Validation(errors) => Some(
                    errors
                        .errors()
                        .iter()
                        .map(|e| FieldProblem {
                            field: e.field.to_string(),
                            message: e.message.clone(),
                        })
                        .collect(),
                ),
                _ => None,
            },
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Validation(errors) => Self::Validation(errors),
            AuthError::InvalidCredentials => Self::InvalidCredentials,
            AuthError::EmailTaken => Self::EmailTaken,
            AuthError::Unauthorized(reason) => Self::Unauthorized(reason),
            AuthError::TokenReused => Self::TokenReused,
            AuthError::NotFound(what) => Self::NotFound(what),
            AuthError::Repo(RepoError::EmailTaken) => Self::EmailTaken,
            AuthError::Repo(error @ RepoError::Unavailable(_)) => Self::Unavailable(error),
            AuthError::Repo(error) => Self::Internal(Box::new(error)),
            AuthError::OAuth(failure) => Self::OAuth(failure),
            error @ AuthError::Internal(_) => Self::Internal(Box::new(error)),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}

impl From<domain::FieldError> for ApiError {
    fn from(error: domain::FieldError) -> Self {
        Self::Validation(error.into())
    }
}

fn retry_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The whole error chain, for the log line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %chain(&self), code = self.code(), "request failed");
        } else {
            tracing::debug!(code = self.code(), "request rejected");
        }
        let mut response = problem_response(
            status,
            &self.problem(),
            matches!(self, Self::Unauthorized(_) | Self::TokenReused),
        );
        if let Self::RateLimited { retry_after } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_secs(retry_after)),
            );
        }
        response
    }
}

pub(crate) fn problem_response(
    status: StatusCode,
    problem: &Problem,
    bearer_challenge: bool,
) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if bearer_challenge {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        );
    }
    response
}

fn oauth_status(failure: &domain::OAuthFailure) -> StatusCode {
    use domain::{OAuthFailure as F, ProviderError as P};
    match failure {
        F::UnknownProvider(_) => StatusCode::NOT_FOUND,
        F::Provider(P::Unavailable(_)) => StatusCode::BAD_GATEWAY,
        F::AccountExists | F::LinkedElsewhere | F::AlreadyLinked | F::LastSignInMethod => {
            StatusCode::CONFLICT
        }
        F::InvalidState
        | F::Denied(_)
        | F::IssuerMismatch
        | F::Provider(P::Rejected(_))
        | F::NoEmail
        | F::RedirectNotAllowed => StatusCode::BAD_REQUEST,
    }
}

fn oauth_code(failure: &domain::OAuthFailure) -> &'static str {
    use domain::{OAuthFailure as F, ProviderError as P};
    match failure {
        F::UnknownProvider(_) => "unknown_provider",
        F::InvalidState => "invalid_oauth_state",
        F::Denied(_) => "oauth_denied",
        F::IssuerMismatch => "oauth_issuer_mismatch",
        F::Provider(P::Unavailable(_)) => "provider_unavailable",
        F::Provider(P::Rejected(_)) => "oauth_rejected",
        F::NoEmail => "oauth_no_email",
        F::AccountExists => "account_exists",
        F::LinkedElsewhere => "oauth_account_taken",
        F::AlreadyLinked => "already_linked",
        F::LastSignInMethod => "last_sign_in_method",
        F::RedirectNotAllowed => "redirect_not_allowed",
    }
}
