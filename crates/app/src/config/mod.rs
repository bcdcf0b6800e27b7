//! Configuration from the environment (and a `.env` file), checked at start-up:
//! a bad or missing value stops the service with one line naming the variable.
//!
//! One section per concern, each read by its own `from_env` through the small
//! reader in [`env`]; where a crate owns the settings it needs
//! (`repo_postgres::PgSettings`, `domain::tokens::JwtConfig`, `cache_redis::CacheConfig`,
//! `api_http::RateLimitSettings`, `federation::ProviderConfig`), the section holds
//! that type, so nothing is copied field by field at start-up. Secrets are
//! `SecretString` from the moment they are read.

mod cache;
mod database;
mod env;
mod federation;
mod limits;
mod mail;
mod mfa;
mod oidc;
mod server;
mod telemetry;
mod tokens;
mod ui;

pub use cache::CacheSettings;
pub use database::{DEFAULT_DATABASE_URL, DatabaseSettings};
pub use env::{ConfigError, Env};
pub use federation::FederationConfig;
pub use limits::LimitSettings;
pub use mail::{MailSettings, MailTransport};
pub use mfa::MfaConfig;
pub use oidc::{OidcConfig, RSA_KEY_VARIABLE};
pub use server::{AppEnv, ServerSettings};
pub use telemetry::{LogFormat, TelemetrySettings};
pub use tokens::TokenSettings;
pub use ui::UiConfig;

/// Everything the service reads from its environment.
pub struct Config {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub tokens: TokenSettings,
    pub cache: CacheSettings,
    pub federation: FederationConfig,
    pub limits: LimitSettings,
    pub mail: MailSettings,
    pub mfa: MfaConfig,
    pub oidc: OidcConfig,
    pub telemetry: TelemetrySettings,
    pub ui: UiConfig,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let server = ServerSettings::from_env(&env)?;
        let federation = FederationConfig::from_env(&env, &server.public_base_url)?;
        let ui = UiConfig::from_env(&env)?;
        let mut federation = federation;
        if ui.enabled {
            // The hosted pages' landing takes provider sign-ins back.
            let landing = server.public_base_url.join(api_types::paths::UI_FEDERATED);
            if let Some(landing) = domain::HttpUrl::parse(&landing) {
                federation.settings.redirect_allowlist.push(landing);
            }
        }
        Ok(Self {
            database: DatabaseSettings::from_env(&env)?,
            tokens: TokenSettings::from_env(&env, server.app_env)?,
            cache: CacheSettings::from_env(&env)?,
            mail: MailSettings::from_env(
                &env,
                server.app_env,
                &server.public_base_url,
                ui.enabled,
            )?,
            mfa: MfaConfig::from_env(&env, server.app_env, &server.public_base_url)?,
            oidc: OidcConfig::from_env(&env, server.app_env, &server.public_base_url)?,
            federation,
            limits: LimitSettings::from_env(&env)?,
            telemetry: TelemetrySettings::from_env(&env)?,
            ui,
            server,
        })
    }
}

