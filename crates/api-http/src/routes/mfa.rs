//! `/api/v1/auth/mfa/*`: TOTP set-up and removal, recovery codes, and the
//! second step of a sign-in that answered `mfa_required`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{FieldError, mfa::Factor, mfa::MfaStatus, mfa::RecoveryCode, mfa::TotpSetup};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::*;
use crate::error::Result;
use crate::extract::{AppJson, AuthUser, Client};
use crate::problems::{
    Bearer, Code, Invalid, Limited, Locked, MailedLink, MfaToken, PasskeysOff, StepUp, TotpOff,
    TotpOn,
};
use crate::routes::auth::token_response;
use crate::state::AppState;
use api_types::*;

/// The routes counted against the client address's limit (the caller puts
/// the per-address layer on them).
pub(crate) fn limited() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(disable_totp))
        .routes(routes!(regenerate_recovery_codes))
        .routes(routes!(verify))
        .routes(routes!(webauthn_challenge))
        .routes(routes!(remove_by_link))
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// The longest code field read: a recovery code with spaces to spare.
const CODE_MAX: usize = 64;

impl ToDto for MfaStatus {
    type Dto = MfaStatusResponse;
    fn to_dto(self) -> MfaStatusResponse {
        let status = self;
        MfaStatusResponse {
            totp: status.totp,
            recovery_codes_left: status.recovery_codes_left,
        }
    }
}

impl ToDto for TotpSetup {
    type Dto = TotpSetupResponse;
    fn to_dto(self) -> TotpSetupResponse {
        let setup = self;
        TotpSetupResponse {
            secret: setup.secret,
            otpauth_uri: setup.otpauth_uri,
            qr_svg: setup.qr_svg,
        }
    }
}

impl ToDto for Vec<RecoveryCode> {
    type Dto = RecoveryCodesResponse;
    fn to_dto(self) -> RecoveryCodesResponse {
        let codes = self;
        RecoveryCodesResponse {
            recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
        }
    }
}

fn totp_code(request: &CodeRequest) -> Result<&str, FieldError> {
    checked("code", &request.code)
}

/// Six digits are a TOTP code; anything else a recovery code.
fn code_factor(request: &CodeRequest) -> Result<Factor, FieldError> {
    Ok(Factor::of_code(checked("code", &request.code)?))
}

fn checked<'a>(field: &'static str, code: &'a str) -> Result<&'a str, FieldError> {
    let code = code.trim();
    if code.is_empty() || code.len() > CODE_MAX {
        return Err(FieldError::new(
            field,
            "must be a code from 1 to 64 characters",
        ));
    }
    Ok(code)
}

fn verify_factor(request: &MfaVerifyRequest) -> Result<Factor, FieldError> {
    match (&request.code, &request.recovery_code, &request.credential) {
        (Some(code), None, None) => Ok(Factor::Totp(checked("code", code)?.to_owned())),
        (None, Some(code), None) => Ok(Factor::RecoveryCode(
            checked("recovery_code", code)?.to_owned(),
        )),
        (None, None, Some(credential)) if credential.is_object() => {
            Ok(Factor::WebAuthn(credential.clone()))
        }
        (None, None, Some(_)) => Err(FieldError::new(
            "credential",
            "must be a PublicKeyCredential JSON object",
        )),
        _ => Err(FieldError::new(
            "code",
            "give exactly one of `code`, `recovery_code` and `credential`",
        )),
    }
}

/// The signed-in user's second factors.
#[utoipa::path(
    get, path = paths::MFA, tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What is on", body = MfaStatusResponse),
        Bearer,
    )
)]
async fn status(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<MfaStatusResponse>> {
    Ok(Json(state.mfa.status(&principal).await?.to_dto()))
}

/// Start TOTP set-up: a new secret, not active until confirmed.
#[utoipa::path(
    post, path = paths::TOTP_SETUP, tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret, its `otpauth://` URI and a QR code; confirm with a code to turn it on", body = TotpSetupResponse),
        (status = 503, description = "`mfa_unavailable`: no `MFA_ENCRYPTION_KEY` in production"),
        Bearer, Limited, StepUp, TotpOn,
    )
)]
async fn setup_totp(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
) -> Result<Json<TotpSetupResponse>> {
    Ok(Json(
        state.mfa.setup_totp(&principal, &client).await?.to_dto(),
    ))
}

