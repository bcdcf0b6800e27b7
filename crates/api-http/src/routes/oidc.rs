//! The OpenID provider's protocol endpoints: discovery, the token endpoint,
//! pushed authorization requests and userinfo. Their errors are RFC 6749 JSON
//! (`error`, `error_description`), never problem+json; every answer carries
//! `Cache-Control: no-store` but discovery's. The authorization endpoint is
//! the browser's, answered by the hosted pages.

use std::borrow::Cow;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::error::AuthError;
use domain::oidc::{AuthorizeParams, Scope};
use domain::provider::{ClientCredentials, GrantError, GrantErrorCode, TokenRequest};
use http_kit::credentials::client_credentials;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::provider::{FormError, parse_form};
use crate::error::ApiError;
use crate::extract::{BearerUser, Client};
use crate::state::AppState;
use api_types::*;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery))
        .routes(routes!(token))
        .routes(routes!(par))
        .routes(routes!(userinfo_get, userinfo_post))
}

/// An RFC 6749 error answer.
pub(super) struct OAuthReply {
    status: StatusCode,
    error: &'static str,
    description: Cow<'static, str>,
    /// RFC 6750 §3 for userinfo's 401s; HTTP Basic for `invalid_client`.
    challenge: Option<String>,
}

impl OAuthReply {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            challenge: None,
        }
    }
}

impl IntoResponse for OAuthReply {
    fn into_response(self) -> Response {
        let body = OAuthError {
            error: self.error.to_owned(),
            error_description: self.description.into_owned(),
        };
        let mut response = (self.status, [(CACHE_CONTROL, "no-store")], Json(body)).into_response();
        if let Some(challenge) = self.challenge
            && let Ok(value) = challenge.parse()
        {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Internal failures keep the API's one way of being logged and answered
/// (503 problem+json: the service, not the request, failed).
pub(super) enum Failure {
    OAuth(OAuthReply),
    Internal(ApiError),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(reply) => reply.into_response(),
            Self::Internal(error) => error.into_response(),
        }
    }
}

impl From<FormError> for Failure {
    fn from(error: FormError) -> Self {
        match error {
            FormError::TooLarge => Self::Internal(ApiError::PayloadTooLarge),
            FormError::Invalid(why) => Self::OAuth(OAuthReply::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                why,
            )),
        }
    }
}

impl From<GrantError> for Failure {
    fn from(error: GrantError) -> Self {
        match error {
            GrantError::Refused(GrantErrorCode::InvalidClient, why) => Self::OAuth(OAuthReply {
                challenge: Some("Basic realm=\"codezest-auth\"".to_owned()),
                ..OAuthReply::new(StatusCode::UNAUTHORIZED, "invalid_client", why)
            }),
            GrantError::Refused(code, why) => {
                Self::OAuth(OAuthReply::new(StatusCode::BAD_REQUEST, code.as_str(), why))
            }
            GrantError::Failed(error) => Self::Internal(error.into()),
        }
    }
}

/// The client's credentials at a protocol endpoint: HTTP Basic, the form, or
/// (public clients) its id alone.
pub(super) fn credentials_of(
    headers: &HeaderMap,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<ClientCredentials, Failure> {
    let credentials = client_credentials(headers, client_id, client_secret).map_err(|error| {
        if error.is_invalid_client() {
            GrantError::Refused(GrantErrorCode::InvalidClient, error.describe()).into()
        } else {
            Failure::OAuth(OAuthReply::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                error.describe(),
            ))
        }
    })?;
    Ok(ClientCredentials {
        client_id: credentials.id,
        secret: credentials.secret,
    })
}

