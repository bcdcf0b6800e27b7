//! `OAUTH_*`, `OIDC_*`: sign-in with external providers.

use std::time::Duration;

use domain::{HttpUrl, ProviderName, federation::FederationSettings};
use federation::{ProviderConfig, ProviderKind};

use super::env::{ConfigError, Env, Result, http_url, parse_http_url};

#[derive(Debug, Clone)]
pub struct FederationConfig {
    pub settings: FederationSettings,
    pub providers: Vec<ProviderConfig>,
    /// `OAUTH_PROVIDER_TIMEOUT`: bound on every call to a provider (default 10 s).
    pub provider_timeout: Duration,
}

impl FederationConfig {
    pub fn from_env(env: &Env<'_>, public_base_url: &HttpUrl) -> Result<Self> {
        let redirect_allowlist = env
            .list("OAUTH_REDIRECT_ALLOWLIST")
            .iter()
            .map(|origin| parse_http_url("OAUTH_REDIRECT_ALLOWLIST", origin))
            .collect::<Result<Vec<_>>>()?;
        let provider_timeout = env.seconds("OAUTH_PROVIDER_TIMEOUT", 10, 1)?;
        if provider_timeout > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "OAUTH_PROVIDER_TIMEOUT",
                "must be 1 to 60 seconds",
            ));
        }
        Ok(Self {
            settings: FederationSettings {
                public_base_url: public_base_url.clone(),
                link_verified_email: env.flag("OAUTH_LINK_VERIFIED_EMAIL", false)?,
                redirect_allowlist,
                pending_ttl: time::Duration::minutes(10),
            },
            providers: providers(env)?,
            provider_timeout,
        })
    }
}

/// Google and GitHub when both their id and secret are set, then every
/// `OIDC_PROVIDERS` entry.
fn providers(env: &Env<'_>) -> Result<Vec<ProviderConfig>> {
    let mut providers = Vec::new();
    if let Some((client_id, client_secret)) =
        client(env, "OAUTH_GOOGLE_CLIENT_ID", "OAUTH_GOOGLE_CLIENT_SECRET")?
    {
        providers.push(ProviderConfig {
            name: builtin("google"),
            client_id,
            client_secret,
            kind: ProviderKind::Oidc {
                issuer: federation::GOOGLE_ISSUER.into(),
            },
        });
    }
    if let Some((client_id, client_secret)) =
        client(env, "OAUTH_GITHUB_CLIENT_ID", "OAUTH_GITHUB_CLIENT_SECRET")?
    {
        let web_url = env.http_url("OAUTH_GITHUB_URL", federation::GITHUB_WEB_URL)?;
        let api_url = env.http_url("OAUTH_GITHUB_API_URL", federation::GITHUB_API_URL)?;
        providers.push(ProviderConfig {
            name: builtin("github"),
            client_id,
            client_secret,
            kind: ProviderKind::GitHub { web_url, api_url },
        });
    }
    for name in env.list("OIDC_PROVIDERS") {
        let provider = oidc_provider(env, &name, &providers)?;
        providers.push(provider);
    }
    Ok(providers)
}

/// The name of a built-in provider.
fn builtin(name: &str) -> ProviderName {
    ProviderName::parse(name).expect("built-in provider names are valid")
}

/// An id and a secret, both or neither.
fn client(
    env: &Env<'_>,
    id: &'static str,
    secret: &'static str,
) -> Result<Option<(String, secrecy::SecretString)>> {
    match (env.get(id), env.secret(secret)) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::new(
            secret,
            "is required when its client id is set",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            id,
            "is required when its client secret is set",
        )),
    }
}

/// `OIDC_<NAME>_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET` of one `OIDC_PROVIDERS` entry.
fn oidc_provider(env: &Env<'_>, name: &str, taken: &[ProviderConfig]) -> Result<ProviderConfig> {
    let lower = name.to_ascii_lowercase();
    let parsed = ProviderName::parse(&lower).ok().filter(|parsed| {
        !["google", "github", "accounts"].contains(&parsed.as_str())
            && !taken.iter().any(|p| &p.name == parsed)
    });
    let Some(parsed) = parsed else {
        return Err(ConfigError::new(
            "OIDC_PROVIDERS",
            format!(
                "{name:?} is not a usable provider name (1 to 32 letters, digits, - and _; not google, github or accounts; no duplicates)"
            ),
        ));
    };
    let upper = lower.to_ascii_uppercase().replace('-', "_");
    let required = |suffix: &str| -> Result<String> {
        let variable = format!("OIDC_{upper}_{suffix}");
        env.get(&variable).ok_or_else(|| {
            ConfigError::new(
                "OIDC_PROVIDERS",
                format!("{variable} is required for provider {lower:?}"),
            )
        })
    };
    let issuer = http_url("OIDC_PROVIDERS", &required("ISSUER")?)?;
    Ok(ProviderConfig {
        name: parsed,
        client_id: required("CLIENT_ID")?,
        client_secret: required("CLIENT_SECRET")?.into(),
        kind: ProviderKind::Oidc { issuer },
    })
}
