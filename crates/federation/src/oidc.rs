//! Any OpenID Connect issuer: endpoints from `{issuer}/.well-known/openid-configuration`,
//! ID tokens validated against the issuer's JWKS (signature, `iss`, `aud`, `exp`, `nonce`).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::{
    ProviderName, error::ProviderError, ports::AuthorizationRequest, ports::ExternalIdentity,
    ports::IdentityProvider,
};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::RwLock;

use crate::{exchange, get_json, oauth_client};

/// Discovery and keys are fetched again after this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Clock skew allowed on `exp`/`iat`.
const LEEWAY_SECS: u64 = 60;

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

struct Fetched<T> {
    value: T,
    at: Instant,
}

pub struct OidcProvider {
    name: ProviderName,
    issuer: String,
    client_id: String,
    client_secret: secrecy::SecretString,
    http: reqwest::Client,
    discovery: RwLock<Option<Fetched<Discovery>>>,
    jwks: RwLock<Option<Fetched<JwkSet>>>,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
    #[serde(default)]
    name: Option<String>,
}

/// `email_verified` as providers send it: a boolean, or (some) the string "true".
fn verified(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

impl OidcProvider {
    pub fn new(
        name: ProviderName,
        issuer: String,
        client_id: String,
        client_secret: secrecy::SecretString,
        http: reqwest::Client,
    ) -> Self {
        Self {
            name,
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            http,
            discovery: RwLock::new(None),
            jwks: RwLock::new(None),
        }
    }

    fn client(&self, discovery: &Discovery) -> Result<crate::OAuthClient, ProviderError> {
        oauth_client(
            &self.client_id,
            &self.client_secret,
            &discovery.authorization_endpoint,
            &discovery.token_endpoint,
        )
    }

    async fn discovery(&self) -> Result<Discovery, ProviderError> {
        if let Some(cached) = self.discovery.read().await.as_ref()
            && cached.at.elapsed() < METADATA_TTL
        {
            return Ok(cached.value.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let discovery: Discovery = get_json(&self.http, &url, None).await?;
        if discovery.issuer.trim_end_matches('/') != self.issuer {
            return Err(ProviderError::Unavailable(format!(
                "discovery names issuer {:?}, configured {:?}",
                discovery.issuer, self.issuer
            )));
        }
        *self.discovery.write().await = Some(Fetched {
            value: discovery.clone(),
            at: Instant::now(),
        });
        Ok(discovery)
    }

    /// The issuer's keys; `refresh` fetches them again (a key rotation).
    async fn jwks(&self, refresh: bool) -> Result<JwkSet, ProviderError> {
        if !refresh
            && let Some(cached) = self.jwks.read().await.as_ref()
            && cached.at.elapsed() < METADATA_TTL
        {
            return Ok(cached.value.clone());
        }
        let discovery = self.discovery().await?;
        let jwks: JwkSet = get_json(&self.http, &discovery.jwks_uri, None).await?;
        *self.jwks.write().await = Some(Fetched {
            value: jwks.clone(),
            at: Instant::now(),
        });
        Ok(jwks)
    }

    async fn decoding_key(&self, kid: Option<&str>) -> Result<DecodingKey, ProviderError> {
        for refresh in [false, true] {
            let jwks = self.jwks(refresh).await?;
            let jwk = match kid {
                Some(kid) => jwks.find(kid),
                None if jwks.keys.len() == 1 => jwks.keys.first(),
                None => None,
            };
            if let Some(jwk) = jwk {
                return DecodingKey::from_jwk(jwk)
                    .map_err(|e| ProviderError::Rejected(format!("unusable signing key: {e}")));
            }
        }
        Err(ProviderError::Rejected(
            "the ID token's signing key is not in the issuer's JWKS".into(),
        ))
    }

    async fn validate(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<IdClaims, ProviderError> {
        let rejected = |what: &str| ProviderError::Rejected(format!("ID token {what}"));
        // `alg: none` and unknown algorithms do not even parse.
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| rejected("is malformed"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            // A shared-secret algorithm would let anyone who knows the client
            // secret mint identities.
            return Err(rejected("uses an algorithm this service does not accept"));
        }
        let key = self.decoding_key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.issuer.as_str(), &format!("{}/", self.issuer)]);
        validation.set_audience(&[self.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => rejected("has expired"),
                    ErrorKind::InvalidIssuer => rejected("has the wrong issuer"),
                    ErrorKind::InvalidAudience => rejected("is for another client"),
                    ErrorKind::InvalidSignature => rejected("has a bad signature"),
                    _ => rejected("is invalid"),
                }
            })?
            .claims;
        if claims.nonce.as_deref() != nonce {
            return Err(rejected("does not carry this login's nonce"));
        }
        Ok(claims)
    }
}

#[async_trait]
impl IdentityProvider for OidcProvider {
    fn name(&self) -> &ProviderName {
        &self.name
    }

    fn is_oidc(&self) -> bool {
        true
    }

    async fn issuer(&self) -> Result<Option<(String, bool)>, ProviderError> {
        let discovery = self.discovery().await?;
        Ok(Some((
            self.issuer.clone(),
            discovery.authorization_response_iss_parameter_supported,
        )))
    }

    async fn authorization_url(
        &self,
        request: AuthorizationRequest<'_>,
    ) -> Result<String, ProviderError> {
        let discovery = self.discovery().await?;
        crate::authorize_url(
            &self.client(&discovery)?,
            &request,
            &["openid", "email", "profile"],
        )
    }

    async fn identity(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: Option<&str>,
        redirect_uri: &str,
    ) -> Result<ExternalIdentity, ProviderError> {
        let discovery = self.discovery().await?;
        let client = self.client(&discovery)?;
        let tokens = exchange(&client, &self.http, code, pkce_verifier, redirect_uri).await?;
        let id_token =
            tokens.extra_fields().id_token.as_deref().ok_or_else(|| {
                ProviderError::Rejected("the token response has no ID token".into())
            })?;
        let claims = self.validate(id_token, nonce).await?;
        let (mut email, mut email_verified, mut name) = (
            claims.email,
            verified(claims.email_verified.as_ref()),
            claims.name,
        );
        // Some issuers keep the profile claims for the userinfo endpoint.
        if email.is_none()
            && let Some(userinfo) = discovery.userinfo_endpoint.as_deref()
        {
            use oauth2::TokenResponse as _;
            let info: Value =
                get_json(&self.http, userinfo, Some(tokens.access_token().secret())).await?;
            if info["sub"].as_str() == Some(claims.sub.as_str()) {
                email = info["email"].as_str().map(str::to_owned);
                email_verified = verified(info.get("email_verified"));
                name = name.or_else(|| info["name"].as_str().map(str::to_owned));
            }
        }
        Ok(ExternalIdentity {
            subject: claims.sub,
            email,
            email_verified,
            name,
        })
    }
}
