//! Sign-in with upstream identity providers, and linking them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct RedirectQuery {
    /// Where the browser goes after the callback, with the tokens in the URL
    /// fragment; must match `OAUTH_REDIRECT_ALLOWLIST`. Without it the callback
    /// answers the JSON token response.
    pub redirect_to: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// RFC 9207: the issuer, checked against the provider's.
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizeUrl {
    /// Send the browser here; the login comes back to `…/callback`.
    pub authorize_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthAccountDto {
    #[cfg_attr(feature = "openapi", schema(example = "github"))]
    pub provider: String,
    /// The provider's stable id for the person.
    pub subject: String,
    pub email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub linked_at: OffsetDateTime,
}

/// The one-time code a redirecting sign-in handed the front end.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExchangeRequest {
    /// The `code` from the redirect's fragment.
    pub code: String,
}
