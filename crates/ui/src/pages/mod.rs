//! The pages, and what they share: where a sign-in lands, opening and ending
//! the browser session, the per-address limit.

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use domain::signin::SignIn;
use minijinja::Value;
use serde::Serialize;
use time::OffsetDateTime;

use crate::UiState;
use crate::ctx::Page;
use crate::error::UiError;
use api_types::paths;

/// How long a sign-in may wait for its second factor (the challenge's own
/// lifetime is the same).
pub(crate) const SECOND_FACTOR_AGE: time::Duration = time::Duration::minutes(5);

pub(crate) fn routes(state: UiState) -> Router<UiState> {
    // Counted against the client address, as the API's sign-in routes are.
    let limited = Router::new()
        .route(paths::UI_SIGN_IN, post(sign_in::submit))
        .route(paths::UI_SIGN_UP, post(sign_up::submit))
        .route(paths::UI_SECOND_FACTOR, post(sign_in::second_factor_submit))
        .route(paths::UI_CONFIRM, post(sign_in::confirm_submit))
        .route(paths::UI_FORGOT_PASSWORD, post(recovery::forgot_submit))
        .route(paths::UI_RESET_PASSWORD, post(recovery::reset_submit))
        .route(paths::UI_ACCOUNT_PASSWORD, post(account::change_password))
        .route(paths::UI_ACCOUNT_EMAIL, post(account::change_email))
        .route(paths::UI_ACCOUNT_DELETE, post(account::delete))
        .route(paths::UI_ACCOUNT_TOTP_CONFIRM, post(factors::totp_confirm))
        .route(paths::UI_ACCOUNT_TOTP_DISABLE, post(factors::totp_disable))
        .route(
            paths::UI_ACCOUNT_RECOVERY_CODES,
            post(factors::regenerate_codes),
        )
        .route(
            paths::OIDC_AUTHORIZE,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            paths::UI_CONSENT,
            get(authorize::consent).post(authorize::decide),
        )
        .route(
            paths::OIDC_LOGOUT,
            get(authorize::logout).post(authorize::logout_confirmed),
        )
        .route(paths::UI_FEDERATED_START, post(federated::start))
        .route(paths::UI_FEDERATED, get(federated::landing))
        .route(paths::UI_PASSKEY_OPTIONS, post(passkeys::sign_in_options))
        .route(paths::UI_PASSKEY_SIGN_IN, post(passkeys::sign_in))
        .route(
            paths::UI_SECOND_FACTOR_PASSKEY_OPTIONS,
            post(passkeys::second_factor_options),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, per_ip));
    Router::new()
        .merge(limited)
        .route(paths::UI, get(home))
        .route(paths::UI_SIGN_IN, get(sign_in::show))
        .route(paths::UI_SIGN_UP, get(sign_up::show))
        .route(paths::UI_SIGN_OUT, post(sign_in::sign_out))
        .route(paths::UI_SECOND_FACTOR, get(sign_in::second_factor))
        .route(paths::UI_CONFIRM, get(sign_in::confirm))
        .route(paths::UI_FORGOT_PASSWORD, get(recovery::forgot))
        .route(paths::UI_RESET_PASSWORD, get(recovery::reset))
        .route(
            paths::UI_VERIFY_EMAIL,
            get(recovery::verify).post(recovery::verify_submit),
        )
        .route(paths::UI_ACCOUNT, get(account::show))
        .route(paths::UI_ACCOUNT_PROFILE, post(account::change_profile))
        .route(
            paths::UI_ACCOUNT_VERIFY_SEND,
            post(account::send_verification),
        )
        .route(
            paths::UI_ACCOUNT_SESSION_REVOKE,
            post(account::revoke_session),
        )
        .route(
            paths::UI_ACCOUNT_SESSIONS_REVOKE_OTHERS,
            post(account::revoke_other_sessions),
        )
        .route(paths::UI_ACCOUNT_APP_REVOKE, post(account::revoke_grant))
        .route(paths::UI_ACCOUNT_TOTP_SETUP, post(factors::totp_setup))
        .route(paths::UI_FEDERATED_LINK, post(federated::link))
        .route(paths::UI_FEDERATED_UNLINK, post(federated::unlink))
        .route(
            paths::UI_ACCOUNT_PASSKEY_OPTIONS,
            post(passkeys::add_options),
        )
        .route(paths::UI_ACCOUNT_PASSKEYS, post(passkeys::add))
        .route(paths::UI_ACCOUNT_PASSKEY_RENAME, post(passkeys::rename))
        .route(paths::UI_ACCOUNT_PASSKEY_REMOVE, post(passkeys::remove))
        .route(
            paths::UI_REMOVE_SIGN_IN_METHOD,
            get(factors::remove_method).post(factors::remove_method_submit),
        )
        .route(paths::UI_STATIC, get(assets::serve))
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn home(page: Page) -> Response {
    if page.principal.is_some() {
        page.redirect(paths::UI_ACCOUNT)
    } else {
        page.redirect(paths::UI_SIGN_IN)
    }
}

