//! The OAuth 2.0 wire types: introspection (RFC 7662), revocation (RFC 7009),
//! server metadata (RFC 8414).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The form both endpoints read.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenForm {
    /// The token: an access token or a refresh token.
    pub token: Option<String>,
    /// `access_token` or `refresh_token`: where to look first (a wrong or
    /// unknown hint only costs the other lookup).
    #[cfg_attr(feature = "openapi", schema(example = "access_token"))]
    pub token_type_hint: Option<String>,
    /// `client_secret_post`: the client's id (or use HTTP Basic).
    pub client_id: Option<String>,
    /// `client_secret_post`: the client's secret.
    pub client_secret: Option<String>,
}

/// RFC 7662 §2.2. Only `active` when the token is not active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntrospectionResponse {
    pub active: bool,
    /// The user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The user's email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether that address was verified (by a mailed link or a provider
    /// that vouched for it): an unverified address is not an identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The session's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// `Bearer` (an access token) or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The user's roles now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The application the token was issued to: a relying party's client id,
    /// else `JWT_AUDIENCE` (the platform's own front end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// What a relying party was granted (space-separated); absent for the
    /// platform's own tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// RFC 8414 authorization server metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerMetadata {
    /// `iss` of every access token (`JWT_ISSUER`; set it to this service's
    /// public URL for RFC 8414's rule that the two match).
    pub issuer: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    #[cfg_attr(feature = "openapi", schema(example = json!(["client_secret_basic", "client_secret_post"])))]
    pub introspection_endpoint_auth_methods_supported: Vec<Cow<'static, str>>,
    pub revocation_endpoint: String,
    #[cfg_attr(feature = "openapi", schema(example = json!(["client_secret_basic", "client_secret_post"])))]
    pub revocation_endpoint_auth_methods_supported: Vec<Cow<'static, str>>,
    /// No third-party authorization flows: empty.
    pub response_types_supported: Vec<Cow<'static, str>>,
}