/// Turn TOTP on with a first correct code; returns ten recovery codes.
#[utoipa::path(
    post, path = paths::TOTP_CONFIRM, tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "TOTP is on; the recovery codes are shown this once", body = RecoveryCodesResponse),
        Limited, StepUp, Code, TotpOn,
    )
)]
async fn confirm_totp(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
    AppJson(body): AppJson<CodeRequest>,
) -> Result<Json<RecoveryCodesResponse>> {
    let code = totp_code(&body)?;
    let codes = state.mfa.confirm_totp(&principal, code, &client).await?;
    Ok(Json(codes.to_dto()))
}

/// Turn TOTP off (recovery codes too), with a current code or a recovery code.
#[utoipa::path(
    delete, path = paths::TOTP, tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 204, description = "TOTP is off; the recovery codes are void"),
        StepUp, Locked, Code, TotpOff,
    )
)]
async fn disable_totp(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
    AppJson(body): AppJson<CodeRequest>,
) -> Result<StatusCode> {
    let factor = code_factor(&body)?;
    state.mfa.disable_totp(&principal, &factor, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new set of recovery codes (the old set is void), with a current code or a recovery code.
#[utoipa::path(
    post, path = paths::RECOVERY_CODES, tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "The new codes, shown this once", body = RecoveryCodesResponse),
        StepUp, Locked, Code, TotpOff,
    )
)]
async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
    AppJson(body): AppJson<CodeRequest>,
) -> Result<Json<RecoveryCodesResponse>> {
    let factor = code_factor(&body)?;
    let codes = state
        .mfa
        .regenerate_recovery_codes(&principal, &factor, &client)
        .await?;
    Ok(Json(codes.to_dto()))
}

/// Complete a sign-in that answered `mfa_required`.
#[utoipa::path(
    post, path = paths::MFA_VERIFY, tag = "mfa",
    request_body = MfaVerifyRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 422, description = "Not exactly one of `code`, `recovery_code` and `credential`"),
        Locked, MfaToken,
    )
)]
async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<MfaVerifyRequest>,
) -> Result<Json<TokenResponse>> {
    let factor = verify_factor(&body)?;
    let step = state.mfa.verify(&body.mfa_token, &factor, &client).await?;
    token_response(&state, step)
}

/// WebAuthn options to complete a sign-in with one of the account's passkeys.
#[utoipa::path(
    post, path = paths::MFA_WEBAUTHN_CHALLENGE, tag = "mfa",
    request_body = MfaTokenRequest,
    responses(
        (status = 200, description = "Options for `navigator.credentials.get`; post its answer to `/auth/mfa/verify` as `credential`", body = WebAuthnRequestResponse),
        (status = 404, description = "The account has no passkey (`not_found`)"),
        (status = 422, description = "Missing `mfa_token`"),
        Limited, MfaToken, PasskeysOff,
    )
)]
async fn webauthn_challenge(
    State(state): State<AppState>,
    AppJson(body): AppJson<MfaTokenRequest>,
) -> Result<Json<WebAuthnRequestResponse>> {
    let public_key = state.mfa.webauthn_challenge(&body.mfa_token).await?;
    Ok(Json(WebAuthnRequestResponse { public_key }))
}

/// Use the link of a "sign-in method added" notice: the method it announced
/// is removed and every session of the account ends.
#[utoipa::path(
    post, path = paths::MFA_REMOVE_BY_LINK, tag = "mfa",
    request_body = RemovalLinkRequest,
    responses(
        (status = 204, description = "The sign-in method is gone (or was already) and every session has ended; reset the password next"),
        Limited, Invalid, MailedLink,
    )
)]
async fn remove_by_link(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<RemovalLinkRequest>,
) -> Result<StatusCode> {
    state
        .account
        .remove_factor_by_link(&body.token, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
