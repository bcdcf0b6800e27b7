//! Second factors: TOTP, recovery codes, the second step of a sign-in.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaStatusResponse {
    /// Whether a confirmed TOTP authenticator is on.
    pub totp: bool,
    /// Unused recovery codes.
    #[cfg_attr(feature = "openapi", schema(example = 10))]
    pub recovery_codes_left: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpSetupResponse {
    /// The shared secret, base32, for typing into an authenticator app. Shown
    /// here once; never again.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    )]
    pub secret: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "otpauth://totp/codezest-auth:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=codezest-auth"
        )
    )]
    pub otpauth_uri: String,
    /// The `otpauth_uri` as a QR code (an SVG document).
    pub qr_svg: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCodesResponse {
    /// Ten single-use codes, shown once: each completes one sign-in in place
    /// of a TOTP code.
    #[cfg_attr(feature = "openapi", schema(example = json!(["k7qd-3xv2-a9mh-pt4w-ze5n-r2cb"])))]
    pub recovery_codes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeRequest {
    /// A current 6-digit TOTP code (where a recovery code is accepted too,
    /// anything else is taken as one).
    #[cfg_attr(
        feature = "openapi",
        schema(example = "123456", min_length = 1, max_length = 64)
    )]
    pub code: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaVerifyRequest {
    /// From the `mfa_required` problem.
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "3q2-7wEjv1ZbVJ4l5mWcL3a3u7k0q9sP2d8xYzT1aBc",
            min_length = 1,
            max_length = 64
        )
    )]
    pub mfa_token: String,
    /// A current TOTP code; or else:
    #[cfg_attr(feature = "openapi", schema(example = "123456", max_length = 64))]
    pub code: Option<String>,
    /// One of the account's unused recovery codes; or else:
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub recovery_code: Option<String>,
    /// A passkey's answer (`PublicKeyCredential.toJSON()`) to the options of
    /// `/auth/mfa/webauthn/challenge` for this sign-in.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub credential: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaTokenRequest {
    /// From the `mfa_required` problem.
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "3q2-7wEjv1ZbVJ4l5mWcL3a3u7k0q9sP2d8xYzT1aBc",
            min_length = 1,
            max_length = 64
        )
    )]
    pub mfa_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebAuthnRequestResponse {
    /// `PublicKeyCredentialRequestOptions` for `navigator.credentials.get`
    /// (binary fields base64url), listing the account's passkeys.
    #[serde(rename = "publicKey")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub public_key: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemovalLinkRequest {
    /// The token from the notice's link (`…/remove-sign-in-method?token=…`).
    pub token: String,
}
