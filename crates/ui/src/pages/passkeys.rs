//! Passkeys on the pages: passwordless sign-in (the button and the browser's
//! autofill), the second step of a sign-in, and the account's passkeys (add,
//! rename, remove). The ceremonies run in `static/passkeys.js`: it fetches
//! the options from here (`…/options`, JSON), calls `navigator.credentials`
//! and submits the answer with an ordinary form, so a finished ceremony
//! lands like any other form (303 to the next page).

use axum::Json;
use axum::response::{IntoResponse, Response};
use domain::error::AuthError;
use domain::mfa::Factor;
use minijinja::Value;
use serde::Deserialize;

use super::sign_in::{Empty, with_notice};
use super::{land, return_to, with_return_to};
use crate::ctx::Page;
use crate::error::UiError;
use crate::forms::Posted;
use api_types::{CeremonyResponse, paths};

/// A ceremony's options as JSON for the script; a refusal as a page (the
/// script shows its own message, or follows a redirect).
fn options(page: Page, started: Result<(uuid::Uuid, serde_json::Value), AuthError>) -> Response {
    match started {
        Ok((challenge_id, public_key)) => {
            let mut response = Json(CeremonyResponse {
                challenge_id,
                public_key,
            })
            .into_response();
            page.finish_into(&mut response);
            response
        }
        Err(AuthError::ReauthenticationRequired { .. }) => {
            page.redirect(&with_return_to(paths::UI_CONFIRM, paths::UI_ACCOUNT))
        }
        Err(error) => page.refusal(error.into()),
    }
}

/// `navigator.credentials.get` options for a passwordless sign-in (any of
/// the authenticator's passkeys for this site).
pub(crate) async fn sign_in_options(page: Page, Posted(_): Posted<Empty>) -> Response {
    let started = page.state.passkeys.start_login().await;
    options(page, started)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasskeySignIn {
    challenge_id: String,
    /// The `PublicKeyCredential` as JSON.
    credential: String,
    return_to: Option<String>,
}

fn credential_of(raw: &str) -> Option<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .filter(serde_json::Value::is_object)
}

pub(crate) async fn sign_in(page: Page, Posted(form): Posted<PasskeySignIn>) -> Response {
    let return_to = return_to(form.return_to.as_deref());
    let (Ok(challenge_id), Some(credential)) =
        (form.challenge_id.parse(), credential_of(&form.credential))
    else {
        return page.refusal(UiError::BadForm);
    };
    let signed_in = page
        .state
        .passkeys
        .finish_login(challenge_id, &credential, &page.client)
        .await;
    match signed_in {
        Ok(step) => land(page, step, &return_to).await,
        Err(error) => page.refusal(error.into()),
    }
}

/// `navigator.credentials.get` options for the second step of a sign-in.
pub(crate) async fn second_factor_options(page: Page, Posted(_): Posted<Empty>) -> Response {
    let Some(super::Pending { token, .. }) = super::Pending::of(&page) else {
        return page.redirect(&with_notice(paths::UI_SIGN_IN, "second_factor_expired"));
    };
    let started = page
        .state
        .mfa
        .webauthn_challenge(&token)
        .await
        .map(|public_key| (uuid::Uuid::nil(), public_key));
    options(page, started)
}

/// The second step answered with a passkey.
pub(crate) fn second_factor(credential: &str) -> Option<Factor> {
    credential_of(credential).map(Factor::WebAuthn)
}

/// `navigator.credentials.create` options for a new passkey of the user.
pub(crate) async fn add_options(page: Page, Posted(_): Posted<Empty>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let started = page.state.passkeys.start_registration(&principal).await;
    options(page, started)
}

#[derive(Debug, Deserialize)]
pub(crate) struct AddForm {
    challenge_id: String,
    passkey_name: String,
    credential: String,
}

pub(crate) async fn add(page: Page, Posted(form): Posted<AddForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let name = match domain::passkey::parse_name(&form.passkey_name) {
        Ok(name) => name,
        Err(error) => return name_refused(page, principal, "passkey_add", error).await,
    };
    let (Ok(challenge_id), Some(credential)) =
        (form.challenge_id.parse(), credential_of(&form.credential))
    else {
        // Posted without the script's ceremony.
        return page.refusal(UiError::ScriptRequired);
    };
    let added = page
        .state
        .passkeys
        .finish_registration(&principal, challenge_id, name, &credential, &page.client)
        .await;
    match added {
        Ok(_) => page.redirect(&with_notice(paths::UI_ACCOUNT, "passkey_added")),
        Err(AuthError::ReauthenticationRequired { .. }) => {
            page.redirect(&with_return_to(paths::UI_CONFIRM, paths::UI_ACCOUNT))
        }
        Err(error) => {
            super::account::refuse(page, principal, "passkey_add", "passkey_name", error).await
        }
    }
}

async fn name_refused(
    page: Page,
    principal: domain::auth::Principal,
    form: &'static str,
    error: domain::validation::FieldError,
) -> Response {
    let error = domain::validation::FieldError {
        field: "passkey_name".into(),
        ..error
    };
    let error = AuthError::Validation(error.into());
    super::account::refuse(page, principal, form, "passkey_name", error).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct RenameForm {
    passkey_id: String,
    passkey_name: String,
}

pub(crate) async fn rename(page: Page, Posted(form): Posted<RenameForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let Ok(id) = form.passkey_id.parse() else {
        return page.refusal(UiError::BadForm);
    };
    let form_name: &'static str = "passkey_rename";
    let name = match domain::passkey::parse_name(&form.passkey_name) {
        Ok(name) => name,
        Err(error) => return name_refused(page, principal, form_name, error).await,
    };
    match page.state.passkeys.rename(&principal, id, &name).await {
        Ok(_) => page.redirect(&with_notice(paths::UI_ACCOUNT, "passkey_renamed")),
        Err(error) => {
            super::account::refuse(page, principal, form_name, "passkey_name", error).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RemoveForm {
    passkey_id: String,
}

pub(crate) async fn remove(page: Page, Posted(form): Posted<RemoveForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let Ok(id) = form.passkey_id.parse() else {
        return page.refusal(UiError::BadForm);
    };
    match page
        .state
        .passkeys
        .delete(&principal, id, &page.client)
        .await
    {
        Ok(()) => page.redirect(&with_notice(paths::UI_ACCOUNT, "passkey_removed")),
        Err(AuthError::ReauthenticationRequired { .. }) => {
            page.redirect(&with_return_to(paths::UI_CONFIRM, paths::UI_ACCOUNT))
        }
        Err(error) => {
            super::account::refuse(page, principal, "passkeys", "passkey_id", error).await
        }
    }
}

/// The account's passkeys as the account page lists them.
pub(crate) fn passkey_rows(page: &Page, passkeys: Vec<domain::ports::Passkey>) -> Value {
    let never = page.t.text("never").to_owned();
    let rows: Vec<Value> = passkeys
        .into_iter()
        .map(|p| {
            minijinja::context! {
                id => p.id.to_string(),
                name => p.name,
                created => super::account::human(p.created_at),
                last_used => p.last_used_at.map_or_else(|| never.clone(), super::account::human),
                synced => p.backup_eligible,
            }
        })
        .collect();
    Value::from(rows)
}
