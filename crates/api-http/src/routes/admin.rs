//! `/api/v1/admin/*`: the admin API (role `admin`). One layer guards every
//! route of this router — a valid token whose user has the role *now* — and
//! hands the handlers the checked [`Admin`]; a route added here is guarded
//! without a word more (and the test that walks the OpenAPI document proves it).

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Json};
use domain::{ClientId, UserId, admin::Admin, ports::UserQuery};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::*;
use crate::error::{ApiError, Result};
use crate::extract::{AppJson, AppQuery, AuthUser, Client};
use crate::problems::{AdminOnly, Invalid, NoSuchUser, SelfAdministration};
use crate::routes::admin_dto::{created_client, registration_request};
use crate::state::AppState;
use api_types::*;

/// The admin routes behind their guard.
pub(crate) fn router(state: AppState) -> OpenApiRouter<AppState> {
    routes().route_layer(axum::middleware::from_fn_with_state(state, require_admin))
}

/// The routes alone (for the OpenAPI document).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, delete_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(revoke_user_sessions))
        .routes(routes!(remove_user_factors))
        .routes(routes!(set_roles))
        .routes(routes!(create_client, list_clients))
        .routes(routes!(delete_client))
}

/// 401 without a valid token, 403 `forbidden` without the role; otherwise the
/// request goes on with its [`Admin`].
async fn require_admin(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    mut request: Request,
    next: Next,
) -> Result<Response> {
    let admin = state.admin.admin(&principal).await?;
    request.extensions_mut().insert(admin);
    Ok(next.run(request).await)
}

/// A path's user id; anything but a UUID names no user (404).
fn user_id(raw: &str) -> Result<UserId> {
    raw.parse()
        .map_err(|_| domain::error::Resource::User.into())
}

fn instant(field: &'static str, raw: Option<&str>) -> Result<Option<OffsetDateTime>> {
    raw.map(|raw| {
        OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| {
            ApiError::from(domain::FieldError::new(
                field,
                "must be an RFC 3339 date-time, like 2026-01-31T12:00:00Z",
            ))
        })
    })
    .transpose()
}

fn user_query(query: ListUsersQuery) -> Result<UserQuery> {
    let limit = match query.limit {
        None => 50,
        Some(limit @ 1..=100) => limit as u32,
        Some(_) => {
            return Err(domain::FieldError::new("limit", "must be between 1 and 100").into());
        }
    };
    let email_prefix = query
        .query
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    if email_prefix
        .as_ref()
        .is_some_and(|q| q.chars().count() > 254)
    {
        return Err(domain::FieldError::new("query", "must be at most 254 characters").into());
    }
    // No address holds a control character (`Email::parse`), and
    // PostgreSQL refuses NUL in text outright: say so, not 500.
    if email_prefix
        .as_ref()
        .is_some_and(|q| q.chars().any(char::is_control))
    {
        return Err(domain::FieldError::new("query", "must not contain control characters").into());
    }
    let before = query
        .cursor
        .map(|c| {
            c.parse::<UserId>()
                .map_err(|_| domain::FieldError::new("cursor", "is not a cursor this API gave"))
        })
        .transpose()?;
    Ok(UserQuery {
        email_prefix,
        created_after: instant("created_after", query.created_after.as_deref())?,
        created_before: instant("created_before", query.created_before.as_deref())?,
        before,
        limit,
    })
}

/// List and search users, newest first, a page at a time.
#[utoipa::path(
    get, path = paths::ADMIN_USERS, tag = "admin",
    security(("bearer" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, description = "A page of users", body = UserListResponse),
        (status = 422, description = "A query parameter is invalid"),
        AdminOnly,
    )
)]
async fn list_users(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    AppQuery(query): AppQuery<ListUsersQuery>,
) -> Result<Json<UserListResponse>> {
    let page = state.admin.list_users(admin, user_query(query)?).await?;
    Ok(Json(UserListResponse {
        users: page.users.into_iter().map(ToDto::to_dto).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

/// One user with their sessions, linked providers and second factors.
#[utoipa::path(
    get, path = paths::ADMIN_USER, tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 200, description = "The user", body = AdminUserResponse),
        AdminOnly, NoSuchUser,
    )
)]
async fn get_user(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Path(id): Path<String>,
) -> Result<Json<AdminUserResponse>> {
    let detail = state.admin.user(admin, user_id(&id)?).await?;
    Ok(Json(detail.to_dto()))
}

