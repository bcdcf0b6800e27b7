//! Configuration from the environment (and a `.env` file), checked at start-up: a
//! bad or missing value stops the service with one line naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use domain::{JwtAlgorithm, JwtConfig};
use secrecy::SecretString;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Everything the service reads from its environment.
pub struct Config {
    pub app_env: AppEnv,
    pub bind_addr: SocketAddr,
    /// Prometheus `/metrics`, kept off the public listener.
    pub metrics_addr: SocketAddr,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub jwt_algorithm: JwtAlgorithm,
    /// PEM private key (EdDSA, ES256) or secret (HS256); `None` = ephemeral key.
    pub jwt_signing_key: Option<SecretString>,
    /// Keys still accepted for verification during a rotation.
    pub jwt_previous_keys: Vec<SecretString>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: time::Duration,
    pub refresh_token_ttl: time::Duration,
    pub refresh_reuse_grace: time::Duration,
    pub log_format: LogFormat,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: export spans over OTLP/HTTP to it (e.g.
    /// `http://otel-collector:4318`); unset, spans stay local.
    pub otlp_endpoint: Option<String>,
    /// Credential requests per minute per client IP; 0 disables.
    pub rate_limit_per_ip: u32,
    /// Login attempts per minute per email; 0 disables.
    pub rate_limit_login_per_email: u32,
    pub cache: CacheSettings,
    pub oauth: OAuthConfig,
}

/// Sign-in with external providers (`PUBLIC_BASE_URL`, `OAUTH_*`, `OIDC_*`).
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub public_base_url: String,
    pub providers: Vec<oauth::ProviderConfig>,
    pub link_verified_email: bool,
    pub redirect_allowlist: Vec<String>,
    /// `OAUTH_PROVIDER_TIMEOUT`: bound on every call to a provider (default 10 s).
    pub provider_timeout: Duration,
}

