//! The OAuth 2.0 endpoints other services call: token introspection (RFC 7662)
//! and revocation (RFC 7009), form-encoded as the RFCs say, for registered API
//! clients (HTTP Basic, or `client_id`/`client_secret` in the form), and the
//! RFC 8414 metadata document that advertises them.

use std::sync::OnceLock;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use domain::{
    error::AuthError, introspection::ActiveToken, introspection::TokenKind, ports::ApiClient,
};
use metrics::Counter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, Problem, Result};
use crate::extract::Client;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(introspect))
        .routes(routes!(revoke))
        .routes(routes!(metadata))
}

/// The form both endpoints read.
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// The token: an access token or a refresh token.
    pub token: Option<String>,
    /// `access_token` or `refresh_token`: where to look first (a wrong or
    /// unknown hint only costs the other lookup).
    #[schema(example = "access_token")]
    pub token_type_hint: Option<String>,
    /// `client_secret_post`: the client's id (or use HTTP Basic).
    pub client_id: Option<String>,
    /// `client_secret_post`: the client's secret.
    pub client_secret: Option<String>,
}

/// RFC 7662 §2.2. Only `active` when the token is not active.
#[derive(Serialize, ToSchema)]
#[cfg_attr(feature = "client", derive(Deserialize, Debug))]
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
    /// The application the token was issued to (`JWT_AUDIENCE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl IntrospectionResponse {
    fn inactive() -> Self {
        Self {
            active: false,
            sub: None,
            username: None,
            email_verified: None,
            sid: None,
            exp: None,
            iat: None,
            iss: None,
            aud: None,
            token_type: None,
            roles: None,
            client_id: None,
        }
    }

    fn active(token: ActiveToken, keys: &domain::tokens::AccessTokens) -> Self {
        Self {
            active: true,
            sub: Some(token.user.id.to_string()),
            username: Some(token.user.email.as_str().to_owned()),
            email_verified: Some(token.user.email_verified),
            sid: Some(token.session_id.to_string()),
            exp: Some(token.exp),
            iat: Some(token.iat),
            iss: Some(keys.issuer().to_string()),
            aud: Some(keys.audience().to_owned()),
            token_type: Some(
                match token.kind {
                    TokenKind::AccessToken => "Bearer",
                    TokenKind::RefreshToken => "refresh_token",
                }
                .to_owned(),
            ),
            roles: Some(token.user.roles),
            client_id: Some(keys.audience().to_owned()),
        }
    }
}

/// `introspection_total{outcome}`: `active`, `inactive`, `invalid_client`.
fn counted(outcome: usize) {
    static COUNTERS: OnceLock<[Counter; 3]> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        ["active", "inactive", "invalid_client"]
            .map(|outcome| metrics::counter!("introspection_total", "outcome" => outcome))
    });
    counters[outcome].increment(1);
}

