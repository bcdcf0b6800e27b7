//! Sign-up: a new account, signed in at once, asked to verify its address.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use domain::auth::Registration;
use domain::error::AuthError;
use domain::signin::SignIn;
use minijinja::context;
use serde::Deserialize;

use super::sign_in::{Landing, with_notice_after};
use super::{FieldErrors, land, return_to, with_return_to};
use crate::ctx::Page;
use crate::forms::Posted;
use api_types::paths;

#[derive(Debug, Deserialize)]
pub(crate) struct SignUpForm {
    name: String,
    email: String,
    password: String,
    return_to: Option<String>,
}

pub(crate) async fn show(page: Page, Query(landing): Query<Landing>) -> Response {
    let return_to = return_to(landing.return_to.as_deref());
    sign_up_page(
        page,
        StatusCode::OK,
        &return_to,
        "",
        "",
        FieldErrors::default(),
    )
}

fn sign_up_page(
    page: Page,
    status: StatusCode,
    return_to: &str,
    name: &str,
    email: &str,
    errors: FieldErrors,
) -> Response {
    let page_context = context! {
        return_to,
        name,
        email,
        errors => errors.value(),
        action => with_return_to(paths::UI_SIGN_UP, return_to),
        sign_in => with_return_to(paths::UI_SIGN_IN, return_to),
    };
    page.render(status, "sign_up.html", page_context)
}

pub(crate) async fn submit(page: Page, Posted(form): Posted<SignUpForm>) -> Response {
    let return_to = return_to(form.return_to.as_deref());
    let registration = match Registration::parse(&form.email, form.password, &form.name) {
        Ok(registration) => registration,
        Err(errors) => {
            let errors = FieldErrors::of(&page, &errors);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return sign_up_page(page, status, &return_to, &form.name, &form.email, errors);
        }
    };
    let opened = match page.state.auth.register(registration, &page.client).await {
        Ok(opened) => opened,
        Err(AuthError::Validation(errors)) => {
            let errors = FieldErrors::of(&page, &errors);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return sign_up_page(page, status, &return_to, &form.name, &form.email, errors);
        }
        Err(AuthError::EmailTaken) => {
            let errors = FieldErrors::one("email", page.t.text("error_email_taken"));
            return sign_up_page(
                page,
                StatusCode::CONFLICT,
                &return_to,
                &form.name,
                &form.email,
                errors,
            );
        }
        Err(error) => return page.refusal(error.into()),
    };
    if let Err(error) = page.state.account.verify_new_account(&opened.user).await {
        tracing::error!(error = %error, "queueing the verification mail failed");
    }
    let landing = with_notice_after(&return_to, "verify_sent");
    let step = SignIn::Opened(Box::new(opened));
    land(page, step, &landing).await
}