/// The two-tier cache (`CACHE_*`, `REDIS_*`). Read in every build; used by builds
/// with the `cache` feature.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// `CACHE_ENABLED=false` wires the plain repositories (the rollback switch).
    pub enabled: bool,
    /// May carry a password: never logged.
    pub redis_url: SecretString,
    pub key_prefix: String,
    pub ttl_user: Duration,
    pub ttl_session: Duration,
    pub ttl_oauth: Duration,
    pub ttl_profile: Duration,
    /// `0` turns L1 off (every read goes to Redis).
    pub l1_max_entries: u64,
    pub l1_ttl: Duration,
}

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &'static str, message: impl fmt::Display) -> Self {
        Self {
            variable,
            message: message.to_string(),
        }
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/codezest_auth";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let parse = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            Ok(get(name).unwrap_or_else(|| default.to_owned()))
        };
        fn typed<T: FromStr>(
            name: &'static str,
            raw: String,
            what: &str,
        ) -> Result<T, ConfigError> {
            raw.parse()
                .map_err(|_| ConfigError::new(name, format!("{raw:?} is not {what}")))
        }
        let seconds =
            |name: &'static str, default: i64, min: i64| -> Result<time::Duration, ConfigError> {
                let value: i64 = typed(
                    name,
                    parse(name, &default.to_string())?,
                    "a number of seconds",
                )?;
                if value < min {
                    return Err(ConfigError::new(
                        name,
                        format!("must be at least {min} seconds"),
                    ));
                }
                Ok(time::Duration::seconds(value))
            };

        let app_env = match parse("APP_ENV", "development")?
            .to_ascii_lowercase()
            .as_str()
        {
            "development" | "dev" | "test" => AppEnv::Development,
            "production" | "prod" => AppEnv::Production,
            other => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("{other:?} is not development or production"),
                ));
            }
        };
        let bind_addr = typed(
            "BIND_ADDR",
            parse("BIND_ADDR", "127.0.0.1:3001")?,
            "a socket address like 127.0.0.1:3001",
        )?;
        let metrics_addr = typed(
            "METRICS_ADDR",
            parse("METRICS_ADDR", "127.0.0.1:9464")?,
            "a socket address like 127.0.0.1:9464",
        )?;
        let database_url = parse("DATABASE_URL", DEFAULT_DATABASE_URL)?;
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must be a postgres:// URL",
            ));
        }
        let database_max_connections: u32 = typed(
            "DATABASE_MAX_CONNECTIONS",
            parse("DATABASE_MAX_CONNECTIONS", "20")?,
            "a positive number",
        )?;
        if database_max_connections == 0 {
            return Err(ConfigError::new(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }

        let jwt_algorithm: JwtAlgorithm = parse("JWT_ALGORITHM", "EdDSA")?
            .parse()
            .map_err(|e| ConfigError::new("JWT_ALGORITHM", e))?;
        let jwt_signing_key = match jwt_algorithm {
            JwtAlgorithm::HS256 => get("JWT_SECRET").map(SecretString::from),
            _ => match get("JWT_PRIVATE_KEY_FILE") {
                Some(path) => Some(read_key_file("JWT_PRIVATE_KEY_FILE", &path)?),
                None => None,
            },
        };
        if jwt_signing_key.is_none() && app_env == AppEnv::Production {
            let variable = if jwt_algorithm == JwtAlgorithm::HS256 {
                "JWT_SECRET"
            } else {
                "JWT_PRIVATE_KEY_FILE"
            };
            return Err(ConfigError::new(
                variable,
                "is required when APP_ENV=production",
            ));
        }
        let jwt_previous_keys = get("JWT_PREVIOUS_KEY_FILES")
            .map(|files| {
                files
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(|f| read_key_file("JWT_PREVIOUS_KEY_FILES", f))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();

        let log_format = match parse("LOG_FORMAT", "pretty")?.to_ascii_lowercase().as_str() {
            "pretty" | "text" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("{other:?} is not pretty or json"),
                ));
            }
        };

        let rate_limit_per_ip: u32 = typed(
            "RATE_LIMIT_PER_IP",
            parse("RATE_LIMIT_PER_IP", "120")?,
            "a number of requests per minute",
        )?;
        let rate_limit_login_per_email: u32 = typed(
            "RATE_LIMIT_LOGIN_PER_EMAIL",
            parse("RATE_LIMIT_LOGIN_PER_EMAIL", "10")?,
            "a number of attempts per minute",
        )?;

        let oauth = oauth_config(&get)?;
        let otlp_endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
        if let Some(endpoint) = &otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "must be an http:// or https:// URL (OTLP over HTTP)",
            ));
        }
        let cache = CacheSettings {
            enabled: typed::<Flag>(
                "CACHE_ENABLED",
                parse("CACHE_ENABLED", "true")?,
                "true or false",
            )?
            .0,
            redis_url: SecretString::from(redis_url(&get)?),
            key_prefix: {
                let prefix = parse("REDIS_KEY_PREFIX", "cz")?;
                if prefix.contains(char::is_whitespace) || prefix.contains('{') {
                    return Err(ConfigError::new(
                        "REDIS_KEY_PREFIX",
                        "must not contain spaces or braces",
                    ));
                }
                prefix
            },
            ttl_user: seconds("REDIS_TTL_USER", 900, 1)?.unsigned_abs(),
            ttl_session: seconds("REDIS_TTL_SESSION", 300, 1)?.unsigned_abs(),
            ttl_oauth: seconds("REDIS_TTL_OAUTH", 1800, 1)?.unsigned_abs(),
            ttl_profile: seconds("REDIS_TTL_PROFILE", 900, 1)?.unsigned_abs(),
            l1_max_entries: typed(
                "CACHE_L1_MAX_ENTRIES",
                parse("CACHE_L1_MAX_ENTRIES", "100000")?,
                "a number of entries",
            )?,
            l1_ttl: seconds("CACHE_L1_TTL", 30, 0)?.unsigned_abs(),
        };

        Ok(Self {
            app_env,
            cache,
            rate_limit_per_ip,
            rate_limit_login_per_email,
            bind_addr,
            metrics_addr,
            database_url: SecretString::from(database_url),
            database_max_connections,
            jwt_algorithm,
            jwt_signing_key,
            jwt_previous_keys,
            jwt_issuer: parse("JWT_ISSUER", "codezest-auth")?,
            jwt_audience: parse("JWT_AUDIENCE", "codezest")?,
            access_token_ttl: seconds("ACCESS_TOKEN_TTL", 900, 30)?,
            refresh_token_ttl: seconds("REFRESH_TOKEN_TTL", 2_592_000, 60)?,
            refresh_reuse_grace: seconds("REFRESH_REUSE_GRACE", 10, 0)?,
            log_format,
            otlp_endpoint,
            oauth,
        })
    }

    /// The token configuration for the domain.
    pub fn jwt(&self) -> JwtConfig {
        JwtConfig {
            algorithm: self.jwt_algorithm,
            signing_key: self.jwt_signing_key.clone(),
            previous_keys: self.jwt_previous_keys.clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            access_ttl: self.access_token_ttl,
        }
    }
}