async fn not_found(page: Page) -> Response {
    page.refusal(UiError::NotFound)
}

async fn method_not_allowed(page: Page) -> Response {
    page.refusal(UiError::MethodNotAllowed)
}

/// The per-address limit (`RATE_LIMIT_PER_IP`), shared with the JSON API.
async fn per_ip(State(state): State<UiState>, request: Request, next: Next) -> Response {
    let ip = state
        .trusted_proxies
        .address_of(request.headers(), request.extensions());
    match state.limits.check_ip(ip).await {
        Ok(()) => next.run(request).await,
        Err(throttled) => {
            let (mut parts, _) = request.into_parts();
            match Page::from_request_parts(&mut parts, &state).await {
                Ok(page) => page.refusal(UiError::from(throttled)),
                Err(response) => response,
            }
        }
    }
}

/// Where to go after a sign-in: `return_to` when it is a path on this
/// origin, the account page otherwise.
pub(crate) fn return_to(raw: Option<&str>) -> String {
    raw.and_then(same_origin_path)
        .unwrap_or_else(|| paths::UI_ACCOUNT.to_owned())
}

/// `raw` when it is a path on this origin (`/…`, not `//host`, `/\host`, a
/// scheme, or anything a browser would resolve elsewhere).
pub(crate) fn same_origin_path(raw: &str) -> Option<String> {
    if !raw.starts_with('/')
        || raw.starts_with("//")
        || raw.starts_with("/\\")
        || raw.len() > 2048
        || raw.chars().any(|c| c.is_control() || c == '\\')
    {
        return None;
    }
    let base = url::Url::parse("https://this.invalid/").ok()?;
    let joined = base.join(raw).ok()?;
    if joined.origin() != base.origin() {
        return None;
    }
    let mut path = joined.path().to_owned();
    if let Some(query) = joined.query() {
        path.push('?');
        path.push_str(query);
    }
    Some(path)
}

/// `path?return_to=…` (percent-encoded), or `path` for the default landing.
pub(crate) fn with_return_to(path: &str, return_to: &str) -> String {
    if return_to == paths::UI_ACCOUNT {
        return path.to_owned();
    }
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    format!("{path}?return_to={encoded}")
}

/// The next step of a sign-in made through a page: an opened session becomes
/// this browser's (replacing any session it had: no fixation), a second
/// factor is asked for on its own page.
pub(crate) async fn land(mut page: Page, step: SignIn, return_to: &str) -> Response {
    match step {
        SignIn::Opened(opened) => {
            if let Some(previous) = page.principal.take()
                && previous.session_id != opened.session.id
            {
                // The session this browser had is replaced, not kept alive beside.
                if let Err(error) = page.state.auth.logout(&previous, &page.client).await {
                    tracing::warn!(error = %error, "ending the replaced browser session failed");
                }
            }
            let cookie = page.state.auth.browser_cookie(&opened.session);
            let age = opened.session.expires_at - OffsetDateTime::now_utc();
            page.open_browser_session(&cookie, age);
            // The session's refresh token is never disclosed: a browser
            // session cannot be turned into API tokens.
            drop(opened);
            let second_factor = page.cookies().second_factor.clear();
            page.set_cookie(second_factor);
            page.redirect(return_to)
        }
        SignIn::SecondFactor(required) => {
            let value = Pending::cookie_value(&required);
            let cookie = page.cookies().second_factor.set(&value, SECOND_FACTOR_AGE);
            page.set_cookie(cookie);
            page.redirect(&with_return_to(paths::UI_SECOND_FACTOR, return_to))
        }
    }
}

