//! What every page handler starts from: the language, the browser session,
//! the forms' anti-forgery binding, the client — and the ways a page answers
//! (a rendered template, a redirect).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ClientInfo;
use domain::auth::Principal;
use domain::error::AuthError;
use minijinja::Value;
use rand::RngCore as _;

use crate::UiState;
use crate::error::UiError;
use crate::i18n::Catalogue;

/// How long the forms' binding cookie lives.
const FORMS_COOKIE_AGE: time::Duration = time::Duration::days(30);

/// A request to a page.
pub struct Page {
    pub state: UiState,
    pub t: Arc<Catalogue>,
    pub client: ClientInfo,
    /// The browser session's user, when its cookie names an active session.
    pub principal: Option<Principal>,
    /// The session cookie as sent, to check the session again after a
    /// change that may have ended it.
    session_cookie: Option<String>,
    /// A sign-in waiting for its second factor: its challenge's token.
    pub second_factor_token: Option<String>,
    /// The forms' binding: the cookie's value (sent, or new with this answer).
    forms: String,
    forms_is_new: bool,
    /// A session cookie was sent but names no active session: cleared.
    stale_session: bool,
    /// Cookies this answer sets besides the forms' binding.
    cookies: Vec<HeaderValue>,
}

impl FromRequestParts<UiState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &UiState) -> Result<Self, Response> {
        let chosen = state.0.cookies.language.read(&parts.headers);
        let t = Arc::clone(
            state
                .0
                .catalogues
                .negotiate(&parts.headers, chosen.as_deref()),
        );
        let client = state
            .trusted_proxies
            .client_of(&parts.headers, &parts.extensions);
        let sent = state.0.cookies.forms.read(&parts.headers);
        let (forms, forms_is_new) = match sent {
            Some(value) if value.len() == 43 => (value, false),
            _ => (random_token(), true),
        };
        let mut page = Self {
            state: state.clone(),
            t,
            client,
            principal: None,
            session_cookie: None,
            second_factor_token: state.0.cookies.second_factor.read(&parts.headers),
            forms,
            forms_is_new,
            stale_session: false,
            cookies: Vec::new(),
        };
        if let Some(cookie) = state.0.cookies.session.read(&parts.headers) {
            match state.auth.authenticate_browser(&cookie).await {
                Ok(principal) => page.principal = Some(principal),
                Err(AuthError::Denied(_)) => page.stale_session = true,
                Err(error) => return Err(page.refusal(UiError::from(error))),
            }
            page.session_cookie = Some(cookie);
        }
        Ok(page)
    }
}

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Page {
    /// The `csrf(action)` function of the templates: the token of the form
    /// that posts to `action` (a path) in this browser.
    fn csrf(&self) -> Value {
        let secret = self.state.auth.form_secret().clone();
        let binding = self.forms.clone();
        Value::from_function(move |action: &str| {
            secret.sign(&[binding.as_bytes(), action_path(action).as_bytes()])
        })
    }

    /// Renders a template with `status`.
    pub fn render(self, status: StatusCode, template: &str, page: Value) -> Response {
        let rendered = self
            .state
            .0
            .templates
            .render(template, &self.t, self.csrf(), page);
        match rendered {
            Ok(html) => {
                let mut response =
                    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
                self.finish_into(&mut response);
                response
            }
            Err(error) => {
                tracing::error!(template, error = %error, "a page failed to render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "This page could not be shown.",
                )
                    .into_response()
            }
        }
    }

    /// `303 See Other` to `location` (a path on this origin).
    pub fn redirect(self, location: &str) -> Response {
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(value) = HeaderValue::from_str(location) {
            response.headers_mut().insert(LOCATION, value);
        }
        self.finish_into(&mut response);
        response
    }

    /// A refusal shown as a page.
    pub fn refusal(self, error: UiError) -> Response {
        if error.is_failure() {
            tracing::error!(error = %error, "a page could not be served");
        }
        let status = error.status();
        let message = self.t.text(error.message_key()).to_owned();
        let title = self.t.text(error.title_key()).to_owned();
        self.render(
            status,
            "message.html",
            minijinja::context! { title, message, refusal => true, link => Value::from(()) },
        )
    }

    /// Speaks the first of our languages an OpenID client's `ui_locales`
    /// names, here and on the pages of this sign-in (a cookie for as long as
    /// an authorization request is kept). Nothing changes when it names none.
    pub fn prefer_ui_locales(&mut self, ui_locales: &str) {
        if let Some(lang) = crate::i18n::from_ui_locales(ui_locales) {
            self.t = Arc::clone(self.state.0.catalogues.get(lang));
            let cookie = self
                .state
                .0
                .cookies
                .language
                .set(lang, time::Duration::minutes(10));
            self.cookies.push(cookie);
        }
    }

    /// Sets a cookie with this answer.
    pub fn set_cookie(&mut self, cookie: HeaderValue) {
        self.cookies.push(cookie);
    }

    /// The session cookie for `cookie_value`, kept for `max_age`.
    pub fn open_browser_session(&mut self, cookie_value: &str, max_age: time::Duration) {
        let cookie = self.state.0.cookies.session.set(cookie_value, max_age);
        self.stale_session = false;
        self.set_cookie(cookie);
    }

    /// Checks the browser session again (after a change that may have ended
    /// it): `false`, and the cookie cleared, when it has ended.
    pub async fn recheck_session(&mut self) -> Result<bool, AuthError> {
        let Some(cookie) = &self.session_cookie else {
            return Ok(false);
        };
        match self.state.auth.authenticate_browser(cookie).await {
            Ok(principal) => {
                self.principal = Some(principal);
                Ok(true)
            }
            Err(AuthError::Denied(_)) => {
                self.end_browser_session();
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// Removes the session cookie.
    pub fn end_browser_session(&mut self) {
        self.principal = None;
        self.stale_session = true;
    }

    pub fn cookies(&self) -> &crate::Cookies {
        &self.state.0.cookies
    }

    /// Adds the cookies this answer sets to a response built elsewhere.
    pub fn finish_into(self, response: &mut Response) {
        let headers = response.headers_mut();
        if self.forms_is_new {
            headers.append(
                SET_COOKIE,
                self.state
                    .0
                    .cookies
                    .forms
                    .set(&self.forms, FORMS_COOKIE_AGE),
            );
        }
        if self.stale_session {
            headers.append(SET_COOKIE, self.state.0.cookies.session.clear());
        }
        for cookie in self.cookies {
            headers.append(SET_COOKIE, cookie);
        }
    }
}

/// The path of a form's action (its query string is not bound).
pub fn action_path(action: &str) -> &str {
    action.split('?').next().unwrap_or(action)
}
