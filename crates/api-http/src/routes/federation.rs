//! `/api/v1/auth/oauth/*`: sign in with Google, GitHub or any OpenID Connect
//! provider, and link or unlink providers on a signed-in account.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{
    ProviderName, error::OAuthFailure, federation::Callback, federation::Completed,
    federation::HandOff,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::*;
use crate::error::{ApiError, Result};
use crate::extract::{AppJson, AuthUser, Client};
use crate::problems::{Bearer, Invalid, Limited, Provider};
use crate::routes::auth::token_response;
use crate::state::AppState;
use api_types::*;

/// The routes counted against the client address's limit (the caller puts
/// the per-address layer on them).
pub(crate) fn limited() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(callback))
        .routes(routes!(exchange))
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(link))
        .routes(routes!(accounts))
        .routes(routes!(unlink))
}

impl ToDto for domain::user::OAuthAccount {
    type Dto = OAuthAccountDto;
    fn to_dto(self) -> OAuthAccountDto {
        let account = self;
        OAuthAccountDto {
            provider: account.provider.to_string(),
            subject: account.subject,
            email: account.email,
            linked_at: account.created_at,
        }
    }
}

/// The `cz_oauth` cookie carrying `value` (empty: cleared): see
/// [`http_kit::cookies::provider_binding`].
fn binding_cookie(state: &AppState, value: &str) -> HeaderValue {
    let spec =
        http_kit::cookies::provider_binding(state.federation.public_base_url().is_secure_context());
    if value.is_empty() {
        spec.clear()
    } else {
        spec.set(value, http_kit::cookies::PROVIDER_BINDING_AGE)
    }
}

/// The `{provider}` path segment: a name that cannot be a provider's is an
/// unknown provider, like a well-formed one that is not configured.
fn provider_name(raw: String) -> Result<ProviderName> {
    ProviderName::parse(&raw).map_err(|_| OAuthFailure::UnknownProvider(raw).into())
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    // The name and path are what is read; the attributes do not matter here.
    http_kit::cookies::provider_binding(false).read(headers)
}

/// A 302 to `location`; `set` adds the binding cookie.
fn found(location: &str, cookie: HeaderValue) -> Result<Response> {
    let location = HeaderValue::from_str(location)
        .map_err(|_| crate::error::ApiError::internal("a redirect URL is not a header value"))?;
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
    )
        .into_response())
}

/// Start signing in with a provider.
#[utoipa::path(
    get, path = paths::OAUTH_AUTHORIZE, tag = "oauth",
    params(("provider" = String, Path, description = "`google`, `github`, or a name from `OIDC_PROVIDERS`"), RedirectQuery),
    responses(
        (status = 302, description = "To the provider, with `state`, PKCE `S256` and (OIDC) `nonce`; sets the `cz_oauth` cookie (HttpOnly, SameSite=Lax; Secure unless PUBLIC_BASE_URL is plain http on a non-loopback host)"),
        (status = 400, description = "`redirect_to` not allowed"),
        Provider,
    )
)]
async fn authorize(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<RedirectQuery>,
) -> Result<Response> {
    let provider = provider_name(provider)?;
    let started = state
        .federation
        .begin(&provider, query.redirect_to.as_deref(), None)
        .await?;
    found(
        &started.authorize_url,
        binding_cookie(&state, &started.browser_binding),
    )
}

/// The provider's redirect back: finishes the login.
#[utoipa::path(
    get, path = paths::OAUTH_CALLBACK, tag = "oauth",
    params(("provider" = String, Path), CallbackQuery),
    responses(
        (status = 200, description = "Signed in (or, for a link flow, the linked account)", body = TokenResponse),
        (status = 302, description = "To `redirect_to`, with a one-time `code` in the fragment (exchange it at `POST /api/v1/auth/oauth/exchange` within 60 s; tokens never travel in a URL); to the hosted pages' landing (`/ui/federated`), which works without a script, in the query"),
        (status = 400, description = "Bad, replayed, expired or foreign `state`; a provider error; wrong `iss`; a rejected ID token"),
        (status = 401, description = "`mfa_required`: the account has a second factor; the problem carries `mfa_token` and `methods` (with `redirect_to`: a 302 whose fragment has `error=mfa_required&mfa_token=…&methods=…`)"),
        (status = 403, description = "`oauth_email_unverified`: the provider did not verify the address, which therefore neither creates nor claims an account; `account_disabled`"),
        (status = 409, description = "`account_exists`: a local account has this email; sign in and link"),
        Provider,
    )
)]
async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
    Client(client): Client,
) -> Result<Response> {
    let from_pages = started_by_pages(&headers);
    let completed = match provider_name(provider) {
        Ok(provider) => {
            let callback = Callback {
                code: query.code,
                state: query.state,
                iss: query.iss,
                error: query.error,
                error_description: query.error_description,
            };
            state
                .federation
                .complete(&provider, callback, cookie(&headers).as_deref(), &client)
                .await
                .map_err(ApiError::from)
        }
        Err(refused) => Err(refused),
    };
    match completed {
        Ok(completed) => {
            let mut response = answer(&state, completed)?;
            if from_pages {
                let clear = pages_marker(&state).clear();
                response.headers_mut().append(header::SET_COOKIE, clear);
            }
            Ok(response)
        }
        // A sign-in the hosted pages started gets its refusal as a page.
        Err(refused) if from_pages => {
            let landing = state.federation.public_base_url().join(paths::UI_FEDERATED);
            let code = refused.problem().code;
            let mut response = found(
                &format!("{landing}?error={code}"),
                binding_cookie(&state, ""),
            )?;
            response
                .headers_mut()
                .append(header::SET_COOKIE, pages_marker(&state).clear());
            Ok(response)
        }
        Err(refused) => Err(refused),
    }
}

