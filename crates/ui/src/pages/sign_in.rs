//! Sign-in, the second-factor step, "confirm it's you" and sign-out.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use domain::error::AuthError;
use domain::mfa::Factor;
use http_kit::limit::Limit;
use minijinja::{Value, context};
use serde::Deserialize;

use super::{FieldErrors, Pending, land, return_to, with_return_to};
use crate::ctx::Page;
use crate::error::UiError;
use crate::forms::Posted;
use api_types::paths;

/// What a page may be opened with.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Landing {
    pub(crate) return_to: Option<String>,
    /// A confirmation to show (one of the catalogue's `notice_*` keys).
    pub(crate) notice: Option<String>,
    /// The address to fill in (an OpenID client's `login_hint`).
    pub(crate) login_hint: Option<String>,
}

/// The confirmations a redirect may ask a page to show.
const NOTICES: [&str; 21] = [
    "grant_revoked",
    "provider_linked",
    "provider_unlinked",
    "email_verified_sign_in",
    "passkey_renamed",
    "passkey_removed",
    "totp_off",
    "method_removed",
    "passkey_added",
    "signed_out",
    "verify_sent",
    "email_verified",
    "email_change_sent",
    "profile_saved",
    "password_changed",
    "sessions_revoked",
    "password_reset",
    "second_factor_expired",
    "session_ended",
    "account_deleted",
    "confirmed",
];