/// OpenID Connect Discovery 1.0.
#[utoipa::path(
    get, path = paths::OIDC_DISCOVERY, tag = "oidc",
    responses((status = 200, description = "The provider's metadata", body = DiscoveryDocument)),
)]
async fn discovery(State(state): State<AppState>) -> impl IntoResponse {
    let base = state.public_base_url.base();
    let owned = |items: &[&'static str]| items.iter().map(|s| Cow::Borrowed(*s)).collect();
    let mut algorithms = vec![Cow::Borrowed("RS256")];
    let signer = state.auth.access_tokens().signer();
    for alg in [
        domain::tokens::JwtAlgorithm::ES256,
        domain::tokens::JwtAlgorithm::EdDSA,
    ] {
        if signer.signs_with(alg) {
            algorithms.push(Cow::Borrowed(alg.as_str()));
        }
    }
    let body = DiscoveryDocument {
        issuer: state.provider.issuer().to_owned(),
        authorization_endpoint: format!("{base}{}", paths::OIDC_AUTHORIZE),
        pushed_authorization_request_endpoint: format!("{base}{}", paths::OIDC_PAR),
        token_endpoint: format!("{base}{}", paths::OIDC_TOKEN),
        userinfo_endpoint: format!("{base}{}", paths::OIDC_USERINFO),
        end_session_endpoint: format!("{base}{}", paths::OIDC_LOGOUT),
        jwks_uri: format!("{base}{}", paths::JWKS),
        introspection_endpoint: format!("{base}{}", paths::INTROSPECT),
        revocation_endpoint: format!("{base}{}", paths::REVOKE),
        scopes_supported: Scope::ALL
            .iter()
            .map(|s| Cow::Borrowed(s.as_str()))
            .collect(),
        claims_supported: owned(&[
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "amr",
            "acr",
            "at_hash",
            "azp",
            "name",
            "picture",
            "website",
            "updated_at",
            "email",
            "email_verified",
            "roles",
        ]),
        response_types_supported: owned(&["code"]),
        response_modes_supported: owned(&["query"]),
        grant_types_supported: owned(&[
            "authorization_code",
            "refresh_token",
            "client_credentials",
        ]),
        subject_types_supported: owned(&["public"]),
        id_token_signing_alg_values_supported: algorithms,
        token_endpoint_auth_methods_supported: owned(&[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ]),
        code_challenge_methods_supported: owned(&["S256"]),
        prompt_values_supported: owned(&["none", "login", "consent"]),
        authorization_response_iss_parameter_supported: true,
        // Not yet delivered: advertised when the back-channel outbox lands.
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        require_pushed_authorization_requests: false,
        request_parameter_supported: false,
        claims_parameter_supported: false,
    };
    ([(CACHE_CONTROL, "public, max-age=300")], Json(body))
}

/// The token endpoint: `authorization_code` (single use, bound to the
/// client, redirect URI and PKCE) and `refresh_token` (rotating, bound to
/// the client).
#[utoipa::path(
    post, path = paths::OIDC_TOKEN, tag = "oidc",
    security((), ("client_basic" = [])),
    request_body(content = OidcTokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The tokens", body = OidcTokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`", body = OAuthError),
        (status = 401, description = "`invalid_client`", body = OAuthError),
    )
)]
async fn token(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let form: OidcTokenForm = parse_form(&headers, body)?;
    let credentials = credentials_of(
        &headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )?;
    let tokens = state
        .provider
        .token(
            credentials,
            TokenRequest {
                grant_type: form.grant_type,
                code: form.code,
                redirect_uri: form.redirect_uri,
                code_verifier: form.code_verifier,
                refresh_token: form.refresh_token,
                scope: form.scope,
            },
            &client,
        )
        .await?;
    let body = OidcTokenResponse {
        access_token: tokens.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token.map(|t| t.expose().to_owned()),
        id_token: tokens.id_token,
        scope: tokens.scopes.to_string(),
    };
    Ok((
        [
            (CACHE_CONTROL, "no-store"),
            (axum::http::header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response())
}

/// RFC 9126: push an authorization request; send the browser with the
/// returned `request_uri` (single use, 60 s).
#[utoipa::path(
    post, path = paths::OIDC_PAR, tag = "oidc",
    security((), ("client_basic" = [])),
    request_body(content = AuthorizeRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Pushed", body = ParResponse),
        (status = 400, description = "`invalid_request`, `invalid_scope`", body = OAuthError),
        (status = 401, description = "`invalid_client`", body = OAuthError),
    )
)]
async fn par(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let form: AuthorizeRequest = parse_form(&headers, body)?;
    let credentials = credentials_of(
        &headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )?;
    let (request_uri, expires_in) = state
        .provider
        .push(credentials, authorize_params(form))
        .await?;
    Ok((
        StatusCode::CREATED,
        [(CACHE_CONTROL, "no-store")],
        Json(ParResponse {
            request_uri,
            expires_in,
        }),
    )
        .into_response())
}

/// The authorization request's parameters, for the domain.
pub(crate) fn authorize_params(form: AuthorizeRequest) -> AuthorizeParams {
    AuthorizeParams {
        client_id: form.client_id,
        redirect_uri: form.redirect_uri,
        response_type: form.response_type,
        scope: form.scope,
        state: form.state,
        nonce: form.nonce,
        code_challenge: form.code_challenge,
        code_challenge_method: form.code_challenge_method,
        prompt: form.prompt,
        max_age: form.max_age,
        login_hint: form.login_hint,
        ui_locales: form.ui_locales,
        id_token_hint: form.id_token_hint,
        acr_values: form.acr_values,
        request_uri: form.request_uri,
        request: form.request,
    }
}

/// The signed-in user's claims, by the token's scopes (OIDC Core §5.3).
#[utoipa::path(
    get, path = paths::OIDC_USERINFO, tag = "oidc",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims", body = UserInfoResponse),
        (status = 401, description = "`invalid_token`", body = OAuthError),
        (status = 403, description = "`insufficient_scope`: the token was not granted `openid`", body = OAuthError),
    )
)]
async fn userinfo_get(
    State(state): State<AppState>,
    principal: Result<BearerUser, ApiError>,
) -> Result<Response, Failure> {
    userinfo(state, principal).await
}