/// Whether the hosted pages started this sign-in (their marker cookie).
fn started_by_pages(headers: &HeaderMap) -> bool {
    pages_marker_spec(false).read(headers).is_some()
}

fn pages_marker_spec(secure: bool) -> http_kit::cookies::CookieSpec {
    http_kit::cookies::provider_from_pages(secure)
}

fn pages_marker(state: &AppState) -> http_kit::cookies::CookieSpec {
    pages_marker_spec(state.federation.public_base_url().is_secure_context())
}

/// A completed callback as JSON, or as a redirect to `redirect_to` with the
/// outcome in the fragment; either way the binding cookie is cleared.
fn answer(state: &AppState, completed: Completed) -> Result<Response> {
    let clear = [(header::SET_COOKIE, binding_cookie(state, ""))];
    match completed {
        Completed::SignedIn(step) => match token_response(state, step) {
            Ok(tokens) => Ok((clear, tokens).into_response()),
            Err(refusal) => Ok((clear, refusal).into_response()),
        },
        Completed::Linked {
            account,
            redirect_to: None,
        } => Ok((clear, Json(account.to_dto())).into_response()),
        Completed::Linked {
            account,
            redirect_to: Some(target),
        } => found(
            &deliver(state, &target, &format!("linked={}", account.provider)),
            binding_cookie(state, ""),
        ),
        Completed::Redirect {
            next: HandOff::Code(code),
            redirect_to,
        } => found(
            &deliver(state, &redirect_to, &format!("code={}", code.expose())),
            binding_cookie(state, ""),
        ),
        Completed::Redirect {
            next: HandOff::SecondFactor(required),
            redirect_to,
        } => {
            let fragment = format!(
                "error=mfa_required&mfa_token={}&methods={}",
                required.mfa_token.expose(),
                required.methods.names().join(",")
            );
            found(
                &deliver(state, &redirect_to, &fragment),
                binding_cookie(state, ""),
            )
        }
    }
}

/// Exchange the one-time code of a redirecting provider sign-in for tokens.
#[utoipa::path(
    post, path = paths::OAUTH_EXCHANGE, tag = "oauth",
    request_body = ExchangeRequest,
    responses(
        (status = 200, description = "Signed in: the session opens now", body = TokenResponse),
        (status = 400, description = "`invalid_oauth_state`: unknown, used or expired code (60 s, single use); or malformed JSON"),
        (status = 403, description = "`account_disabled`"),
        Limited, Invalid,
    )
)]
async fn exchange(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<ExchangeRequest>,
) -> Result<Json<TokenResponse>> {
    let step = state.federation.exchange(&body.code, &client).await?;
    token_response(&state, step)
}

/// `target` with the outcome of a callback: in the fragment (a front end's
/// script reads it; it reaches no server, log or referrer), except for the
/// hosted pages' landing on this service, which must work without a
/// script: there in the query (a single-use code of 60 s, or the second
/// factor's challenge, that the landing spends at once and redirects away
/// from; the pages send no referrer with a path elsewhere).
fn deliver(state: &AppState, target: &str, outcome: &str) -> String {
    let base = target.split('#').next().unwrap_or(target);
    let pages = state.federation.public_base_url().join(paths::UI_FEDERATED);
    if base.split('?').next() == Some(pages.as_str()) {
        let separator = if base.contains('?') { '&' } else { '?' };
        format!("{base}{separator}{outcome}")
    } else {
        format!("{base}#{outcome}")
    }
}

/// Start linking a provider to the signed-in account.
#[utoipa::path(
    post, path = paths::OAUTH_LINK, tag = "oauth",
    security(("bearer" = [])),
    params(("provider" = String, Path), RedirectQuery),
    responses(
        (status = 200, description = "Open this URL in the browser (which receives the `cz_oauth` cookie with this response)", body = AuthorizeUrl),
        (status = 403, description = "`email_not_verified`: a provider link needs a verified address"),
        Bearer, Provider,
    )
)]
async fn link(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(provider): Path<String>,
    Query(query): Query<RedirectQuery>,
) -> Result<Response> {
    let provider = provider_name(provider)?;
    let started = state
        .federation
        .begin(
            &provider,
            query.redirect_to.as_deref(),
            Some(principal.user_id),
        )
        .await?;
    Ok((
        [(
            header::SET_COOKIE,
            binding_cookie(&state, &started.browser_binding),
        )],
        Json(AuthorizeUrl {
            authorize_url: started.authorize_url,
        }),
    )
        .into_response())
}

/// The providers linked to the signed-in account.
#[utoipa::path(
    get, path = paths::OAUTH_ACCOUNTS, tag = "oauth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Linked providers", body = Vec<OAuthAccountDto>),
        Bearer,
    )
)]
async fn accounts(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<Vec<OAuthAccountDto>>> {
    let accounts = state.federation.accounts(principal.user_id).await?;
    Ok(Json(accounts.into_iter().map(ToDto::to_dto).collect()))
}

/// Unlink a provider (not the last way to sign in).
#[utoipa::path(
    delete, path = paths::OAUTH_PROVIDER, tag = "oauth",
    security(("bearer" = [])),
    params(("provider" = String, Path)),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "Not linked"),
        (status = 409, description = "`last_sign_in_method`: set a password or link another provider first"),
        Bearer,
    )
)]
async fn unlink(
    State(state): State<AppState>,
    Client(client): Client,
    AuthUser(principal): AuthUser,
    Path(provider): Path<String>,
) -> Result<StatusCode> {
    let provider = provider_name(provider)?;
    state
        .federation
        .unlink(principal.user_id, &provider, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
