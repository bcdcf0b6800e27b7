//! The OpenID provider's browser side: `/oauth2/authorize` (GET and POST),
//! sign-in through the pages (`return_to` the kept request), the consent page
//! (Allow / Deny), and the answer sent back to the client.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use domain::oidc::AuthorizeParams;
use domain::provider::{Authorization, AuthorizeError, LogoutParams};
use minijinja::context;
use serde::Deserialize;
use uuid::Uuid;

use super::with_return_to;
use crate::ctx::Page;
use crate::error::UiError;
use crate::forms::Posted;
use api_types::{AuthorizeRequest, paths};
use domain::oidc::PageRefusal;

fn params(form: AuthorizeRequest) -> AuthorizeParams {
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

/// `GET /oauth2/authorize`.
pub(crate) async fn authorize_get(
    page: Page,
    headers: HeaderMap,
    query: Result<Query<AuthorizeRequest>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return page.refusal(UiError::BadForm);
    };
    let principal = page.principal;
    let answer = page
        .state
        .provider
        .authorize(params(query), principal)
        .await;
    respond(page, &headers, answer)
}

/// `POST /oauth2/authorize`: a protocol endpoint (no anti-forgery token;
/// nothing is decided here): the request is kept and the browser looks it up
/// with a GET, which carries its session cookie.
pub(crate) async fn authorize_post(
    page: Page,
    form: Result<Form<AuthorizeRequest>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return page.refusal(UiError::BadForm);
    };
    match page.state.provider.keep(params(form)).await {
        Ok(Ok(request)) => page.redirect(&consent_path(request)),
        Ok(Err(redirect)) => page.redirect(&redirect),
        Err(error) => refused(page, error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsentQuery {
    request: Option<String>,
}

/// `GET /ui/consent?request=…`: where a kept request resumes (after sign-in).
pub(crate) async fn consent(
    page: Page,
    headers: HeaderMap,
    query: Result<Query<ConsentQuery>, QueryRejection>,
) -> Response {
    let Some(request) = query
        .ok()
        .and_then(|Query(q)| q.request)
        .and_then(|raw| raw.parse::<Uuid>().ok())
    else {
        return page.refusal(UiError::Authorization(PageRefusal::RequestExpired));
    };
    let principal = page.principal;
    let answer = page.state.provider.resume(request, principal).await;
    respond(page, &headers, answer)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsentForm {
    request: String,
    decision: String,
}

/// `POST /ui/consent`: Allow or Deny.
pub(crate) async fn decide(
    page: Page,
    headers: HeaderMap,
    Posted(form): Posted<ConsentForm>,
) -> Response {
    let (Ok(request), allow) = (
        form.request.parse::<Uuid>(),
        match form.decision.as_str() {
            "allow" => Some(true),
            "deny" => Some(false),
            _ => None,
        },
    ) else {
        return page.refusal(UiError::BadForm);
    };
    let Some(allow) = allow else {
        return page.refusal(UiError::BadForm);
    };
    let principal = page.principal;
    let answer = page.state.provider.decide(request, principal, allow).await;
    respond(page, &headers, answer)
}

fn consent_path(request: Uuid) -> String {
    format!("{}?request={request}", paths::UI_CONSENT)
}

fn refused(page: Page, error: AuthorizeError) -> Response {
    match error {
        AuthorizeError::Page(refusal) => page.refusal(UiError::Authorization(refusal)),
        AuthorizeError::Failed(error) => page.refusal(error.into()),
    }
}

fn respond(
    mut page: Page,
    headers: &HeaderMap,
    answer: Result<Authorization, AuthorizeError>,
) -> Response {
    if let Ok(
        Authorization::SignIn {
            ui_locales: Some(ui_locales),
            ..
        }
        | Authorization::Consent {
            ui_locales: Some(ui_locales),
            ..
        },
    ) = &answer
    {
        page.prefer_ui_locales(ui_locales);
    }
    match answer {
        Ok(Authorization::SignIn {
            request,
            login_hint,
            ..
        }) => {
            let mut to = with_return_to(paths::UI_SIGN_IN, &consent_path(request));
            if let Some(hint) = login_hint {
                let hint: String = url::form_urlencoded::byte_serialize(hint.as_bytes()).collect();
                to.push_str(&format!("&login_hint={hint}"));
            }
            page.redirect(&to)
        }
        Ok(Authorization::Consent {
            request,
            client_name,
            scopes,
            redirect_uri,
            ..
        }) => {
            let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            let mut response = page.render(
                StatusCode::OK,
                "consent.html",
                context! {
                    client_name,
                    scopes,
                    request => request.to_string(),
                    action => paths::UI_CONSENT,
                },
            );
            // Browsers check `form-action` on the redirect after the POST too:
            // the answer goes to the client's redirect URI.
            if let Some(policy) = consent_policy(&redirect_uri) {
                response
                    .headers_mut()
                    .insert(CONTENT_SECURITY_POLICY, policy);
            }
            response
        }
        Ok(Authorization::Redirect(location)) => {
            // Arrived here through this origin's own form (sign-in, second
            // factor): a redirect elsewhere would break that form's
            // `form-action`, so the browser is sent on by a page.
            let from_our_form = headers
                .get("sec-fetch-site")
                .is_some_and(|site| site == "same-origin")
                && headers
                    .get("sec-fetch-mode")
                    .is_some_and(|mode| mode == "navigate");
            if from_our_form {
                page.render(StatusCode::OK, "continue.html", context! { location })
            } else {
                page.redirect(&location)
            }
        }
        Err(error) => refused(page, error),
    }
}

/// The pages' policy with `form-action` widened to where the consent
/// answer goes (an http(s) origin, or a native app's scheme).
fn consent_policy(redirect_uri: &str) -> Option<HeaderValue> {
    let url = url::Url::parse(redirect_uri).ok()?;
    let target = match url.origin() {
        origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    let policy = http_kit::headers::HTML_PAGES_CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {target}"),
    );
    HeaderValue::from_str(&policy).ok()
}

/// `GET /oauth2/logout` (RP-initiated logout): a browser signed in as the
/// user the `id_token_hint` names is signed out at once; another, or one
/// without a hint, is asked first (a link alone must not sign anyone out).
pub(crate) async fn logout(
    page: Page,
    query: Result<Query<LogoutQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return page.refusal(UiError::BadForm);
    };
    let params = LogoutParams {
        id_token_hint: query.id_token_hint,
        client_id: query.client_id,
        post_logout_redirect_uri: query.post_logout_redirect_uri.clone(),
        state: query.state.clone(),
    };
    let plan = match page.state.provider.logout_plan(params).await {
        Ok(plan) => plan,
        Err(error) => return refused(page, error),
    };
    match page.principal {
        Some(principal) if plan.hinted_user != Some(principal.user_id) => {
            let mut response = page.render(
                StatusCode::OK,
                "logout.html",
                context! {
                    action => paths::OIDC_LOGOUT,
                    client_id => plan.client_id.map(|id| id.to_string()).unwrap_or_default(),
                    post_logout_redirect_uri => query.post_logout_redirect_uri.unwrap_or_default(),
                    state => query.state.unwrap_or_default(),
                },
            );
            if let Some(policy) = plan.redirect.as_deref().and_then(consent_policy) {
                response
                    .headers_mut()
                    .insert(CONTENT_SECURITY_POLICY, policy);
            }
            response
        }
        _ => signed_out(page, plan.redirect).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogoutQuery {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    client_id: String,
    post_logout_redirect_uri: String,
    state: String,
}

/// The confirmation: signed out, then where the client asked.
pub(crate) async fn logout_confirmed(page: Page, Posted(form): Posted<LogoutForm>) -> Response {
    let params = LogoutParams {
        id_token_hint: None,
        client_id: Some(form.client_id),
        post_logout_redirect_uri: Some(form.post_logout_redirect_uri),
        state: Some(form.state),
    };
    match page.state.provider.logout_plan(params).await {
        Ok(plan) => signed_out(page, plan.redirect).await,
        Err(error) => refused(page, error),
    }
}

/// Ends this browser's session (and with it every application's session
/// opened from it), then goes where the plan says.
async fn signed_out(mut page: Page, redirect: Option<String>) -> Response {
    if let Some(principal) = page.principal {
        if let Err(error) = page.state.auth.logout(&principal, &page.client).await {
            return page.refusal(error.into());
        }
        page.end_browser_session();
    }
    match redirect {
        Some(location) => page.redirect(&location),
        None => page.redirect(&super::sign_in::with_notice(
            paths::UI_SIGN_IN,
            "signed_out",
        )),
    }
}
