//! Passkeys (WebAuthn).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CeremonyResponse {
    /// Names this ceremony when it is finished (single use, 5 minutes).
    pub challenge_id: Uuid,
    /// `PublicKeyCredentialCreationOptions` (registration) or
    /// `PublicKeyCredentialRequestOptions` (sign-in) for `navigator.credentials`.
    #[serde(rename = "publicKey")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub public_key: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeyDto {
    pub id: Uuid,
    #[cfg_attr(feature = "openapi", schema(example = "MacBook Touch ID"))]
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// `null` until the passkey first signs in.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterFinishRequest {
    pub challenge_id: Uuid,
    /// 1–64 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "MacBook Touch ID", min_length = 1, max_length = 64)
    )]
    pub name: String,
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.create`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: Value,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenameRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(example = "YubiKey 5C", min_length = 1, max_length = 64)
    )]
    pub name: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginFinishRequest {
    pub challenge_id: Uuid,
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.get`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: Value,
}