fn http_url(variable: &'static str, value: String) -> Result<String, ConfigError> {
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err(ConfigError::new(
            variable,
            "must be an http:// or https:// URL",
        ))
    }
}

/// The identity providers and sign-in settings.
fn oauth_config(get: &impl Fn(&str) -> Option<String>) -> Result<OAuthConfig, ConfigError> {
    let public_base_url = http_url(
        "PUBLIC_BASE_URL",
        get("PUBLIC_BASE_URL").unwrap_or_else(|| "http://127.0.0.1:3001".to_owned()),
    )?;
    let mut providers = Vec::new();
    let pair =
        |id: &'static str, secret: &'static str| -> Result<Option<(String, String)>, ConfigError> {
            match (get(id), get(secret)) {
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
        };
    if let Some((client_id, client_secret)) =
        pair("OAUTH_GOOGLE_CLIENT_ID", "OAUTH_GOOGLE_CLIENT_SECRET")?
    {
        providers.push(oauth::ProviderConfig {
            name: "google".into(),
            client_id,
            client_secret,
            kind: oauth::ProviderKind::Oidc {
                issuer: oauth::GOOGLE_ISSUER.into(),
            },
        });
    }
    if let Some((client_id, client_secret)) =
        pair("OAUTH_GITHUB_CLIENT_ID", "OAUTH_GITHUB_CLIENT_SECRET")?
    {
        providers.push(oauth::ProviderConfig {
            name: "github".into(),
            client_id,
            client_secret,
            kind: oauth::ProviderKind::GitHub {
                web_url: http_url(
                    "OAUTH_GITHUB_URL",
                    get("OAUTH_GITHUB_URL").unwrap_or_else(|| oauth::GITHUB_WEB_URL.into()),
                )?,
                api_url: http_url(
                    "OAUTH_GITHUB_API_URL",
                    get("OAUTH_GITHUB_API_URL").unwrap_or_else(|| oauth::GITHUB_API_URL.into()),
                )?,
            },
        });
    }
    for name in get("OIDC_PROVIDERS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let lower = name.to_ascii_lowercase();
        if !lower
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || ["google", "github", "accounts"].contains(&lower.as_str())
            || providers.iter().any(|p| p.name == lower)
        {
            return Err(ConfigError::new(
                "OIDC_PROVIDERS",
                format!(
                    "{name:?} is not a usable provider name (letters, digits, - and _; not google, github or accounts; no duplicates)"
                ),
            ));
        }
        let upper = lower.to_ascii_uppercase().replace('-', "_");
        let var = |suffix: &str| format!("OIDC_{upper}_{suffix}");
        let required = |suffix: &str| -> Result<String, ConfigError> {
            let name = var(suffix);
            get(&name).ok_or_else(|| ConfigError {
                variable: "OIDC_PROVIDERS",
                message: format!("{name} is required for provider {lower:?}"),
            })
        };
        let issuer = required("ISSUER")?;
        let issuer = http_url("OIDC_PROVIDERS", issuer)?;
        providers.push(oauth::ProviderConfig {
            name: lower.clone(),
            client_id: required("CLIENT_ID")?,
            client_secret: required("CLIENT_SECRET")?,
            kind: oauth::ProviderKind::Oidc { issuer },
        });
    }
    let link_verified_email = match get("OAUTH_LINK_VERIFIED_EMAIL") {
        None => false,
        Some(raw) => {
            raw.parse::<Flag>()
                .map_err(|_| {
                    ConfigError::new("OAUTH_LINK_VERIFIED_EMAIL", "must be true or false")
                })?
                .0
        }
    };
    let redirect_allowlist = get("OAUTH_REDIRECT_ALLOWLIST")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| http_url("OAUTH_REDIRECT_ALLOWLIST", s.to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    let provider_timeout = match get("OAUTH_PROVIDER_TIMEOUT") {
        None => Duration::from_secs(10),
        Some(raw) => match raw.parse::<u64>() {
            Ok(secs) if (1..=60).contains(&secs) => Duration::from_secs(secs),
            _ => {
                return Err(ConfigError::new(
                    "OAUTH_PROVIDER_TIMEOUT",
                    "must be 1 to 60 seconds",
                ));
            }
        },
    };
    Ok(OAuthConfig {
        public_base_url,
        providers,
        link_verified_email,
        redirect_allowlist,
        provider_timeout,
    })
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
struct Flag(bool);

impl FromStr for Flag {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Self(true)),
            "false" | "0" | "no" | "off" => Ok(Self(false)),
            _ => Err(()),
        }
    }
}

