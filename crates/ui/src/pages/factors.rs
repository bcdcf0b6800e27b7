//! Second factors on the account page: TOTP set-up (the QR code and the
//! secret as text, then the ten recovery codes, shown once), new recovery
//! codes, turning TOTP off; the link of a "sign-in method added" notice.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use domain::error::AuthError;
use domain::mfa::{Factor, RecoveryCode};
use minijinja::context;
use serde::Deserialize;

use super::recovery::Link;
use super::sign_in::with_notice;
use super::{FieldErrors, with_return_to};
use crate::ctx::Page;
use crate::error::UiError;
use crate::forms::Posted;
use api_types::paths;

/// A sensitive change on a sign-in that is too old: "confirm it's you" first.
fn step_up(page: Page) -> Response {
    page.redirect(&with_return_to(paths::UI_CONFIRM, paths::UI_ACCOUNT))
}

/// Starts TOTP set-up: the secret, as a QR code and as text, and the form
/// that confirms it with a first code.
pub(crate) async fn totp_setup(page: Page, Posted(_): Posted<super::sign_in::Empty>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    match page.state.mfa.setup_totp(&principal, &page.client).await {
        Ok(setup) => {
            let qr = format!(
                "data:image/svg+xml;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(setup.qr_svg.as_bytes())
            );
            setup_page(
                page,
                StatusCode::OK,
                &qr,
                &setup.secret,
                FieldErrors::default(),
            )
        }
        Err(AuthError::ReauthenticationRequired { .. }) => step_up(page),
        Err(error) => page.refusal(error.into()),
    }
}

fn setup_page(
    page: Page,
    status: StatusCode,
    qr: &str,
    secret: &str,
    errors: FieldErrors,
) -> Response {
    let page_context = context! { qr, secret, errors => errors.value() };
    page.render(status, "totp_setup.html", page_context)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConfirmTotpForm {
    code: String,
    /// Shown again with a wrong code (the secret is the user's own, on their
    /// screen; the QR code is not sent back and forth).
    secret: String,
}

pub(crate) async fn totp_confirm(page: Page, Posted(form): Posted<ConfirmTotpForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let confirmed = page
        .state
        .mfa
        .confirm_totp(&principal, form.code.trim(), &page.client)
        .await;
    match confirmed {
        Ok(codes) => codes_page(page, &codes, true),
        Err(AuthError::ReauthenticationRequired { .. }) => step_up(page),
        Err(error @ (AuthError::InvalidCode | AuthError::AccountLocked { .. })) => {
            let error = UiError::from(error);
            let errors = FieldErrors::one("code", page.t.text(error.message_key()));
            setup_page(page, error.status(), "", &form.secret, errors)
        }
        Err(error) => page.refusal(error.into()),
    }
}

fn codes_page(page: Page, codes: &[RecoveryCode], enrolled: bool) -> Response {
    let codes: Vec<&str> = codes.iter().map(RecoveryCode::expose).collect();
    page.render(
        StatusCode::OK,
        "recovery_codes.html",
        context! { codes, enrolled },
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct CodeForm {
    code: String,
}

pub(crate) async fn regenerate_codes(page: Page, Posted(form): Posted<CodeForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let factor = Factor::of_code(&form.code);
    let codes = page
        .state
        .mfa
        .regenerate_recovery_codes(&principal, &factor, &page.client)
        .await;
    match codes {
        Ok(codes) => codes_page(page, &codes, false),
        Err(AuthError::ReauthenticationRequired { .. }) => step_up(page),
        Err(error) => super::account::refuse(page, principal, "regenerate", "code", error).await,
    }
}

pub(crate) async fn totp_disable(page: Page, Posted(form): Posted<CodeForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let factor = Factor::of_code(&form.code);
    match page
        .state
        .mfa
        .disable_totp(&principal, &factor, &page.client)
        .await
    {
        Ok(()) => page.redirect(&with_notice(paths::UI_ACCOUNT, "totp_off")),
        Err(AuthError::ReauthenticationRequired { .. }) => step_up(page),
        Err(error) => super::account::refuse(page, principal, "totp_off", "code", error).await,
    }
}

/// The link of a "sign-in method added" notice: a button, so that a mail
/// scanner fetching the link removes nothing.
pub(crate) async fn remove_method(page: Page, Query(link): Query<Link>) -> Response {
    if link.token.is_empty() {
        return page.refusal(UiError::Auth(AuthError::LinkInvalid));
    }
    let page_context = context! { token => link.token };
    page.render(StatusCode::OK, "remove_method.html", page_context)
}

#[derive(Debug, Deserialize)]
pub(crate) struct RemoveForm {
    token: String,
}

pub(crate) async fn remove_method_submit(
    mut page: Page,
    Posted(form): Posted<RemoveForm>,
) -> Response {
    let removed = page
        .state
        .account
        .remove_factor_by_link(&form.token, &page.client)
        .await;
    match removed {
        Ok(()) => {
            // Every session of the account ended: this browser's too, if it had one.
            page.end_browser_session();
            page.redirect(&with_notice(paths::UI_SIGN_IN, "method_removed"))
        }
        Err(error) => page.refusal(error.into()),
    }
}
