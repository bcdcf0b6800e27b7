//! Identity providers for codezest-auth, implementing `domain::ports::IdentityProvider`
//! on the `oauth2` crate: any OpenID Connect issuer (found by discovery, its
//! JWKS cached), Google (an OIDC issuer with a known address) and GitHub
//! (OAuth 2.0 plus its user and emails API; GitHub is not OIDC).
//!
//! Every call to a provider has a timeout and never follows redirects (a token
//! endpoint that redirects is an error, not an invitation). Provider tokens are
//! used for the one call that needs them and never stored.

mod github;
mod oidc;

use std::sync::Arc;
use std::time::Duration;

use domain::{ProviderName, error::ProviderError, ports::IdentityProvider};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

pub use crate::github::GitHubProvider;
pub use crate::oidc::OidcProvider;

/// How one provider is configured (from `OAUTH_*` / `OIDC_*`).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The `{provider}` of the routes: `google`, `github`, or an OIDC name.
    pub name: ProviderName,
    pub client_id: String,
    pub client_secret: SecretString,
    pub kind: ProviderKind,
}

#[derive(Debug, Clone)]
pub enum ProviderKind {
    /// Any OpenID Connect issuer; its endpoints come from discovery.
    Oidc { issuer: String },
    /// GitHub (or GitHub Enterprise Server at other addresses).
    GitHub { web_url: String, api_url: String },
}

pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const GITHUB_WEB_URL: &str = "https://github.com";
pub const GITHUB_API_URL: &str = "https://api.github.com";

/// Builds the providers. Nothing is fetched yet: discovery happens on first use.
/// `timeout` bounds every call to a provider.
pub fn providers(
    configs: Vec<ProviderConfig>,
    timeout: Duration,
) -> Result<Vec<Arc<dyn IdentityProvider>>, String> {
    let http = http_client(timeout)?;
    configs
        .into_iter()
        .map(|config| -> Result<Arc<dyn IdentityProvider>, String> {
            Ok(match config.kind {
                ProviderKind::Oidc { issuer } => Arc::new(OidcProvider::new(
                    config.name,
                    issuer,
                    config.client_id,
                    config.client_secret,
                    http.clone(),
                )),
                ProviderKind::GitHub { web_url, api_url } => Arc::new(GitHubProvider::new(
                    config.name,
                    &web_url,
                    api_url,
                    config.client_id,
                    config.client_secret,
                    http.clone(),
                )?),
            })
        })
        .collect()
}

/// The HTTP client for every provider call: short timeouts, no redirects.
fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent(concat!("codezest-auth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The token response, with OpenID Connect's `id_token` when there is one.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

type OAuthClient = Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn oauth_client(
    client_id: &str,
    client_secret: &SecretString,
    auth_url: &str,
    token_url: &str,
) -> Result<OAuthClient, ProviderError> {
    let bad = |what: &str, e: oauth2::url::ParseError| {
        ProviderError::Unavailable(format!("the provider's {what} is not a URL: {e}"))
    };
    Ok(Client::new(ClientId::new(client_id.to_owned()))
        .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_owned()))
        .set_auth_uri(
            AuthUrl::new(auth_url.to_owned()).map_err(|e| bad("authorization endpoint", e))?,
        )
        .set_token_uri(TokenUrl::new(token_url.to_owned()).map_err(|e| bad("token endpoint", e))?))
}

/// The authorization URL with `state`, PKCE `S256` and (OIDC) `nonce`.
fn authorize_url(
    client: &OAuthClient,
    request: &domain::ports::AuthorizationRequest<'_>,
    scopes: &[&str],
) -> Result<String, ProviderError> {
    let redirect = RedirectUrl::new(request.redirect_uri.to_owned())
        .map_err(|e| ProviderError::Unavailable(format!("PUBLIC_BASE_URL is not a URL: {e}")))?;
    let state = request.state.to_owned();
    let mut builder = client
        .authorize_url(move || CsrfToken::new(state))
        .set_redirect_uri(std::borrow::Cow::Owned(redirect))
        .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
        .add_extra_param("code_challenge", request.pkce_challenge)
        .add_extra_param("code_challenge_method", "S256");
    if let Some(nonce) = request.nonce {
        builder = builder.add_extra_param("nonce", nonce);
    }
    Ok(builder.url().0.to_string())
}

/// Exchanges an authorization code with its PKCE verifier.
async fn exchange(
    client: &OAuthClient,
    http: &reqwest::Client,
    code: &str,
    pkce_verifier: &str,
    redirect_uri: &str,
) -> Result<TokenResponse, ProviderError> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| ProviderError::Unavailable(format!("PUBLIC_BASE_URL is not a URL: {e}")))?;
    client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
        .set_redirect_uri(std::borrow::Cow::Owned(redirect))
        .request_async(http)
        .await
        .map_err(|error| match error {
            RequestTokenError::ServerResponse(response) => {
                ProviderError::Rejected(format!("token endpoint: {}", response.error()))
            }
            RequestTokenError::Request(e) => {
                ProviderError::Unavailable(format!("token endpoint unreachable: {e}"))
            }
            RequestTokenError::Parse(_, _) => {
                ProviderError::Unavailable("token endpoint answered an unreadable response".into())
            }
            RequestTokenError::Other(e) => {
                ProviderError::Unavailable(format!("token endpoint: {e}"))
            }
        })
}

/// GETs JSON from a provider, mapping failures to [`ProviderError`].
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<T, ProviderError> {
    let mut request = http.get(url).header("accept", "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| ProviderError::Unavailable(format!("{}: {e}", strip_query(url))))?;
    if !response.status().is_success() {
        return Err(ProviderError::Unavailable(format!(
            "{} answered {}",
            strip_query(url),
            response.status()
        )));
    }
    response.json().await.map_err(|e| {
        ProviderError::Unavailable(format!("{} answered bad JSON: {e}", strip_query(url)))
    })
}

fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}
