//! Health, readiness, keys.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    #[cfg_attr(feature = "openapi", schema(example = "ok"))]
    pub status: Cow<'static, str>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadinessResponse {
    /// `ready`, `degraded` (Redis down, still serving) or `unavailable`.
    #[cfg_attr(feature = "openapi", schema(example = "ready"))]
    pub status: Cow<'static, str>,
    /// `up` or `down`.
    #[cfg_attr(feature = "openapi", schema(example = "up"))]
    pub postgres: Cow<'static, str>,
    /// `up`, `degraded` or `disabled`.
    #[cfg_attr(feature = "openapi", schema(example = "disabled"))]
    pub redis: Cow<'static, str>,
}

/// A public key (RFC 7517): `OKP` (Ed25519: `crv`, `x`), `EC` (P-256: `crv`,
/// `x`, `y`) or `RSA` (`n`, `e`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    #[cfg_attr(feature = "openapi", schema(example = "OKP"))]
    pub kty: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "Ed25519"))]
    pub crv: Option<Cow<'static, str>>,
    #[cfg_attr(feature = "openapi", schema(example = "EdDSA"))]
    pub alg: Cow<'static, str>,
    #[serde(rename = "use")]
    #[cfg_attr(feature = "openapi", schema(example = "sig"))]
    pub key_use: Cow<'static, str>,
    pub kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The RSA modulus (base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// The RSA public exponent (base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwksResponse {
    pub keys: Vec<Jwk>,
}
