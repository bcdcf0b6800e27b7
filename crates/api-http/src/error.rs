//! One error type for every handler, answered as RFC 9457 `application/problem+json`
//! with a stable `code`. Every failure mode has one row in [`ApiError::row`]:
//! its status, code and title, and — for server faults — the fixed detail that
//! replaces its message. Internals are logged (once, with their source chain),
//! never sent.

use api_types::{FieldProblem, Problem};
use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{
    ValidationErrors, error::AuthError, error::BoxError, error::Denial, error::OAuthFailure,
    error::ProviderError, error::RepoError, error::Resource, signin::MfaRequired,
};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Whatever the domain refused or failed with.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The body is not JSON, or not the JSON object expected.
    #[error("{0}")]
    MalformedJson(String),
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("No such route.")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Not a failure but the next step of a sign-in, answered as the
    /// contract's `401 mfa_required` problem carrying `mfa_token` and
    /// `methods`.
    #[error("This account has a second factor: complete the sign-in with one of its methods.")]
    SecondFactor(MfaRequired),
    /// Answered with `Retry-After` and `RateLimit-*`.
    #[error("Too many requests; retry in {} s.", retry_secs(*retry_after))]
    RateLimited {
        retry_after: std::time::Duration,
        /// The quota's burst.
        limit: u32,
    },
    /// A bug or an unexpected failure in this layer. Logged with its chain.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

/// How one failure mode is answered.
#[derive(Debug, Clone, Copy)]
struct Row {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    /// Sent instead of the error's message, which may name internals.
    fixed_detail: Option<&'static str>,
    /// Answered with `WWW-Authenticate: Bearer error="invalid_token"`.
    bearer_challenge: bool,
}

const fn row(status: StatusCode, code: &'static str, title: &'static str) -> Row {
    Row {
        status,
        code,
        title,
        fixed_detail: None,
        bearer_challenge: false,
    }
}

impl Row {
    const fn detail(self, detail: &'static str) -> Self {
        Row {
            fixed_detail: Some(detail),
            ..self
        }
    }

    const fn challenge(self) -> Self {
        Row {
            bearer_challenge: true,
            ..self
        }
    }
}

const INTERNAL: Row = row(
    StatusCode::INTERNAL_SERVER_ERROR,
    "internal_error",
    "Internal server error",
)
.detail("An unexpected error occurred.");

impl ApiError {
    pub fn internal(error: impl Into<BoxError>) -> Self {
        Self::Internal(error.into())
    }

