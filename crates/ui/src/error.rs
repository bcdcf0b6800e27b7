//! Why a page refuses, as data: each refusal has a status and message keys
//! of the catalogues, and is shown as a page (never JSON, never a 500 for
//! anything a person can send).

use axum::http::StatusCode;
use domain::error::{AuthError, Denial, OAuthFailure, ProviderError};
use domain::oidc::PageRefusal;
use http_kit::limit::Throttled;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// A forged or stale form: a foreign `Origin`, a cross-site fetch, a
    /// missing or wrong anti-forgery token.
    #[error("cross-site or stale form")]
    Forgery,
    /// A form that is not what the page sends.
    #[error("malformed form")]
    BadForm,
    /// A form only the pages' script can complete, posted without it.
    #[error("needs JavaScript")]
    ScriptRequired,
    #[error("no such page")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("rate limited")]
    Throttled,
    /// The provider's callback refused a sign-in the pages started (its
    /// problem code, as the API names it).
    #[error("the provider sign-in was refused: {0}")]
    ProviderRefused(String),
    /// The provider's authorization request cannot be answered at the
    /// client's redirect URI (unknown client, unregistered redirect URI, a
    /// stale request): said on a page, and the browser goes nowhere.
    #[error("the authorization request was refused: {0:?}")]
    Authorization(PageRefusal),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<Throttled> for UiError {
    fn from(_: Throttled) -> Self {
        Self::Throttled
    }
}

impl UiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Forgery => StatusCode::FORBIDDEN,
            Self::BadForm | Self::ScriptRequired => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Self::ProviderRefused(code) => refused_by_callback(code).0,
            Self::Authorization(_) => StatusCode::BAD_REQUEST,
            Self::Auth(error) => auth_status(error),
        }
    }

    /// The catalogue key of the refusal's explanation.
    pub fn message_key(&self) -> &'static str {
        match self {
            Self::Forgery => "error_forgery",
            Self::BadForm => "error_bad_form",
            Self::ScriptRequired => "error_script_required",
            Self::NotFound => "error_not_found",
            Self::MethodNotAllowed => "error_bad_form",
            Self::Throttled => "error_rate_limited",
            Self::ProviderRefused(code) => refused_by_callback(code).1,
            Self::Authorization(refusal) => match refusal {
                PageRefusal::UnknownClient => "error_authorize_unknown_client",
                PageRefusal::RedirectUriMismatch => "error_authorize_redirect_uri",
                PageRefusal::InvalidRequestUri => "error_authorize_request_uri",
                PageRefusal::RequestExpired => "error_authorize_expired",
                PageRefusal::InvalidIdTokenHint => "error_logout_hint",
                PageRefusal::PostLogoutUriMismatch => "error_logout_uri",
            },
            Self::Auth(error) => auth_message_key(error),
        }
    }

    /// The catalogue key of the refusal page's heading.
    pub fn title_key(&self) -> &'static str {
        match self {
            Self::NotFound => "title_not_found",
            Self::Auth(AuthError::Repo(_) | AuthError::Internal(_)) => "title_unavailable",
            _ => "title_refused",
        }
    }

    /// Whether the service failed (logged as an error), rather than the request.
    pub fn is_failure(&self) -> bool {
        self.status().is_server_error()
    }
}

