//! Mailed links and the way to them: forgot password, reset password,
//! verify email. A link's page shows a button; only its POST spends the
//! token, so mail scanners that fetch links consume nothing.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use domain::Password;
use domain::error::AuthError;
use minijinja::context;
use serde::Deserialize;

use super::FieldErrors;
use super::sign_in::{notice, with_notice};
use crate::ctx::Page;
use crate::error::UiError;
use crate::forms::Posted;
use api_types::paths;

#[derive(Debug, Deserialize)]
pub(crate) struct ForgotForm {
    email: String,
}

pub(crate) async fn forgot(page: Page) -> Response {
    forgot_page(page, StatusCode::OK, "", FieldErrors::default(), false)
}

fn forgot_page(
    page: Page,
    status: StatusCode,
    email: &str,
    errors: FieldErrors,
    sent: bool,
) -> Response {
    let page_context = context! { email, sent, errors => errors.value() };
    page.render(status, "forgot_password.html", page_context)
}

/// Answers the same whether or not the address has an account.
pub(crate) async fn forgot_submit(page: Page, Posted(form): Posted<ForgotForm>) -> Response {
    let limited = page
        .state
        .limits
        .check_account(http_kit::limit::Limit::Forgot, &form.email, page.client.ip)
        .await;
    if limited.is_err() {
        return page.refusal(UiError::Throttled);
    }
    match page
        .state
        .account
        .forgot_password(&form.email, &page.client)
    {
        Ok(()) => forgot_page(
            page,
            StatusCode::OK,
            &form.email,
            FieldErrors::default(),
            true,
        ),
        Err(AuthError::Validation(errors)) => {
            let errors = FieldErrors::of(&page, &errors);
            forgot_page(
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form.email,
                errors,
                false,
            )
        }
        Err(error) => page.refusal(error.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Link {
    #[serde(default)]
    pub(crate) token: String,
}

pub(crate) async fn reset(page: Page, Query(link): Query<Link>) -> Response {
    if link.token.is_empty() {
        return page.refusal(UiError::Auth(AuthError::LinkInvalid));
    }
    reset_page(page, StatusCode::OK, &link.token, FieldErrors::default())
}

fn reset_page(page: Page, status: StatusCode, token: &str, errors: FieldErrors) -> Response {
    let page_context = context! { token, errors => errors.value() };
    page.render(status, "reset_password.html", page_context)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResetForm {
    token: String,
    new_password: String,
}

pub(crate) async fn reset_submit(page: Page, Posted(form): Posted<ResetForm>) -> Response {
    let new = match Password::parse(form.new_password, "new_password") {
        Ok(new) => new,
        Err(error) => {
            let errors = FieldErrors::of(&page, &error.into());
            return reset_page(page, StatusCode::UNPROCESSABLE_ENTITY, &form.token, errors);
        }
    };
    match page
        .state
        .account
        .reset_password(&form.token, new, &page.client)
        .await
    {
        Ok(()) => {
            let mut page = page;
            // Every session ended, this browser's too.
            page.end_browser_session();
            page.redirect(&with_notice(paths::UI_SIGN_IN, "password_reset"))
        }
        Err(AuthError::Validation(errors)) => {
            let errors = FieldErrors::of(&page, &errors);
            reset_page(page, StatusCode::UNPROCESSABLE_ENTITY, &form.token, errors)
        }
        Err(error) => page.refusal(error.into()),
    }
}

pub(crate) async fn verify(page: Page, Query(link): Query<Link>) -> Response {
    if link.token.is_empty() {
        return page.refusal(UiError::Auth(AuthError::LinkInvalid));
    }
    let page_context = context! { token => link.token, notice => notice(&page, None) };
    page.render(StatusCode::OK, "verify_email.html", page_context)
}

#[derive(Debug, Deserialize)]
pub(crate) struct VerifyForm {
    token: String,
}

pub(crate) async fn verify_submit(mut page: Page, Posted(form): Posted<VerifyForm>) -> Response {
    let verified = page
        .state
        .account
        .verify_email(&form.token, &page.client)
        .await;
    if let Err(error) = verified {
        return page.refusal(error.into());
    }
    // A first verification ends every session of the account (what was
    // signed in before the owner proved the address may be a squatter's);
    // a completed email change keeps them.
    match page.recheck_session().await {
        Ok(true) => page.redirect(&with_notice(paths::UI_ACCOUNT, "email_verified")),
        Ok(false) => page.redirect(&with_notice(paths::UI_SIGN_IN, "email_verified_sign_in")),
        Err(error) => page.refusal(error.into()),
    }
}
