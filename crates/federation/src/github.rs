//! GitHub: OAuth 2.0 (with PKCE) plus the REST API for the identity — GitHub
//! is not an OpenID Connect provider and sends no ID token.

use async_trait::async_trait;
use domain::{
    ProviderName, error::ProviderError, ports::AuthorizationRequest, ports::ExternalIdentity,
    ports::IdentityProvider,
};
use oauth2::TokenResponse as _;
use serde::Deserialize;

use crate::{OAuthClient, authorize_url, exchange, get_json, oauth_client};

pub struct GitHubProvider {
    name: ProviderName,
    api_url: String,
    client: OAuthClient,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

impl GitHubProvider {
    pub fn new(
        name: ProviderName,
        web_url: &str,
        api_url: String,
        client_id: String,
        client_secret: secrecy::SecretString,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let web = web_url.trim_end_matches('/');
        let client = oauth_client(
            &client_id,
            &client_secret,
            &format!("{web}/login/oauth/authorize"),
            &format!("{web}/login/oauth/access_token"),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            name,
            api_url: api_url.trim_end_matches('/').to_owned(),
            client,
            http,
        })
    }
}

#[async_trait]
impl IdentityProvider for GitHubProvider {
    fn name(&self) -> &ProviderName {
        &self.name
    }

    fn is_oidc(&self) -> bool {
        false
    }

    /// GitHub does not send RFC 9207's `iss`.
    async fn issuer(&self) -> Result<Option<(String, bool)>, ProviderError> {
        Ok(None)
    }

    async fn authorization_url(
        &self,
        request: AuthorizationRequest<'_>,
    ) -> Result<String, ProviderError> {
        authorize_url(&self.client, &request, &["read:user", "user:email"])
    }

    async fn identity(
        &self,
        code: &str,
        pkce_verifier: &str,
        _nonce: Option<&str>,
        redirect_uri: &str,
    ) -> Result<ExternalIdentity, ProviderError> {
        let tokens = exchange(&self.client, &self.http, code, pkce_verifier, redirect_uri).await?;
        let token = tokens.access_token().secret();
        let user: GitHubUser =
            get_json(&self.http, &format!("{}/user", self.api_url), Some(token)).await?;
        let emails: Vec<GitHubEmail> = get_json(
            &self.http,
            &format!("{}/user/emails", self.api_url),
            Some(token),
        )
        .await?;
        // The primary address, verified or not: whether GitHub verified it decides
        // only whether the account may be matched with a local one.
        let primary = emails.into_iter().find(|e| e.primary);
        Ok(ExternalIdentity {
            subject: user.id.to_string(),
            email: primary.as_ref().map(|e| e.email.clone()),
            email_verified: primary.is_some_and(|e| e.verified),
            name: user
                .name
                .filter(|n| !n.trim().is_empty())
                .or(Some(user.login)),
        })
    }
}