fn auth_status(error: &AuthError) -> StatusCode {
    match error {
        AuthError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AuthError::InvalidCredentials
        | AuthError::Denied(_)
        | AuthError::TokenReused
        | AuthError::InvalidMfaToken
        | AuthError::InvalidCode
        | AuthError::PasskeyRejected
        | AuthError::InvalidClient => StatusCode::UNAUTHORIZED,
        AuthError::EmailTaken | AuthError::MfaAlreadyEnabled => StatusCode::CONFLICT,
        AuthError::NotFound(_) => StatusCode::NOT_FOUND,
        AuthError::LinkInvalid
        | AuthError::SamePassword
        | AuthError::ChallengeInvalid
        | AuthError::MfaNotEnabled
        | AuthError::TooManyPasskeys
        | AuthError::EmailNotVerified => StatusCode::BAD_REQUEST,
        AuthError::ReauthenticationRequired { .. }
        | AuthError::AccountDisabled
        | AuthError::Forbidden(_)
        | AuthError::SelfAdministration => StatusCode::FORBIDDEN,
        AuthError::AccountLocked { .. } => StatusCode::TOO_MANY_REQUESTS,
        AuthError::MfaUnavailable | AuthError::PasskeysUnavailable => StatusCode::NOT_FOUND,
        AuthError::OAuth(failure) => oauth_status(failure),
        AuthError::Repo(_) | AuthError::Internal(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn auth_message_key(error: &AuthError) -> &'static str {
    match error {
        AuthError::Validation(_) => "error_bad_form",
        AuthError::InvalidCredentials => "error_invalid_credentials",
        AuthError::Denied(Denial::SessionEnded) | AuthError::Denied(_) => "error_session_ended",
        AuthError::TokenReused => "error_session_ended",
        AuthError::InvalidMfaToken => "error_second_factor_expired",
        AuthError::InvalidCode => "error_invalid_code",
        AuthError::PasskeyRejected | AuthError::ChallengeInvalid => "error_passkey",
        AuthError::InvalidClient | AuthError::Forbidden(_) | AuthError::SelfAdministration => {
            "error_forbidden"
        }
        AuthError::EmailTaken => "error_email_taken",
        AuthError::NotFound(_) => "error_not_found",
        AuthError::LinkInvalid => "error_link_invalid",
        AuthError::SamePassword => "error_same_password",
        AuthError::MfaNotEnabled | AuthError::MfaAlreadyEnabled | AuthError::MfaUnavailable => {
            "error_mfa_state"
        }
        AuthError::TooManyPasskeys => "error_too_many_passkeys",
        AuthError::PasskeysUnavailable => "error_passkey",
        AuthError::EmailNotVerified => "error_email_not_verified",
        AuthError::ReauthenticationRequired { .. } => "error_reauthenticate",
        AuthError::AccountDisabled => "error_account_disabled",
        AuthError::AccountLocked { .. } => "error_locked",
        AuthError::OAuth(failure) => oauth_message_key(failure),
        AuthError::Repo(_) | AuthError::Internal(_) => "error_unavailable",
    }
}

fn oauth_status(failure: &OAuthFailure) -> StatusCode {
    use OAuthFailure as F;
    match failure {
        F::UnknownProvider(_) => StatusCode::NOT_FOUND,
        F::Provider(ProviderError::Unavailable(_)) => StatusCode::BAD_GATEWAY,
        F::AccountExists | F::LinkedElsewhere | F::AlreadyLinked | F::LastSignInMethod => {
            StatusCode::CONFLICT
        }
        F::EmailUnverified => StatusCode::FORBIDDEN,
        F::InvalidState
        | F::Denied(_)
        | F::IssuerMismatch
        | F::Provider(ProviderError::Rejected(_))
        | F::NoEmail
        | F::RedirectNotAllowed => StatusCode::BAD_REQUEST,
    }
}

fn oauth_message_key(failure: &OAuthFailure) -> &'static str {
    use OAuthFailure as F;
    match failure {
        F::UnknownProvider(_) => "error_not_found",
        F::Provider(ProviderError::Unavailable(_)) => "error_provider",
        F::AccountExists => "error_account_exists",
        F::LinkedElsewhere => "error_linked_elsewhere",
        F::AlreadyLinked => "error_already_linked",
        F::LastSignInMethod => "error_last_sign_in_method",
        F::EmailUnverified | F::NoEmail => "error_provider_email",
        F::InvalidState
        | F::Denied(_)
        | F::IssuerMismatch
        | F::Provider(ProviderError::Rejected(_))
        | F::RedirectNotAllowed => "error_provider_failed",
    }
}

/// A refusal of the provider's callback, by its problem code.
fn refused_by_callback(code: &str) -> (StatusCode, &'static str) {
    match code {
        "account_exists" => (StatusCode::CONFLICT, "error_account_exists"),
        "oauth_account_taken" => (StatusCode::CONFLICT, "error_linked_elsewhere"),
        "already_linked" => (StatusCode::CONFLICT, "error_already_linked"),
        "oauth_email_unverified" => (StatusCode::FORBIDDEN, "error_provider_email"),
        "oauth_no_email" => (StatusCode::BAD_REQUEST, "error_provider_email"),
        "email_not_verified" => (StatusCode::BAD_REQUEST, "error_email_not_verified"),
        "account_disabled" => (StatusCode::FORBIDDEN, "error_account_disabled"),
        "provider_unavailable" => (StatusCode::BAD_GATEWAY, "error_provider"),
        "rate_limited" => (StatusCode::TOO_MANY_REQUESTS, "error_rate_limited"),
        _ => (StatusCode::BAD_REQUEST, "error_provider_failed"),
    }
}
