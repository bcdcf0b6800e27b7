//! The OAuth 2.0 endpoints other services call: token introspection (RFC 7662)
//! and revocation (RFC 7009), form-encoded as the RFCs say, for registered API
//! clients (HTTP Basic, or `client_id`/`client_secret` in the form), and the
//! RFC 8414 metadata document that advertises them.

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use domain::{
    error::AuthError, introspection::Introspected, introspection::TokenKind, ports::ApiClient,
    provider::GrantError,
};
use metrics::Counter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::oidc::{Failure, OAuthReply, credentials_of};
use crate::extract::Client;
use crate::state::AppState;
use api_types::*;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(introspect))
        .routes(routes!(revoke))
        .routes(routes!(metadata))
}

fn inactive() -> IntrospectionResponse {
    IntrospectionResponse {
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
        scope: None,
    }
}

fn active_token(found: Introspected, keys: &domain::tokens::AccessTokens) -> IntrospectionResponse {
    let common = IntrospectionResponse {
        active: true,
        iss: Some(keys.issuer().to_string()),
        aud: Some(keys.audience().to_owned()),
        ..inactive()
    };
    match found {
        Introspected::User(token) => IntrospectionResponse {
            sub: Some(token.user.id.to_string()),
            username: Some(token.user.email.as_str().to_owned()),
            email_verified: Some(token.user.email_verified),
            sid: Some(token.session_id.to_string()),
            exp: Some(token.exp),
            iat: Some(token.iat),
            token_type: Some(
                match token.kind {
                    TokenKind::AccessToken => "Bearer",
                    TokenKind::RefreshToken => "refresh_token",
                }
                .to_owned(),
            ),
            roles: Some(token.user.roles),
            client_id: Some(
                token
                    .client
                    .map_or_else(|| keys.audience().to_owned(), |c| c.client_id.to_string()),
            ),
            scope: token.client.map(|c| c.scopes.to_string()),
            ..common
        },
        // A client's own token: no user, no session.
        Introspected::Client(token) => IntrospectionResponse {
            sub: Some(token.client_id.to_string()),
            exp: Some(token.exp),
            iat: Some(token.iat),
            token_type: Some("Bearer".to_owned()),
            client_id: Some(token.client_id.to_string()),
            scope: Some(token.scopes.to_string()),
            ..common
        },
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
    post, path = paths::INTROSPECT, tag = "oauth2",
    security(("client_basic" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`active: true` with the token's claims, or `active: false` alone (expired, revoked, unknown, or another client's when the caller is a relying party: never why)", body = IntrospectionResponse),
        (status = 400, description = "`invalid_request`: no `token`, not a form, or two client authentication methods", body = OAuthError),
        (status = 401, description = "`invalid_client`: unknown client or wrong secret (with `WWW-Authenticate: Basic`)", body = OAuthError),
    )
)]
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let form: TokenForm = parse_form(&headers, body)?;
    let caller = authenticate(&state, &headers, &form)
        .await
        .inspect_err(|_| counted(2))?;
    let token = required_token(&form)?;
    let hint = TokenKind::from_hint(form.token_type_hint.as_deref());
    let found = state
        .provider
        .introspect(&caller, token, hint)
        .await
        .map_err(internal)?;
    let answer = match found {
        Some(found) => {
            counted(0);
            active_token(found, state.auth.access_tokens())
        }
        None => {
            counted(1);
            inactive()
        }
    };
    Ok(([(CACHE_CONTROL, "no-store")], Json(answer)).into_response())
}

/// Revoke a token: its session ends on every instance at once (RFC 7009).
#[utoipa::path(
    post, path = paths::REVOKE, tag = "oauth2",
    security(("client_basic" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (an unknown, expired, already revoked or another client's token answers the same)"),
        (status = 400, description = "`invalid_request`: no `token`, not a form, or two client authentication methods", body = OAuthError),
        (status = 401, description = "`invalid_client`: unknown client or wrong secret (with `WWW-Authenticate: Basic`)", body = OAuthError),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Failure> {
    let form: TokenForm = parse_form(&headers, body)?;
    let caller = authenticate(&state, &headers, &form).await?;
    let token = required_token(&form)?;
    let hint = TokenKind::from_hint(form.token_type_hint.as_deref());
    let client = domain::ClientInfo::new(Some(&format!("API client {}", caller.id)), client.ip);
    state
        .provider
        .revoke(&caller, token, hint, &client)
        .await
        .map_err(internal)?;
    Ok(StatusCode::OK)
}

/// Where the introspection and revocation endpoints are, and how to call them.
#[utoipa::path(
    get, path = paths::AUTHORIZATION_SERVER_METADATA, tag = "oauth2",
    responses((status = 200, description = "RFC 8414 metadata", body = ServerMetadata)),
)]
async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let base = state.public_base_url.base();
    const METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];
    let body = ServerMetadata {
        issuer: state.auth.access_tokens().issuer().to_string(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        introspection_endpoint: format!("{base}/oauth2/introspect"),
        introspection_endpoint_auth_methods_supported: METHODS.map(Cow::Borrowed).to_vec(),
        revocation_endpoint: format!("{base}/oauth2/revoke"),
        revocation_endpoint_auth_methods_supported: METHODS.map(Cow::Borrowed).to_vec(),
        response_types_supported: Vec::new(),
    };
    ([(CACHE_CONTROL, "public, max-age=300")], Json(body))
}

/// Why a form body could not be read.
pub(crate) enum FormError {
    TooLarge,
    Invalid(&'static str),
}

/// The body as the RFCs send it: `application/x-www-form-urlencoded` (at most
/// [`crate::BODY_LIMIT`], as every body).
pub(crate) fn parse_form<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, FormError> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(FormError::Invalid(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            FormError::TooLarge
        } else {
            FormError::Invalid("The body could not be read.")
        }
    })?;
    serde_urlencoded::from_bytes(&body)
        .map_err(|_| FormError::Invalid("The body is not a valid form."))
}

fn required_token(form: &TokenForm) -> Result<&str, Failure> {
    form.token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Failure::OAuth(OAuthReply::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The `token` parameter is required.",
            ))
        })
}

/// A failure of the service, not of the request: the API's 503 problem.
fn internal(error: AuthError) -> Failure {
    Failure::Internal(error.into())
}

/// The client that sent the request, authenticated with its secret
/// (RFC 6749 §2.3.1: HTTP Basic or the form).
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<ApiClient, Failure> {
    let credentials = credentials_of(
        headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )?;
    let secret = credentials
        .secret
        .ok_or(GrantError::from(AuthError::InvalidClient))?;
    Ok(state
        .clients
        .authenticate(&credentials.client_id, &secret)
        .await
        .map_err(GrantError::from)?)
}