/// The text of the notice named by a landing, if it is one.
pub(crate) fn notice(page: &Page, name: Option<&str>) -> Value {
    match name {
        Some(name) if NOTICES.contains(&name) => {
            Value::from(page.t.text(&format!("notice_{name}")).to_owned())
        }
        _ => Value::from(()),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    email: String,
    password: String,
    return_to: Option<String>,
}

pub(crate) async fn show(page: Page, Query(landing): Query<Landing>) -> Response {
    let return_to = return_to(landing.return_to.as_deref());
    let notice = notice(&page, landing.notice.as_deref());
    // Only an address is filled in; any other hint is not one to show.
    let hint = landing
        .login_hint
        .filter(|hint| hint.len() <= 254 && domain::Email::parse(hint).is_ok())
        .unwrap_or_default();
    sign_in_page(page, StatusCode::OK, &return_to, &hint, None, notice)
}

fn sign_in_page(
    page: Page,
    status: StatusCode,
    return_to: &str,
    email: &str,
    error: Option<&str>,
    notice: Value,
) -> Response {
    let (alert, errors) = match error {
        Some(key) => {
            let message = page.t.text(key).to_owned();
            let errors = FieldErrors::one("password", &message);
            (Value::from(message), errors)
        }
        None => (Value::from(()), FieldErrors::default()),
    };
    let page_context = context! {
        return_to,
        email,
        alert,
        passkeys => page.state.passkeys.is_enabled(),
        providers => super::federated::providers(&page),
        notice,
        errors => errors.value(),
        action => with_return_to(paths::UI_SIGN_IN, return_to),
        sign_up => with_return_to(paths::UI_SIGN_UP, return_to),
    };
    page.render(status, "sign_in.html", page_context)
}

pub(crate) async fn submit(page: Page, Posted(form): Posted<SignInForm>) -> Response {
    let return_to = return_to(form.return_to.as_deref());
    let limited = page
        .state
        .limits
        .check_account(Limit::LoginEmail, &form.email, page.client.ip)
        .await;
    if limited.is_err() {
        let status = StatusCode::TOO_MANY_REQUESTS;
        return sign_in_page(
            page,
            status,
            &return_to,
            &form.email,
            Some("error_rate_limited"),
            Value::from(()),
        );
    }
    let step = page
        .state
        .auth
        .login(&form.email, form.password, &page.client)
        .await;
    match step {
        Ok(step) => land(page, step, &return_to).await,
        Err(AuthError::InvalidCredentials) => {
            let status = StatusCode::UNAUTHORIZED;
            sign_in_page(
                page,
                status,
                &return_to,
                &form.email,
                Some("error_invalid_credentials"),
                Value::from(()),
            )
        }
        Err(AuthError::AccountLocked { .. }) => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            sign_in_page(
                page,
                status,
                &return_to,
                &form.email,
                Some("error_locked"),
                Value::from(()),
            )
        }
        Err(AuthError::AccountDisabled) => {
            let status = StatusCode::FORBIDDEN;
            sign_in_page(
                page,
                status,
                &return_to,
                &form.email,
                Some("error_account_disabled"),
                Value::from(()),
            )
        }
        Err(error) => page.refusal(error.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SecondFactorForm {
    code: Option<String>,
    recovery_code: Option<String>,
    /// A passkey's answer (`PublicKeyCredential` JSON), from the script.
    credential: Option<String>,
    return_to: Option<String>,
}

pub(crate) async fn second_factor(page: Page, Query(landing): Query<Landing>) -> Response {
    let return_to = return_to(landing.return_to.as_deref());
    if Pending::of(&page).is_none() {
        return page.redirect(&with_notice(paths::UI_SIGN_IN, "second_factor_expired"));
    }
    second_factor_page(
        page,
        StatusCode::OK,
        &return_to,
        FieldErrors::default(),
        Value::from(()),
    )
}

fn second_factor_page(
    page: Page,
    status: StatusCode,
    return_to: &str,
    errors: FieldErrors,
    alert: Value,
) -> Response {
    let pending = Pending::of(&page);
    let methods = context! {
        totp => pending.as_ref().is_none_or(|p| p.totp),
        recovery_code => pending.as_ref().is_none_or(|p| p.recovery_code),
        passkey => pending.as_ref().is_some_and(|p| p.passkey) && page.state.passkeys.is_enabled(),
    };
    let page_context = context! {
        return_to,
        alert,
        methods,
        errors => errors.value(),
        action => with_return_to(paths::UI_SECOND_FACTOR, return_to),
    };
    page.render(status, "second_factor.html", page_context)
}

pub(crate) async fn second_factor_submit(
    page: Page,
    Posted(form): Posted<SecondFactorForm>,
) -> Response {
    let return_to = return_to(form.return_to.as_deref());
    let Some(Pending { token, .. }) = Pending::of(&page) else {
        return page.redirect(&with_notice(paths::UI_SIGN_IN, "second_factor_expired"));
    };
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let passkey = nonempty(form.credential).and_then(|c| super::passkeys::second_factor(&c));
    let (field, factor) = match (nonempty(form.code), nonempty(form.recovery_code), passkey) {
        (_, _, Some(factor)) => ("code", factor),
        (Some(code), _, None) => ("code", Factor::Totp(code)),
        (None, Some(code), None) => ("recovery_code", Factor::RecoveryCode(code)),
        (None, None, None) => {
            let message = page.t.text("error_code_missing").to_owned();
            let alert = Value::from(message.clone());
            let errors = FieldErrors::one("code", &message);
            return second_factor_page(
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                &return_to,
                errors,
                alert,
            );
        }
    };
    let step = page.state.mfa.verify(&token, &factor, &page.client).await;
    match step {
        Ok(step) => land(page, step, &return_to).await,
        Err(error @ (AuthError::InvalidCode | AuthError::AccountLocked { .. })) => {
            let error = UiError::from(error);
            let message = page.t.text(error.message_key()).to_owned();
            let errors = FieldErrors::one(field, &message);
            second_factor_page(
                page,
                error.status(),
                &return_to,
                errors,
                Value::from(message),
            )
        }
        Err(AuthError::InvalidMfaToken) => {
            let mut page = page;
            let cleared = page.cookies().second_factor.clear();
            page.set_cookie(cleared);
            page.redirect(&with_notice(paths::UI_SIGN_IN, "second_factor_expired"))
        }
        Err(error) => page.refusal(error.into()),
    }
}

/// `path?notice=name`.
pub(crate) fn with_notice(path: &str, name: &str) -> String {
    format!("{path}?notice={name}")
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConfirmForm {
    password: String,
    return_to: Option<String>,
}

/// Step-up: a sensitive change needs a recent sign-in; this page signs the
/// user in again (a new session replaces the browser's) and goes back.
pub(crate) async fn confirm(page: Page, Query(landing): Query<Landing>) -> Response {
    let return_to = return_to(landing.return_to.as_deref());
    let here = with_return_to(paths::UI_CONFIRM, &return_to);
    let (page, principal) = signed_in!(page, &here);
    confirm_page(page, principal, StatusCode::OK, &return_to, None).await
}

async fn confirm_page(
    page: Page,
    principal: domain::auth::Principal,
    status: StatusCode,
    return_to: &str,
    error: Option<&str>,
) -> Response {
    let user = match page.state.auth.user(&principal).await {
        Ok(user) => user,
        Err(error) => return page.refusal(error.into()),
    };
    let (alert, errors) = match error {
        Some(key) => {
            let message = page.t.text(key).to_owned();
            (
                Value::from(message.clone()),
                FieldErrors::one("password", &message),
            )
        }
        None => (Value::from(()), FieldErrors::default()),
    };
    let page_context = context! {
        return_to,
        email => user.email.as_str(),
        alert,
        errors => errors.value(),
        action => with_return_to(paths::UI_CONFIRM, return_to),
    };
    page.render(status, "confirm.html", page_context)
}

pub(crate) async fn confirm_submit(page: Page, Posted(form): Posted<ConfirmForm>) -> Response {
    let return_to = return_to(form.return_to.as_deref());
    let here = with_return_to(paths::UI_CONFIRM, &return_to);
    let (page, principal) = signed_in!(page, &here);
    let user = match page.state.auth.user(&principal).await {
        Ok(user) => user,
        Err(error) => return page.refusal(error.into()),
    };
    let email = user.email.as_str();
    let limited = page
        .state
        .limits
        .check_account(Limit::LoginEmail, email, page.client.ip)
        .await;
    if limited.is_err() {
        let status = StatusCode::TOO_MANY_REQUESTS;
        return confirm_page(
            page,
            principal,
            status,
            &return_to,
            Some("error_rate_limited"),
        )
        .await;
    }
    let landing = super::sign_in::with_notice_after(&return_to, "confirmed");
    match page
        .state
        .auth
        .login(email, form.password, &page.client)
        .await
    {
        Ok(step) => land(page, step, &landing).await,
        Err(AuthError::InvalidCredentials) => {
            let status = StatusCode::UNAUTHORIZED;
            confirm_page(
                page,
                principal,
                status,
                &return_to,
                Some("error_invalid_credentials"),
            )
            .await
        }
        Err(AuthError::AccountLocked { .. }) => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            confirm_page(page, principal, status, &return_to, Some("error_locked")).await
        }
        Err(error) => page.refusal(error.into()),
    }
}

/// `return_to` with `notice=name` added to its query.
pub(crate) fn with_notice_after(return_to: &str, name: &str) -> String {
    let separator = if return_to.contains('?') { '&' } else { '?' };
    format!("{return_to}{separator}notice={name}")
}

/// Ends the browser session.
pub(crate) async fn sign_out(mut page: Page, Posted(_): Posted<Empty>) -> Response {
    if let Some(principal) = page.principal {
        if let Err(error) = page.state.auth.logout(&principal, &page.client).await {
            return page.refusal(error.into());
        }
        page.end_browser_session();
    }
    page.redirect(&with_notice(paths::UI_SIGN_IN, "signed_out"))
}

/// A form with no fields but its token.
#[derive(Debug, Deserialize)]
pub(crate) struct Empty {}