    /// The table: every failure mode, its status, code and title.
    fn row(&self) -> Row {
        use StatusCode as S;
        match self {
            Self::MalformedJson(_) => row(S::BAD_REQUEST, "malformed_json", "Malformed JSON"),
            Self::UnsupportedMediaType => row(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::PayloadTooLarge => row(
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Self::RouteNotFound => row(S::NOT_FOUND, "not_found", "Not found"),
            Self::MethodNotAllowed => row(
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::RateLimited { .. } => {
                row(S::TOO_MANY_REQUESTS, "rate_limited", "Too many requests")
            }
            Self::Internal(_) => INTERNAL,
            Self::SecondFactor(_) => row(S::UNAUTHORIZED, "mfa_required", "Second factor required"),
            Self::Auth(error) => auth_row(error),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.row().status
    }

    pub fn code(&self) -> &'static str {
        self.row().code
    }

    pub fn problem(&self) -> Problem {
        let row = self.row();
        let (mfa_token, methods) = match self {
            Self::SecondFactor(required) => (
                Some(required.mfa_token.expose().to_owned()),
                Some(
                    required
                        .methods
                        .names()
                        .into_iter()
                        .map(Cow::Borrowed)
                        .collect(),
                ),
            ),
            _ => (None, None),
        };
        Problem {
            kind: format!("urn:codezest-auth:problem:{}", row.code),
            title: Cow::Borrowed(row.title),
            status: row.status.as_u16(),
            detail: row
                .fixed_detail
                .map_or_else(|| self.to_string(), str::to_owned),
            code: Cow::Borrowed(row.code),
            errors: match self {
                Self::Auth(AuthError::Validation(errors)) => Some(
                    errors
                        .errors()
                        .iter()
                        .map(|e| FieldProblem {
                            field: e.field.to_string(),
                            message: e.message.clone(),
                            code: e.code.map(Cow::Borrowed),
                        })
                        .collect(),
                ),
                _ => None,
            },
            mfa_token,
            methods,
            error: match self {
                Self::Auth(AuthError::InvalidClient) => Some(Cow::Borrowed("invalid_client")),
                _ => None,
            },
        }
    }
}

/// The domain's rows.
fn auth_row(error: &AuthError) -> Row {
    use StatusCode as S;
    match error {
        AuthError::Validation(_) => row(
            S::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Validation failed",
        ),
        AuthError::InvalidCredentials => row(
            S::UNAUTHORIZED,
            "invalid_credentials",
            "Invalid credentials",
        ),
        AuthError::EmailTaken | AuthError::Repo(RepoError::EmailTaken) => {
            row(S::CONFLICT, "email_taken", "Email already registered")
        }
        AuthError::Denied(_) => row(S::UNAUTHORIZED, "unauthorized", "Unauthorized").challenge(),
        AuthError::TokenReused => {
            row(S::UNAUTHORIZED, "token_reused", "Refresh token reused").challenge()
        }
        AuthError::NotFound(_) => row(S::NOT_FOUND, "not_found", "Not found"),
        AuthError::AccountDisabled => row(S::FORBIDDEN, "account_disabled", "Account disabled"),
        AuthError::EmailNotVerified => row(
            S::FORBIDDEN,
            "email_not_verified",
            "Email address not verified",
        ),
        AuthError::Forbidden(_) => row(S::FORBIDDEN, "forbidden", "Forbidden"),
        AuthError::SelfAdministration => row(
            S::CONFLICT,
            "self_administration",
            "Not on your own account",
        ),
        AuthError::InvalidClient => row(
            S::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        ),
        AuthError::AccountLocked { .. } => row(
            S::TOO_MANY_REQUESTS,
            "account_locked",
            "Sign-in temporarily locked",
        ),
        AuthError::LinkInvalid => row(S::BAD_REQUEST, "invalid_token", "Invalid or expired link"),
        AuthError::ReauthenticationRequired { .. } => row(
            S::FORBIDDEN,
            "reauthentication_required",
            "Recent sign-in required",
        ),
        AuthError::InvalidMfaToken => row(S::UNAUTHORIZED, "invalid_mfa_token", "Sign-in expired"),
        AuthError::InvalidCode => row(S::UNAUTHORIZED, "invalid_code", "Incorrect code"),
        AuthError::MfaAlreadyEnabled => row(
            S::CONFLICT,
            "mfa_already_enabled",
            "Two-factor authentication already on",
        ),
        AuthError::MfaNotEnabled => row(
            S::CONFLICT,
            "mfa_not_enabled",
            "Two-factor authentication not on",
        ),
        AuthError::MfaUnavailable => row(
            S::SERVICE_UNAVAILABLE,
            "mfa_unavailable",
            "Two-factor authentication unavailable",
        ),
        AuthError::PasskeyRejected => {
            row(S::BAD_REQUEST, "passkey_rejected", "Passkey not accepted")
        }
        AuthError::ChallengeInvalid => row(
            S::BAD_REQUEST,
            "invalid_challenge",
            "Passkey request expired",
        ),
        AuthError::PasskeysUnavailable => row(
            S::SERVICE_UNAVAILABLE,
            "passkeys_unavailable",
            "Passkeys unavailable",
        ),
        AuthError::TooManyPasskeys => row(S::CONFLICT, "too_many_passkeys", "Too many passkeys"),
        AuthError::Repo(RepoError::PasskeyTaken) => {
            row(S::CONFLICT, "passkey_taken", "Passkey already registered")
        }
        AuthError::SamePassword => row(
            S::UNPROCESSABLE_ENTITY,
            "same_password",
            "Password unchanged",
        ),
        AuthError::Repo(RepoError::OAuthAccountTaken) => oauth_row(&OAuthFailure::LinkedElsewhere),
        AuthError::Repo(RepoError::Unavailable(_)) => row(
            S::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Service unavailable",
        )
        .detail("A dependency is unavailable; try again shortly."),
        AuthError::Repo(RepoError::Other(_)) | AuthError::Internal(_) => INTERNAL,
        AuthError::OAuth(failure) => oauth_row(failure),
    }
}

/// The rows of sign-in with an external provider.
fn oauth_row(failure: &OAuthFailure) -> Row {
    use OAuthFailure as F;
    use StatusCode as S;
    const FAILED: &str = "Sign-in with the identity provider failed";
    let (status, code) = match failure {
        F::UnknownProvider(_) => (S::NOT_FOUND, "unknown_provider"),
        F::InvalidState => (S::BAD_REQUEST, "invalid_oauth_state"),
        F::Denied(_) => (S::BAD_REQUEST, "oauth_denied"),
        F::IssuerMismatch => (S::BAD_REQUEST, "oauth_issuer_mismatch"),
        F::Provider(ProviderError::Unavailable(_)) => {
            return row(
                S::BAD_GATEWAY,
                "provider_unavailable",
                "Identity provider unavailable",
            )
            .detail("The identity provider did not answer properly; try again later.");
        }
        F::Provider(ProviderError::Rejected(_)) => (S::BAD_REQUEST, "oauth_rejected"),
        F::NoEmail => (S::BAD_REQUEST, "oauth_no_email"),
        F::AccountExists => (S::CONFLICT, "account_exists"),
        F::LinkedElsewhere => (S::CONFLICT, "oauth_account_taken"),
        F::AlreadyLinked => (S::CONFLICT, "already_linked"),
        F::LastSignInMethod => (S::CONFLICT, "last_sign_in_method"),
        F::RedirectNotAllowed => (S::BAD_REQUEST, "redirect_not_allowed"),
        F::EmailUnverified => (S::FORBIDDEN, "oauth_email_unverified"),
    };
    row(status, code, FAILED)
}

impl From<http_kit::limit::Throttled> for ApiError {
    fn from(throttled: http_kit::limit::Throttled) -> Self {
        Self::RateLimited {
            retry_after: throttled.retry_after,
            limit: throttled.limit,
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Auth(errors.into())
    }
}

impl From<domain::FieldError> for ApiError {
    fn from(error: domain::FieldError) -> Self {
        Self::from(ValidationErrors::from(error))
    }
}

impl From<Denial> for ApiError {
    fn from(denial: Denial) -> Self {
        Self::Auth(denial.into())
    }
}

impl From<Resource> for ApiError {
    fn from(missing: Resource) -> Self {
        Self::Auth(AuthError::NotFound(missing))
    }
}

impl From<OAuthFailure> for ApiError {
    fn from(failure: OAuthFailure) -> Self {
        Self::Auth(failure.into())
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
        let row = self.row();
        if row.status.is_server_error() {
            tracing::error!(error = %chain(&self), code = row.code, "request failed");
        } else {
            tracing::debug!(code = row.code, "request rejected");
        }
        let mut response = problem_response(row.status, &self.problem(), row.bearer_challenge);
        let headers = response.headers_mut();
        match self {
            Self::RateLimited { retry_after, limit } => {
                let secs = retry_secs(retry_after);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
                headers.insert("ratelimit-limit", HeaderValue::from(limit));
                headers.insert("ratelimit-remaining", HeaderValue::from(0));
                headers.insert("ratelimit-reset", HeaderValue::from(secs));
            }
            Self::Auth(AuthError::AccountLocked { retry_after }) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_secs(retry_after)),
                );
            }
            // RFC 6749 §5.2: a failed client authentication names the scheme.
            Self::Auth(AuthError::InvalidClient) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="codezest-auth""#),
                );
            }
            _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_faults_never_send_their_message() {
        let secret = "password=hunter2 at db.internal:5432";
        for error in [
            ApiError::internal(secret),
            ApiError::Auth(AuthError::Repo(RepoError::other(secret))),
            ApiError::Auth(AuthError::Repo(RepoError::Unavailable(secret.into()))),
            ApiError::Auth(AuthError::Internal(secret.into())),
            OAuthFailure::Provider(ProviderError::Unavailable(secret.into())).into(),
        ] {
            let problem = error.problem();
            assert!(error.status().is_server_error(), "{error:?}");
            assert!(!problem.detail.contains("hunter2"), "{error:?}");
            assert!(
                chain(&error).contains("hunter2"),
                "the log line keeps the chain"
            );
        }
    }

    #[test]
    fn refusals_are_answered_by_variant() {
        let expired = ApiError::from(Denial::Expired);
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(expired.code(), "unauthorized");
        assert_eq!(expired.problem().detail, "access token has expired");
        assert!(expired.row().bearer_challenge);
        let missing = ApiError::from(Resource::Session);
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.problem().detail, "No such session.");
        assert!(
            !ApiError::Auth(AuthError::InvalidCredentials)
                .row()
                .bearer_challenge
        );
    }
}
