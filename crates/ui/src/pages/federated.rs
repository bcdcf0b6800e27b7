//! Upstream providers on the pages: "Sign in with …" on the sign-in page,
//! link and unlink on the account page, and the landing the provider's
//! callback (`/api/v1/auth/oauth/{provider}/callback`) redirects to, with
//! the one-time code — or the second factor's challenge — in the query
//! (the API puts them in the fragment for every other front end).

use axum::extract::Query;
use axum::response::Response;
use domain::ProviderName;
use domain::error::{AuthError, OAuthFailure};
use minijinja::{Value, context};
use serde::Deserialize;

use super::sign_in::with_notice;
use super::{Pending, land, return_to, with_return_to};
use crate::ctx::Page;
use crate::error::UiError;
use crate::forms::Posted;
use api_types::paths;

/// How a provider is named on a button.
pub(crate) fn display_name(provider: &str) -> String {
    match provider {
        "github" => "GitHub".to_owned(),
        "google" => "Google".to_owned(),
        other => {
            let mut chars = other.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        }
    }
}

/// The configured providers, for the templates.
pub(crate) fn providers(page: &Page) -> Value {
    let list: Vec<Value> = page
        .state
        .federation
        .provider_names()
        .into_iter()
        .map(|name| context! { id => name, name => display_name(name) })
        .collect();
    Value::from(list)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProviderForm {
    provider: String,
    return_to: Option<String>,
}

fn provider_of(raw: &str) -> Result<ProviderName, AuthError> {
    ProviderName::parse(raw).map_err(|_| OAuthFailure::UnknownProvider(raw.to_owned()).into())
}

/// Sends the browser to the provider, bound to it by the API's binding
/// cookie (the callback is the API's).
async fn to_provider(
    mut page: Page,
    provider: &str,
    return_to: &str,
    link_user: Option<domain::UserId>,
) -> Response {
    let provider = match provider_of(provider) {
        Ok(provider) => provider,
        Err(error) => return page.refusal(error.into()),
    };
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    let landing = format!(
        "{}?return_to={encoded}",
        page.state.0.public_base_url.join(paths::UI_FEDERATED)
    );
    let started = page
        .state
        .federation
        .begin(&provider, Some(&landing), link_user)
        .await;
    match started {
        Ok(started) => {
            let secure = page.state.0.public_base_url.is_secure_context();
            let age = http_kit::cookies::PROVIDER_BINDING_AGE;
            let binding =
                http_kit::cookies::provider_binding(secure).set(&started.browser_binding, age);
            page.set_cookie(binding);
            // The callback answers a refusal with the landing page, not JSON.
            let marker = http_kit::cookies::provider_from_pages(secure).set("1", age);
            page.set_cookie(marker);
            page.redirect(&started.authorize_url)
        }
        Err(error) => page.refusal(error.into()),
    }
}

pub(crate) async fn start(page: Page, Posted(form): Posted<ProviderForm>) -> Response {
    let return_to = return_to(form.return_to.as_deref());
    to_provider(page, &form.provider, &return_to, None).await
}

pub(crate) async fn link(page: Page, Posted(form): Posted<ProviderForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    to_provider(
        page,
        &form.provider,
        paths::UI_ACCOUNT,
        Some(principal.user_id),
    )
    .await
}

pub(crate) async fn unlink(page: Page, Posted(form): Posted<ProviderForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let provider = match provider_of(&form.provider) {
        Ok(provider) => provider,
        Err(error) => return page.refusal(error.into()),
    };
    let unlinked = page
        .state
        .federation
        .unlink(principal.user_id, &provider, &page.client)
        .await;
    match unlinked {
        Ok(()) => page.redirect(&with_notice(paths::UI_ACCOUNT, "provider_unlinked")),
        Err(error) => super::account::refuse(page, principal, "providers", "provider", error).await,
    }
}

/// What the provider's callback hands the landing.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Landing {
    code: Option<String>,
    error: Option<String>,
    mfa_token: Option<String>,
    methods: Option<String>,
    linked: Option<String>,
    return_to: Option<String>,
}

pub(crate) async fn landing(mut page: Page, Query(landing): Query<Landing>) -> Response {
    let return_to = return_to(landing.return_to.as_deref());
    if landing.linked.is_some() {
        return page.redirect(&with_notice(paths::UI_ACCOUNT, "provider_linked"));
    }
    if let (Some("mfa_required"), Some(token)) = (landing.error.as_deref(), &landing.mfa_token) {
        let methods = landing.methods.unwrap_or_default();
        let value = Pending::cookie_value_of(token, methods.split(','));
        let Some(value) = value else {
            return page.refusal(UiError::BadForm);
        };
        let cookie = page
            .cookies()
            .second_factor
            .set(&value, super::SECOND_FACTOR_AGE);
        page.set_cookie(cookie);
        return page.redirect(&with_return_to(paths::UI_SECOND_FACTOR, &return_to));
    }
    if let Some(code) = landing.error {
        return page.refusal(UiError::ProviderRefused(code));
    }
    let Some(code) = landing.code else {
        return page.refusal(UiError::BadForm);
    };
    match page.state.federation.exchange(&code, &page.client).await {
        Ok(step) => land(page, step, &return_to).await,
        Err(error) => page.refusal(error.into()),
    }
}