const REDIS_SCHEMES: [&str; 6] = [
    "redis://",
    "rediss://",
    "redis-cluster://",
    "rediss-cluster://",
    "redis-sentinel://",
    "rediss-sentinel://",
];

/// `REDIS_URL`, or one built from `REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`/`REDIS_DB`.
fn redis_url(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    if let Some(url) = get("REDIS_URL") {
        if !REDIS_SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(ConfigError::new(
                "REDIS_URL",
                "must start with redis://, rediss://, redis-cluster:// or redis-sentinel://",
            ));
        }
        return Ok(url);
    }
    let host = get("REDIS_HOST").unwrap_or_else(|| "localhost".to_owned());
    let port = get("REDIS_PORT").unwrap_or_else(|| "6379".to_owned());
    if port.parse::<u16>().is_err() {
        return Err(ConfigError::new(
            "REDIS_PORT",
            format!("{port:?} is not a port number"),
        ));
    }
    let db = get("REDIS_DB").unwrap_or_else(|| "0".to_owned());
    if db.parse::<u32>().is_err() {
        return Err(ConfigError::new(
            "REDIS_DB",
            format!("{db:?} is not a database number"),
        ));
    }
    let auth = get("REDIS_PASSWORD")
        .map(|password| format!(":{}@", percent_encode(&password)))
        .unwrap_or_default();
    Ok(format!("redis://{auth}{host}:{port}/{db}"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn read_key_file(variable: &'static str, path: &str) -> Result<SecretString, ConfigError> {
    std::fs::read_to_string(path)
        .map(SecretString::from)
        .map_err(|e| ConfigError::new(variable, format!("cannot read {path}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret as _;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = config(&[]).unwrap();
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:3001");
        assert_eq!(config.metrics_addr.to_string(), "127.0.0.1:9464");
        assert_eq!(config.jwt_algorithm, JwtAlgorithm::EdDSA);
        assert_eq!(config.access_token_ttl.whole_seconds(), 900);
        assert_eq!(config.refresh_token_ttl.whole_seconds(), 2_592_000);
        assert_eq!(config.refresh_reuse_grace.whole_seconds(), 10);
        assert_eq!(config.database_max_connections, 20);
        assert_eq!(config.jwt_issuer, "codezest-auth");
        assert_eq!(config.jwt_audience, "codezest");
        let cache = &config.cache;
        assert!(cache.enabled);
        assert_eq!(cache.redis_url.expose_secret(), "redis://localhost:6379/0");
        assert_eq!(cache.key_prefix, "cz");
        assert_eq!(
            [
                cache.ttl_user,
                cache.ttl_session,
                cache.ttl_oauth,
                cache.ttl_profile
            ]
            .map(|d| d.as_secs()),
            [900, 300, 1800, 900]
        );
        assert_eq!(cache.l1_max_entries, 100_000);
        assert_eq!(cache.l1_ttl.as_secs(), 30);
    }

    #[test]
    fn redis_url_is_built_from_its_parts() {
        let config = config(&[
            ("REDIS_HOST", "cache.internal"),
            ("REDIS_PORT", "6380"),
            ("REDIS_PASSWORD", "p@ss:word/1"),
            ("REDIS_DB", "2"),
            ("CACHE_ENABLED", "false"),
        ])
        .unwrap();
        assert_eq!(
            config.cache.redis_url.expose_secret(),
            "redis://:p%40ss%3Aword%2F1@cache.internal:6380/2"
        );
        assert!(!config.cache.enabled);
        let config = config_with_url("rediss://user:pw@host:6390/1");
        assert_eq!(
            config.cache.redis_url.expose_secret(),
            "rediss://user:pw@host:6390/1"
        );
    }

    fn config_with_url(url: &str) -> Config {
        config(&[("REDIS_URL", url), ("REDIS_HOST", "ignored")]).unwrap()
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("BIND_ADDR", "nowhere"),
            ("METRICS_ADDR", "9464"),
            ("ACCESS_TOKEN_TTL", "soon"),
            ("JWT_ALGORITHM", "none"),
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_MAX_CONNECTIONS", "0"),
            ("LOG_FORMAT", "xml"),
            ("JWT_PRIVATE_KEY_FILE", "/does/not/exist.pem"),
            ("CACHE_ENABLED", "maybe"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("PUBLIC_BASE_URL", "auth.example.com"),
            ("OIDC_PROVIDERS", "okta"),
            ("OAUTH_LINK_VERIFIED_EMAIL", "perhaps"),
            ("REDIS_URL", "http://localhost:6379"),
            ("REDIS_PORT", "sixty"),
            ("REDIS_DB", "-1"),
            ("REDIS_TTL_SESSION", "0"),
            ("REDIS_KEY_PREFIX", "a b"),
            ("CACHE_L1_MAX_ENTRIES", "lots"),
        ] {
            let error = config(&[(name, value)])
                .err()
                .unwrap_or_else(|| panic!("{name}={value} accepted"));
            assert_eq!(error.variable, name);
        }
    }

    #[test]
    fn oauth_providers_come_from_the_environment() {
        let error = config(&[("OAUTH_GOOGLE_CLIENT_ID", "id")]).err().unwrap();
        assert_eq!(
            error.variable, "OAUTH_GOOGLE_CLIENT_SECRET",
            "names what is missing"
        );
        let error = config(&[("OIDC_PROVIDERS", "github")]).err().unwrap();
        assert_eq!(error.variable, "OIDC_PROVIDERS");
        let config = config(&[
            ("OAUTH_GITHUB_CLIENT_ID", "gh"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "gh-secret"),
            ("OIDC_PROVIDERS", "Okta, corp-sso"),
            ("OIDC_OKTA_ISSUER", "https://example.okta.com/"),
            ("OIDC_OKTA_CLIENT_ID", "o"),
            ("OIDC_OKTA_CLIENT_SECRET", "o-secret"),
            ("OIDC_CORP_SSO_ISSUER", "https://sso.corp.example"),
            ("OIDC_CORP_SSO_CLIENT_ID", "c"),
            ("OIDC_CORP_SSO_CLIENT_SECRET", "c-secret"),
            (
                "OAUTH_REDIRECT_ALLOWLIST",
                "https://app.example.com, https://admin.example.com/",
            ),
        ])
        .unwrap();
        let names: Vec<&str> = config
            .oauth
            .providers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["github", "okta", "corp-sso"]);
        assert!(matches!(
            &config.oauth.providers[1].kind,
            oauth::ProviderKind::Oidc { issuer } if issuer == "https://example.okta.com"
        ));
        assert_eq!(
            config.oauth.redirect_allowlist,
            ["https://app.example.com", "https://admin.example.com"]
        );
        assert_eq!(config.oauth.public_base_url, "http://127.0.0.1:3001");
        assert!(!config.oauth.link_verified_email);
    }

    #[test]
    fn production_requires_a_key() {
        let error = config(&[("APP_ENV", "production")]).err().unwrap();
        assert_eq!(error.variable, "JWT_PRIVATE_KEY_FILE");
        let error = config(&[("APP_ENV", "production"), ("JWT_ALGORITHM", "HS256")])
            .err()
            .unwrap();
        assert_eq!(error.variable, "JWT_SECRET");
    }
}