/// The signed-in user of `$page` (an identifier), or — returned from the
/// handler — the answer sending the browser to sign in first (and back to
/// `$here` afterwards).
macro_rules! signed_in {
    ($page:ident, $here:expr) => {
        match $page.principal {
            Some(principal) => ($page, principal),
            None => {
                let to = $crate::pages::with_return_to(api_types::paths::UI_SIGN_IN, $here);
                return $page.redirect(&to);
            }
        }
    };
}

mod account;
mod assets;
mod authorize;
mod factors;
mod federated;
mod passkeys;
mod recovery;
mod sign_in;
mod sign_up;

/// A sign-in waiting for its second factor, as its cookie keeps it: the
/// challenge's token and which factors the account has (`t`otp,
/// `r`ecovery codes, pass`k`eys — what the page offers; the service decides).
pub(crate) struct Pending {
    pub(crate) token: String,
    pub(crate) totp: bool,
    pub(crate) recovery_code: bool,
    pub(crate) passkey: bool,
}

impl Pending {
    /// The cookie of a challenge handed over by name (`totp`,
    /// `recovery_code`, `webauthn`): `None` for a token that is not one.
    pub(crate) fn cookie_value_of<'a>(
        token: &str,
        names: impl Iterator<Item = &'a str>,
    ) -> Option<String> {
        let valid = !token.is_empty()
            && token.len() <= 64
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return None;
        }
        let flags: String = names
            .filter_map(|name| match name {
                "totp" => Some('t'),
                "recovery_code" => Some('r'),
                "webauthn" => Some('k'),
                _ => None,
            })
            .collect();
        Some(format!("{token}.{flags}"))
    }

    fn cookie_value(required: &domain::signin::MfaRequired) -> String {
        let methods = required.methods;
        let flags: String = [
            (methods.totp, 't'),
            (methods.recovery_code, 'r'),
            (methods.webauthn, 'k'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, flag)| *flag)
        .collect();
        format!("{}.{flags}", required.mfa_token.expose())
    }

    pub(crate) fn of(page: &Page) -> Option<Self> {
        let raw = page.second_factor_token.as_deref()?;
        let (token, flags) = raw.split_once('.').unwrap_or((raw, "tr"));
        Some(Self {
            token: token.to_owned(),
            totp: flags.contains('t'),
            recovery_code: flags.contains('r'),
            passkey: flags.contains('k'),
        })
    }
}

/// A field's error, for a form shown again.
#[derive(Debug, Serialize, Default)]
pub(crate) struct FieldErrors(std::collections::BTreeMap<String, String>);

impl FieldErrors {
    pub(crate) fn one(field: &str, message: &str) -> Self {
        let mut errors = Self::default();
        errors.0.insert(field.to_owned(), message.to_owned());
        errors
    }

    /// The domain's validation errors in the page's language: one message
    /// per field (`field_<code>` for a coded refusal, `field_<field>`
    /// otherwise).
    pub(crate) fn of(page: &Page, errors: &domain::validation::ValidationErrors) -> Self {
        let mut out = Self::default();
        for error in errors.errors() {
            let key = match error.code {
                Some(code) => format!("field_{code}"),
                None => format!("field_{}", error.field),
            };
            let text = page.t.text(&key);
            let text = if text == key {
                page.t.text("field_invalid")
            } else {
                text
            };
            out.0
                .entry(error.field.to_string())
                .or_insert_with(|| text.to_owned());
        }
        out
    }

    pub(crate) fn value(&self) -> Value {
        Value::from_serialize(&self.0)
    }
}