/// Delete a user with everything of theirs.
#[utoipa::path(
    delete, path = paths::ADMIN_USER, tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 204, description = "Deleted; their tokens stop working at once"),
        AdminOnly, NoSuchUser, SelfAdministration,
    )
)]
async fn delete_user(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.admin.delete(admin, user_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disable a user: every session ends at once; sign-in answers `account_disabled`.
#[utoipa::path(
    post, path = paths::ADMIN_USER_DISABLE, tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 204, description = "Disabled (or already was)"),
        AdminOnly, NoSuchUser, SelfAdministration,
    )
)]
async fn disable_user(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.admin.disable(admin, user_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable a disabled user (they sign in again; no session comes back).
#[utoipa::path(
    post, path = paths::ADMIN_USER_ENABLE, tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 204, description = "Enabled (or already was)"),
        AdminOnly, NoSuchUser,
    )
)]
async fn enable_user(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.admin.enable(admin, user_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove every second factor of a user (passkeys, TOTP, recovery codes): the
/// way back for an owner locked out by a factor someone else added.
#[utoipa::path(
    delete, path = paths::ADMIN_USER_MFA, tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 204, description = "Every passkey, TOTP and recovery code of the user removed; the password signs in alone"),
        AdminOnly, NoSuchUser,
    )
)]
async fn remove_user_factors(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state
        .admin
        .remove_factors(admin, user_id(&id)?, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of a user (they can sign in again).
#[utoipa::path(
    delete, path = paths::ADMIN_USER_SESSIONS, tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 204, description = "Every session ended, on every instance at once"),
        AdminOnly, NoSuchUser,
    )
)]
async fn revoke_user_sessions(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state
        .admin
        .revoke_sessions(admin, user_id(&id)?, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a user's roles; their tokens carry them from their next refresh,
/// forward-auth and introspection at once.
#[utoipa::path(
    put, path = paths::ADMIN_USER_ROLES, tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (UUID)")),
    request_body = SetRolesRequest,
    responses(
        (status = 200, description = "The roles now", body = RolesResponse),
        (status = 422, description = "A role name is invalid, or more than 32"),
        AdminOnly, NoSuchUser, SelfAdministration,
    )
)]
async fn set_roles(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Client(client): Client,
    Path(id): Path<String>,
    AppJson(body): AppJson<SetRolesRequest>,
) -> Result<Json<RolesResponse>> {
    let user = state
        .admin
        .set_roles(admin, user_id(&id)?, &body.roles, &client)
        .await?;
    Ok(Json(RolesResponse { roles: user.roles }))
}

/// Register a client: with a name only, an API client (introspection,
/// revocation, `client_credentials`); with redirect URIs, an application that
/// signs users in through the OpenID provider. Its secret is in this answer only.
#[utoipa::path(
    post, path = paths::ADMIN_CLIENTS, tag = "admin",
    security(("bearer" = [])),
    request_body = CreateClientRequest,
    responses(
        (status = 201, description = "Created; store the secret now", body = CreatedClientResponse),
        AdminOnly, Invalid,
    )
)]
async fn create_client(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Client(client): Client,
    AppJson(body): AppJson<CreateClientRequest>,
) -> Result<(StatusCode, Json<CreatedClientResponse>)> {
    let name = body.name.clone();
    let (created, secret) = state
        .clients
        .create(
            &name,
            registration_request(body),
            Some(admin.user_id),
            &client,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(created_client(created, secret.as_ref())),
    ))
}

/// Every API client (never a secret).
#[utoipa::path(
    get, path = paths::ADMIN_CLIENTS, tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The clients, oldest first", body = [ClientDto]),
        AdminOnly,
    )
)]
async fn list_clients(
    State(state): State<AppState>,
    Extension(_admin): Extension<Admin>,
) -> Result<Json<Vec<ClientDto>>> {
    let clients = state.clients.list().await?;
    Ok(Json(clients.into_iter().map(ToDto::to_dto).collect()))
}

/// Delete an API client: its secret stops working on every instance at once.
#[utoipa::path(
    delete, path = paths::ADMIN_CLIENT, tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Client id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such client"),
        AdminOnly,
    )
)]
async fn delete_client(
    State(state): State<AppState>,
    Extension(admin): Extension<Admin>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id: ClientId = id
        .parse()
        .map_err(|_| ApiError::from(domain::error::Resource::ApiClient))?;
    state.clients.delete(id, admin.user_id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
