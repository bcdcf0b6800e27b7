//! `GET /api/v1/auth/verify` (and, for Envoy, any method on
//! `/api/v1/auth/verify/{original path}`): forward-auth for reverse proxies (nginx
//! `auth_request`, Traefik ForwardAuth, Envoy `ext_authz`, Caddy
//! `forward_auth`). The proxy passes the original request's `Authorization`;
//! the answer is 200 with the identity in headers, or 401. It is `/me`'s path —
//! the verified-token cache, the session and the user from the two-tier cache —
//! without a body, so a logout anywhere is seen by the next proxied request.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use metrics::Counter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::BearerUser;
use crate::problems::Bearer;
use crate::state::AppState;
use api_types::*;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        // Envoy's HTTP `ext_authz` asks with the original method and the
        // original path appended to its `path_prefix`; the answer is the same.
        // Not in the OpenAPI document: it is `GET /api/v1/auth/verify` under
        // every method and path.
        .route("/api/v1/auth/verify/", any(verify))
        .route("/api/v1/auth/verify/{*path}", any(verify))
}

const USER_ID: HeaderName = HeaderName::from_static("x-auth-user-id");
const SESSION_ID: HeaderName = HeaderName::from_static("x-auth-session-id");
const EMAIL: HeaderName = HeaderName::from_static("x-auth-email");
const EMAIL_VERIFIED: HeaderName = HeaderName::from_static("x-auth-email-verified");
const ROLES: HeaderName = HeaderName::from_static("x-auth-roles");

/// `forward_auth_total{outcome}`, looked up once: this is a hot path.
fn counted(allowed: bool) {
    static COUNTERS: OnceLock<[Counter; 2]> = OnceLock::new();
    let [allow, deny] = COUNTERS.get_or_init(|| {
        [
            metrics::counter!("forward_auth_total", "outcome" => "allow"),
            metrics::counter!("forward_auth_total", "outcome" => "deny"),
        ]
    });
    if allowed { allow } else { deny }.increment(1);
}

/// Whether the proxied request's bearer token is valid and its session active.
#[utoipa::path(
    get, path = paths::VERIFY, tag = "gateway",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Signed in; the identity is in the headers, the body is empty",
            headers(
                ("X-Auth-User-Id" = String, description = "The user's id (UUID)"),
                ("X-Auth-Session-Id" = String, description = "The session's id (UUID)"),
                ("X-Auth-Email" = String, description = "The user's email address"),
                ("X-Auth-Email-Verified" = String, description = "`true` when that address was verified, else `false`: an unverified address is not an identity"),
                ("X-Auth-Roles" = String, description = "The user's roles, comma-separated (empty for none)"),
            )),
        Bearer,
    )
)]
async fn verify(
    State(state): State<AppState>,
    principal: Result<BearerUser, ApiError>,
) -> Result<Response, ApiError> {
    let identity = async {
        let BearerUser(principal) = principal?;
        let user = state.auth.user(&principal).await?;
        Ok::<_, ApiError>((principal, user))
    };
    let (principal, user) = identity.await.inspect_err(|error| {
        if error.status() == StatusCode::UNAUTHORIZED {
            counted(false);
        }
    })?;
    counted(true);
    // Ids are formatted on the stack; each header value is one copy.
    let mut user_id = uuid::Uuid::encode_buffer();
    let mut session_id = uuid::Uuid::encode_buffer();
    // Bytes, not `from_str`: an address may be Unicode (UTF-8 is obs-text to
    // HTTP); it never holds control characters (`Email::parse`).
    let header =
        |value: &str| HeaderValue::from_bytes(value.as_bytes()).map_err(ApiError::internal);
    let headers = [
        (
            USER_ID,
            header(
                principal
                    .user_id
                    .as_uuid()
                    .hyphenated()
                    .encode_lower(&mut user_id),
            )?,
        ),
        (
            SESSION_ID,
            header(
                principal
                    .session_id
                    .as_uuid()
                    .hyphenated()
                    .encode_lower(&mut session_id),
            )?,
        ),
        (EMAIL, header(user.email.as_str())?),
        (
            EMAIL_VERIFIED,
            HeaderValue::from_static(if user.email_verified { "true" } else { "false" }),
        ),
        (ROLES, roles(&user.roles)?),
    ];
    Ok((StatusCode::OK, headers).into_response())
}

/// `X-Auth-Roles`: static (no copy) for a user without roles, the usual case.
fn roles(roles: &[String]) -> Result<HeaderValue, ApiError> {
    if roles.is_empty() {
        return Ok(HeaderValue::from_static(""));
    }
    HeaderValue::from_str(&roles.join(",")).map_err(ApiError::internal)
}
