//! The OpenID provider's wire types: the token endpoint (RFC 6749 §5,
//! OIDC Core §3.1.3), pushed authorization requests (RFC 9126), userinfo
//! (OIDC Core §5.3), discovery (OpenID Connect Discovery 1.0) and the
//! RFC 6749 error body every `/oauth2/*` endpoint answers with.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// `POST /oauth2/token`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OidcTokenForm {
    /// `authorization_code` or `refresh_token`.
    #[cfg_attr(feature = "openapi", schema(example = "authorization_code"))]
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    /// PKCE (RFC 7636): 43–128 unreserved characters.
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    /// A refresh may ask for fewer scopes than were granted.
    pub scope: Option<String>,
    /// `client_secret_post` or `none` (public clients), or with HTTP Basic.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// The tokens (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OidcTokenResponse {
    /// An RFC 9068 JWT naming the client (`client_id`), its `scope` and its
    /// session (`sid`).
    pub access_token: String,
    #[cfg_attr(feature = "openapi", schema(example = "Bearer"))]
    pub token_type: String,
    pub expires_in: i64,
    /// With `offline_access` (or for a first-party client): rotating, bound
    /// to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// With `openid` on the code exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[cfg_attr(feature = "openapi", schema(example = "openid email"))]
    pub scope: String,
}

/// An RFC 6749 §5.2 error (also at the other `/oauth2/*` endpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthError {
    #[cfg_attr(feature = "openapi", schema(example = "invalid_grant"))]
    pub error: String,
    pub error_description: String,
}

/// `POST /oauth2/par`: the request to push, as `/oauth2/authorize` takes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    #[cfg_attr(feature = "openapi", schema(example = "code"))]
    pub response_type: Option<String>,
    #[cfg_attr(feature = "openapi", schema(example = "openid email"))]
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    #[cfg_attr(feature = "openapi", schema(example = "S256"))]
    pub code_challenge_method: Option<String>,
    /// `none`, `login`, `consent` (space-separated).
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub id_token_hint: Option<String>,
    pub acr_values: Option<String>,
    /// A pushed request's `urn:ietf:params:oauth:request_uri:…`.
    pub request_uri: Option<String>,
    /// Request objects are not supported (`request_not_supported`).
    pub request: Option<String>,
    /// With `client_secret_post` (PAR).
    pub client_secret: Option<String>,
}

/// RFC 9126 §2.2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

/// Userinfo: `sub` always, the rest by scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfoResponse {
    pub sub: String,
    /// `profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// `roles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// OpenID Connect Discovery 1.0 §3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiscoveryDocument {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub pushed_authorization_request_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    /// RP-initiated logout.
    pub end_session_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub scopes_supported: Vec<Cow<'static, str>>,
    pub claims_supported: Vec<Cow<'static, str>>,
    pub response_types_supported: Vec<Cow<'static, str>>,
    pub response_modes_supported: Vec<Cow<'static, str>>,
    pub grant_types_supported: Vec<Cow<'static, str>>,
    pub subject_types_supported: Vec<Cow<'static, str>>,
    pub id_token_signing_alg_values_supported: Vec<Cow<'static, str>>,
    pub token_endpoint_auth_methods_supported: Vec<Cow<'static, str>>,
    pub code_challenge_methods_supported: Vec<Cow<'static, str>>,
    pub prompt_values_supported: Vec<Cow<'static, str>>,
    pub authorization_response_iss_parameter_supported: bool,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    pub require_pushed_authorization_requests: bool,
    pub request_parameter_supported: bool,
    pub claims_parameter_supported: bool,
}

/// An application the user allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantDto {
    pub client_id: uuid::Uuid,
    #[cfg_attr(feature = "openapi", schema(example = "Grafana"))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(example = json!(["openid", "email"])))]
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub granted_at: time::OffsetDateTime,
}