impl Config {
    /// What client registration accepts: plain-http URIs outside production
    /// only, and the ID-token algorithms the signer holds a key for — RS256
    /// always (`OIDC_RSA_PRIVATE_KEY_FILE`, or the RS256 access-token key),
    /// ES256 or EdDSA when the access-token key is one.
    pub fn registration_policy(&self) -> domain::oidc::RegistrationPolicy {
        use domain::oidc::{IdTokenAlgorithm, UriPolicy};
        use domain::tokens::JwtAlgorithm;
        let uris = match self.server.app_env {
            AppEnv::Production => UriPolicy::HttpsOnly,
            AppEnv::Development => UriPolicy::AllowHttp,
        };
        let id_token_algorithms = IdTokenAlgorithm::ALL
            .into_iter()
            .filter(|alg| {
                let alg = JwtAlgorithm::from(*alg);
                alg == JwtAlgorithm::RS256 || alg == self.tokens.jwt.algorithm
            })
            .collect();
        domain::oidc::RegistrationPolicy {
            uris,
            id_token_algorithms,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret as _;

    use domain::tokens::JwtAlgorithm;

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
        assert_eq!(config.server.bind_addr.to_string(), "127.0.0.1:3001");
        assert_eq!(config.server.metrics_addr.to_string(), "127.0.0.1:9464");
        let jwt = &config.tokens.jwt;
        assert_eq!(jwt.algorithm, JwtAlgorithm::EdDSA);
        assert_eq!(jwt.access_ttl.whole_seconds(), 900);
        assert_eq!(config.tokens.auth.refresh_ttl.whole_seconds(), 2_592_000);
        assert_eq!(config.tokens.auth.reuse_grace.whole_seconds(), 10);
        assert_eq!(config.tokens.auth.step_up_max_age.whole_seconds(), 300);
        assert_eq!(config.database.pool.max_connections, 20);
        assert_eq!(
            config.database.url.expose_secret(),
            database::DEFAULT_DATABASE_URL
        );
        assert_eq!(jwt.issuer.as_str(), "codezest-auth");
        assert_eq!(jwt.audience, "codezest");
        assert_eq!(config.limits.rates.per_ip_per_minute, 120);
        assert_eq!(config.limits.rates.login_per_email_per_minute, 10);
        assert_eq!(config.limits.lockout.threshold, 5);
        assert!(config.limits.trusted_proxies.is_empty());
        assert_eq!(config.telemetry.log_format, LogFormat::Pretty);
        assert!(config.cache.enabled);
    }

    #[cfg(feature = "cache")]
    #[test]
    fn cache_defaults_match_the_contract() {
        let cache = config(&[]).unwrap().cache;
        assert_eq!(cache.redis_url.expose_secret(), "redis://localhost:6379/0");
        let settings = &cache.config;
        assert_eq!(settings.prefix, "cz");
        let ttl = settings.ttl;
        assert_eq!(
            [ttl.user, ttl.session, ttl.oauth, ttl.profile].map(|d| d.as_secs()),
            [900, 300, 1800, 900]
        );
        assert_eq!(settings.l1_max_entries, 100_000);
        assert_eq!(settings.l1_ttl.as_secs(), 30);
    }

    #[test]
    fn secrets_never_print() {
        let config = config(&[
            ("DATABASE_URL", "postgres://app:db-hunter2@db/auth"),
            ("OAUTH_GITHUB_CLIENT_ID", "gh"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "gh-hunter2"),
            ("REDIS_PASSWORD", "redis-hunter2"),
        ])
        .unwrap();
        let printed = format!(
            "{:?} {:?} {:?}",
            config.database, config.federation, config.cache
        );
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[cfg(feature = "cache")]
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

    #[cfg(feature = "cache")]
    fn config_with_url(url: &str) -> Config {
        config(&[("REDIS_URL", url), ("REDIS_HOST", "ignored")]).unwrap()
    }

    #[cfg(feature = "cache")]
    const CACHE_CASES: [(&str, &str); 6] = [
        ("REDIS_URL", "http://localhost:6379"),
        ("REDIS_PORT", "sixty"),
        ("REDIS_DB", "-1"),
        ("REDIS_TTL_SESSION", "0"),
        ("REDIS_KEY_PREFIX", "a b"),
        ("CACHE_L1_MAX_ENTRIES", "lots"),
    ];
    #[cfg(not(feature = "cache"))]
    const CACHE_CASES: [(&str, &str); 0] = [];

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
            ("OAUTH_PROVIDER_TIMEOUT", "600"),
            ("RATE_LIMIT_PER_IP", "-3"),
            ("APP_ENV", "staging"),
            ("UI_ENABLED", "sometimes"),
            ("UI_PRIMARY_COLOR", "red;}body{display:none"),
            (
                "UI_PRODUCT_NAME",
                "A product name far longer than sixty characters, which is too long",
            ),
            ("UI_LOGO_URL", "javascript:alert(1)"),
            ("UI_TEMPLATES_DIR", "/does/not/exist"),
        ]
        .into_iter()
        .chain(CACHE_CASES)
        {
            let error = config(&[(name, value)])
                .err()
                .unwrap_or_else(|| panic!("{name}={value} accepted"));
            assert_eq!(error.variable, name);
        }
    }

    #[test]
    fn mailed_links_open_the_hosted_pages_unless_they_are_off() {
        let on = config(&[]).unwrap();
        assert!(on.ui.enabled);
        assert_eq!(on.mail.app_url.base(), "http://127.0.0.1:3001/ui");
        let off = config(&[("UI_ENABLED", "false")]).unwrap();
        assert_eq!(off.mail.app_url.base(), "http://127.0.0.1:3001");
        let set = config(&[("APP_URL", "https://app.example.com")]).unwrap();
        assert_eq!(set.mail.app_url.base(), "https://app.example.com");
        // The pages' landing takes provider sign-ins back.
        let landing = &on.federation.settings.redirect_allowlist;
        assert!(
            landing
                .iter()
                .any(|url| url.base() == "http://127.0.0.1:3001/ui/federated")
        );
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
            .federation
            .providers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["github", "okta", "corp-sso"]);
        assert!(matches!(
            &config.federation.providers[1].kind,
            ::federation::ProviderKind::Oidc { issuer } if issuer == "https://example.okta.com"
        ));
        let allowed: Vec<&str> = config
            .federation
            .settings
            .redirect_allowlist
            .iter()
            .map(domain::HttpUrl::base)
            .collect();
        // The hosted pages' landing is added (they are on by default).
        assert_eq!(
            allowed,
            [
                "https://app.example.com",
                "https://admin.example.com",
                "http://127.0.0.1:3001/ui/federated"
            ]
        );
        assert_eq!(
            config.server.public_base_url.base(),
            "http://127.0.0.1:3001"
        );
        assert!(!config.federation.settings.link_verified_email);
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

    #[test]
    fn the_provider_issuer_defaults_to_the_public_url_and_production_needs_its_key() {
        let defaults = config(&[("PUBLIC_BASE_URL", "https://auth.example.com/")]).unwrap();
        assert_eq!(defaults.oidc.issuer.as_str(), "https://auth.example.com");
        assert!(defaults.oidc.rsa_key.is_none());
        let secret = "a-very-long-test-secret-of-more-than-32-bytes";
        let production = [
            ("APP_ENV", "production"),
            ("JWT_ALGORITHM", "HS256"),
            ("JWT_SECRET", secret),
            ("SMTP_URL", "smtp://127.0.0.1:25"),
            ("PUBLIC_BASE_URL", "https://auth.example.com"),
        ];
        let error = config(&production).err().unwrap();
        assert_eq!(error.variable, "OIDC_RSA_PRIVATE_KEY_FILE");
        let mut plain = production.to_vec();
        plain.push(("OIDC_ISSUER", "http://auth.example.com"));
        let error = config(&plain).err().unwrap();
        assert_eq!(error.variable, "OIDC_ISSUER");
        let error = config(&[("OIDC_ISSUER", "not a url")]).err().unwrap();
        assert_eq!(error.variable, "OIDC_ISSUER");
    }
}
