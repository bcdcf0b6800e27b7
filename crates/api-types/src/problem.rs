//! RFC 9457 problem documents: every error of the API.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI naming the problem type: `urn:codezest-auth:problem:{code}`.
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "openapi",
        schema(example = "urn:codezest-auth:problem:validation_failed")
    )]
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Validation failed"))]
    pub title: Cow<'static, str>,
    #[cfg_attr(feature = "openapi", schema(example = 422))]
    pub status: u16,
    #[cfg_attr(
        feature = "openapi",
        schema(example = "email: must be an email address like name@example.com")
    )]
    pub detail: String,
    /// Stable, machine-readable: `invalid_credentials`, `validation_failed`,
    /// `email_taken`, `unauthorized`, `token_reused`, `not_found`, …
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "validation_failed"))]
    pub code: Cow<'static, str>,
    /// Present with `validation_failed`: one entry per invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
    /// Present with `mfa_required`: completes the sign-in at
    /// `POST /api/v1/auth/mfa/verify` (single use, 5 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// Present with `mfa_required`: the second factors this account can use
    /// (`totp`, `recovery_code`, `webauthn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>, example = json!(["totp", "recovery_code"])))]
    pub methods: Option<Vec<Cow<'static, str>>>,
    /// Present on the OAuth 2.0 endpoints (introspection, revocation): the
    /// RFC 6749 error code (`invalid_client`, `invalid_request`), so OAuth
    /// client libraries read these answers too.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "invalid_client"))]
    pub error: Option<Cow<'static, str>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldProblem {
    #[cfg_attr(feature = "openapi", schema(example = "email"))]
    pub field: String,
    #[cfg_attr(
        feature = "openapi",
        schema(example = "must be an email address like name@example.com")
    )]
    pub message: String,
    /// Machine-readable, where a client may act on it: `password_too_common`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "password_too_common"))]
    pub code: Option<Cow<'static, str>>,
}