/// Is this token active, and whose is it? (RFC 7662)
#[utoipa::path(
    post, path = "/oauth2/introspect", tag = "oauth2",
    security(("client_basic" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`active: true` with the token's claims, or `active: false` alone (expired, revoked, unknown or foreign: never why)", body = IntrospectionResponse),
        (status = 400, description = "`invalid_request`: no `token`, not a form, or two client authentication methods", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_client`: unknown client or wrong secret (with `WWW-Authenticate: Basic`)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse> {
    let form = parse_form(&headers, body)?;
    authenticate(&state, &headers, &form)
        .await
        .inspect_err(|_| counted(2))?;
    let token = required_token(&form)?;
    let hint = TokenKind::from_hint(form.token_type_hint.as_deref());
    let answer = match state.auth.introspect(token, hint).await? {
        Some(active) => {
            counted(0);
            IntrospectionResponse::active(active, state.auth.access_tokens())
        }
        None => {
            counted(1);
            IntrospectionResponse::inactive()
        }
    };
    Ok(([(CACHE_CONTROL, "no-store")], Json(answer)))
}

/// Revoke a token: its session ends on every instance at once (RFC 7009).
#[utoipa::path(
    post, path = "/oauth2/revoke", tag = "oauth2",
    security(("client_basic" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (an unknown, expired or already revoked token answers the same)"),
        (status = 400, description = "`invalid_request`: no `token`, not a form, or two client authentication methods", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_client`: unknown client or wrong secret (with `WWW-Authenticate: Basic`)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode> {
    let form = parse_form(&headers, body)?;
    let api_client = authenticate(&state, &headers, &form).await?;
    let token = required_token(&form)?;
    let hint = TokenKind::from_hint(form.token_type_hint.as_deref());
    let client = domain::ClientInfo::new(Some(&format!("API client {}", api_client.id)), client.ip);
    state.auth.revoke_token(token, hint, &client).await?;
    Ok(StatusCode::OK)
}

/// RFC 8414 authorization server metadata.
#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    /// `iss` of every access token (`JWT_ISSUER`; set it to this service's
    /// public URL for RFC 8414's rule that the two match).
    pub issuer: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    #[schema(example = json!(["client_secret_basic", "client_secret_post"]))]
    pub introspection_endpoint_auth_methods_supported: [&'static str; 2],
    pub revocation_endpoint: String,
    #[schema(example = json!(["client_secret_basic", "client_secret_post"]))]
    pub revocation_endpoint_auth_methods_supported: [&'static str; 2],
    /// No third-party authorization flows: empty.
    pub response_types_supported: [&'static str; 0],
}

/// Where the introspection and revocation endpoints are, and how to call them.
#[utoipa::path(
    get, path = "/.well-known/oauth-authorization-server", tag = "oauth2",
    responses((status = 200, description = "RFC 8414 metadata", body = ServerMetadata)),
)]
async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let base = state.public_base_url.base();
    const METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];
    let body = ServerMetadata {
        issuer: state.auth.access_tokens().issuer().to_string(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        introspection_endpoint: format!("{base}/oauth2/introspect"),
        introspection_endpoint_auth_methods_supported: METHODS,
        revocation_endpoint: format!("{base}/oauth2/revoke"),
        revocation_endpoint_auth_methods_supported: METHODS,
        response_types_supported: [],
    };
    ([(CACHE_CONTROL, "public, max-age=300")], Json(body))
}

/// The body as the RFCs send it: `application/x-www-form-urlencoded` (at most
/// [`crate::BODY_LIMIT`], as every body).
fn parse_form(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<TokenForm> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ApiError::InvalidOAuthRequest(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidOAuthRequest("The body could not be read.")
        }
    })?;
    serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::InvalidOAuthRequest("The body is not a valid form."))
}

fn required_token(form: &TokenForm) -> Result<&str> {
    form.token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::InvalidOAuthRequest(
            "The `token` parameter is required.",
        ))
}

/// RFC 6749 §2.3.1: HTTP Basic (id and secret form-encoded, then base64), or
/// both in the form; never both ways at once.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<ApiClient> {
    let (id, secret) = match headers.get(AUTHORIZATION) {
        Some(header) => {
            if form.client_secret.is_some() {
                return Err(ApiError::InvalidOAuthRequest(
                    "Use one client authentication method: HTTP Basic or the form, not both.",
                ));
            }
            let (id, secret) = basic(header.as_bytes()).ok_or(AuthError::InvalidClient)?;
            if form
                .client_id
                .as_ref()
                .is_some_and(|form_id| *form_id != id)
            {
                return Err(ApiError::InvalidOAuthRequest(
                    "`client_id` differs from the HTTP Basic user.",
                ));
            }
            (id, secret)
        }
        None => match (&form.client_id, &form.client_secret) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => return Err(AuthError::InvalidClient.into()),
        },
    };
    Ok(state.clients.authenticate(&id, &secret).await?)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret+x"));
        assert_eq!(
            basic(header.as_bytes()),
            Some(("my id".to_owned(), "s:cret x".to_owned()))
        );
        assert_eq!(basic(b"Bearer abc"), None);
        assert_eq!(basic(b"Basic !!!"), None);
        let no_colon = format!("Basic {}", STANDARD.encode("nocolon"));
        assert_eq!(basic(no_colon.as_bytes()), None);
    }
}
