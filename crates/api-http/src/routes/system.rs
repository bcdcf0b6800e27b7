//! Outside `/api/v1`: liveness, readiness and the JWKS document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::*;
use crate::readiness::ServiceStatus;
use crate::state::AppState;
use api_types::*;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(jwks))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = paths::HEALTHZ, tag = "system",
    responses((status = 200, description = "Alive", body = HealthResponse)))]
async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
    })
}

/// Readiness: PostgreSQL answers (503 if not); Redis is reported, never fatal.
#[utoipa::path(get, path = paths::READYZ, tag = "system",
    responses(
        (status = 200, description = "Ready (possibly degraded)", body = ReadinessResponse),
        (status = 503, description = "PostgreSQL unreachable", body = ReadinessResponse),
    ))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = state.readiness.check().await;
    let (status_code, status) = match (readiness.postgres, readiness.redis) {
        (ServiceStatus::Up, ServiceStatus::Up | ServiceStatus::Disabled) => {
            (StatusCode::OK, "ready")
        }
        (ServiceStatus::Up, _) => (StatusCode::OK, "degraded"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let body = ReadinessResponse {
        status: status.into(),
        postgres: readiness.postgres.as_str().into(),
        redis: readiness.redis.as_str().into(),
    };
    (
        status_code,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
}

/// The public keys that verify access tokens (RFC 7517). Empty with HS256.
#[utoipa::path(get, path = paths::JWKS, tag = "system",
    responses((status = 200, description = "JSON Web Key Set", body = JwksResponse)))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let keys = state
        .auth
        .access_tokens()
        .signer()
        .public_keys()
        .iter()
        .map(ToDto::to_dto)
        .collect();
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(JwksResponse { keys }),
    )
}
