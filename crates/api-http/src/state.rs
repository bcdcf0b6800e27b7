use std::ops::Deref;
use std::sync::Arc;

use domain::{
    account::AccountService, admin::AdminService, auth::AuthService, clients::ClientService,
    federation::FederationService, mfa::MfaService, passkey::PasskeyService,
    provider::ProviderService,
};

use axum::extract::FromRef;
use http_kit::access::TraceIdOf;
use http_kit::{TrustedProxies, limit::RateLimits};

use crate::readiness::ReadinessProbe;

/// Everything a handler can reach.
pub struct Services {
    pub auth: Arc<AuthService>,
    /// Recovery, verification, email change, deletion, the audit trail.
    pub account: Arc<AccountService>,
    /// Second factors: TOTP, recovery codes, `/auth/mfa/verify`.
    pub mfa: Arc<MfaService>,
    /// Passkeys: registration, management, passwordless sign-in.
    pub passkeys: Arc<PasskeyService>,
    /// Sign-in with external providers (none configured: every provider is unknown).
    pub federation: Arc<FederationService>,
    /// The admin API's operations.
    pub admin: Arc<AdminService>,
    /// API clients: registration and authentication at the OAuth 2.0 endpoints.
    pub clients: Arc<ClientService>,
    /// The OpenID provider: authorization, tokens, userinfo.
    pub provider: Arc<ProviderService>,
    /// `PUBLIC_BASE_URL`: where this service is reached (RFC 8414 metadata).
    pub public_base_url: domain::HttpUrl,
    pub readiness: Arc<dyn ReadinessProbe>,
    pub limits: Arc<RateLimits>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `None` when spans are not exported.
    pub trace_id_of: Option<TraceIdOf>,
}

/// The handlers' state: one pointer, so the clone axum makes for every request
/// is one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl FromRef<AppState> for TrustedProxies {
    fn from_ref(state: &AppState) -> Self {
        state.trusted_proxies.clone()
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}
