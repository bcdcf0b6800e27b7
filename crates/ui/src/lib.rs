//! The hosted pages under `/ui`: sign-in (password, passkey, providers),
//! sign-up, the second-factor step, recovery and verification links, and the
//! account page — server-rendered HTML forms that work without JavaScript,
//! in a **browser session**: a cookie naming a server-side session of the
//! `sessions` table (`domain::auth::AuthService::browser_cookie`).
//!
//! The pages call the same domain services as the JSON API — never the API
//! itself — so rate limits, lockout, enumeration safety and every audit
//! record are the API's. Every `POST` is checked against cross-site forgery
//! (`forms.rs`); every refusal is a page (`error.rs`). Templates and message
//! catalogues are built in and can be replaced from `UI_TEMPLATES_DIR`.

mod ctx;
mod error;
mod forms;
pub mod i18n;
mod pages;
pub mod render;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use domain::HttpUrl;
use domain::account::AccountService;
use domain::auth::AuthService;
use domain::federation::FederationService;
use domain::mfa::MfaService;
use domain::passkey::PasskeyService;
use domain::provider::ProviderService;
use http_kit::TrustedProxies;
use http_kit::cookies::{CookieSpec, SameSite};
use http_kit::limit::RateLimits;

pub use error::UiError;
pub use render::Brand;

/// The domain services the pages call.
pub struct UiServices {
    pub auth: Arc<AuthService>,
    pub account: Arc<AccountService>,
    pub mfa: Arc<MfaService>,
    pub passkeys: Arc<PasskeyService>,
    pub federation: Arc<FederationService>,
    pub provider: Arc<ProviderService>,
    pub limits: Arc<RateLimits>,
    pub trusted_proxies: TrustedProxies,
}

/// `UI_*` and what the pages need of the rest of the configuration.
#[derive(Debug, Clone)]
pub struct UiSettings {
    pub brand: Brand,
    /// `UI_TEMPLATES_DIR`: templates, `messages/{lang}.json` and
    /// `static/ui.css` that replace the built-in ones.
    pub templates_dir: Option<PathBuf>,
    /// `PUBLIC_BASE_URL`: the origin forms may be posted from, and whether
    /// cookies are `Secure` (and `__Host-`).
    pub public_base_url: HttpUrl,
}

/// Largest form accepted.
const BODY_LIMIT: usize = 16 * 1024;

/// The cookies of the pages.
struct Cookies {
    /// The browser session.
    session: CookieSpec,
    /// The anti-forgery binding of the forms.
    forms: CookieSpec,
    /// A sign-in waiting for its second factor (the challenge's token).
    second_factor: CookieSpec,
    /// The language an OpenID client asked for (`ui_locales`), for the pages
    /// of that sign-in.
    language: CookieSpec,
}

struct Inner {
    services: UiServices,
    templates: render::Templates,
    catalogues: i18n::Catalogues,
    cookies: Cookies,
    /// `scheme://host[:port]` of `PUBLIC_BASE_URL`.
    origin: String,
    public_base_url: HttpUrl,
}

/// The pages' state: one pointer.
#[derive(Clone)]
pub struct UiState(Arc<Inner>);

impl UiState {
    pub fn new(services: UiServices, settings: UiSettings) -> Result<Self, String> {
        let dir = settings.templates_dir.as_deref();
        if let Some(dir) = dir
            && !dir.is_dir()
        {
            return Err(format!("{} is not a directory", dir.display()));
        }
        let templates = render::Templates::load(&settings.brand, dir)?;
        let catalogues = i18n::Catalogues::load(dir)?;
        let secure = settings.public_base_url.is_secure_context();
        let cookies = Cookies {
            session: CookieSpec::host_only("cz_session", secure, SameSite::Lax),
            forms: CookieSpec::host_only("cz_forms", secure, SameSite::Lax),
            second_factor: CookieSpec::host_only("cz_second_factor", secure, SameSite::Lax),
            language: CookieSpec::host_only("cz_lang", secure, SameSite::Lax),
        };
        let origin = settings
            .public_base_url
            .as_url()
            .origin()
            .ascii_serialization();
        Ok(Self(Arc::new(Inner {
            services,
            templates,
            catalogues,
            cookies,
            origin,
            public_base_url: settings.public_base_url,
        })))
    }
}

impl std::ops::Deref for UiState {
    type Target = UiServices;

    fn deref(&self) -> &UiServices {
        &self.0.services
    }
}

impl axum::extract::FromRef<UiState> for TrustedProxies {
    fn from_ref(state: &UiState) -> Self {
        state.0.services.trusted_proxies.clone()
    }
}

/// Every page, with the pages' security headers, ready to be merged into
/// the service's router (whose middleware adds request ids, the access log,
/// timeouts).
pub fn router(state: UiState) -> Router {
    pages::routes(state.clone())
        .layer(http_kit::headers::html_pages())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