/// The same, by POST.
#[utoipa::path(
    post, path = paths::OIDC_USERINFO, tag = "oidc",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims", body = UserInfoResponse),
        (status = 401, description = "`invalid_token`", body = OAuthError),
        (status = 403, description = "`insufficient_scope`", body = OAuthError),
    )
)]
async fn userinfo_post(
    State(state): State<AppState>,
    principal: Result<BearerUser, ApiError>,
) -> Result<Response, Failure> {
    userinfo(state, principal).await
}

async fn userinfo(
    state: AppState,
    principal: Result<BearerUser, ApiError>,
) -> Result<Response, Failure> {
    let invalid = |why: &'static str| {
        Failure::OAuth(OAuthReply {
            challenge: Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{why}\""
            )),
            ..OAuthReply::new(StatusCode::UNAUTHORIZED, "invalid_token", why)
        })
    };
    let BearerUser(principal) = match principal {
        Ok(principal) => principal,
        Err(ApiError::Auth(AuthError::Denied(_))) => {
            return Err(invalid(
                "the access token is missing, invalid, expired or revoked",
            ));
        }
        Err(other) => return Err(Failure::Internal(other)),
    };
    let info = match state.provider.userinfo(&principal).await {
        Ok(Some(info)) => info,
        Ok(None) => {
            return Err(Failure::OAuth(OAuthReply {
                challenge: Some("Bearer error=\"insufficient_scope\", scope=\"openid\"".to_owned()),
                ..OAuthReply::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "the token was not granted openid",
                )
            }));
        }
        Err(AuthError::Denied(_)) => return Err(invalid("the session has ended")),
        Err(error) => return Err(Failure::Internal(error.into())),
    };
    let body = UserInfoResponse {
        sub: info.sub,
        name: info.name,
        picture: info.picture,
        website: info.website,
        updated_at: info.updated_at,
        email: info.email,
        email_verified: info.email_verified,
        roles: info.roles,
    };
    Ok(([(CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
