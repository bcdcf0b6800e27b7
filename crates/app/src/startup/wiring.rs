//! Building the services: the concrete repositories (cached or not), the
//! ports each service reaches, the services, the router state.

use std::sync::Arc;

use api_http::AppState;
use domain::account::{AccountPorts, AccountService, AccountSettings};
use domain::admin::{AdminPorts, AdminService};
use domain::auth::{AuthPorts, AuthService};
use domain::clients::ClientService;
use domain::federation::{FederationPorts, FederationService};
use domain::mfa::{MfaPorts, MfaService};
use domain::passkey::PasskeyService;
use domain::password::PasswordHasher;
use domain::ports::{Throttle, WebAuthn};
use domain::provider::{ProviderService, ProviderSettings};
use domain::throttle::MemoryThrottle;
use domain::tokens::{AccessTokens, IdTokens, JwtAlgorithm, Signer};
use http_kit::{TrustedProxies, limit::RateLimits};
use repo_postgres::Db;
use repo_postgres::PgRepositories;
use tokio_util::task::TaskTracker;

use super::background;
use super::readiness::PgReadiness;
use crate::config::{AppEnv, Config, RSA_KEY_VARIABLE, TokenSettings};

/// Builds the services over `pool`.
pub fn build_state(config: &Config, pool: Db) -> anyhow::Result<AppState> {
    Ok(wire(config, pool)?.state)
}

pub(super) struct Wiring {
    pub(super) state: AppState,
    /// The mail sender and the audit retention, started with the server.
    pub(super) background: Vec<tokio::task::JoinHandle<()>>,
    /// Work spawned after an answer (reset mails, failed sign-ins' audit
    /// records): a graceful shutdown waits for it.
    pub(super) tasks: TaskTracker,
    #[cfg(feature = "cache")]
    pub(super) cache: Option<cache_redis::Cache>,
}

pub(super) fn wire(config: &Config, pool: Db) -> anyhow::Result<Wiring> {
    let keys = access_tokens(config)?;
    let memory = Arc::new(MemoryThrottle::default());
    let Chosen {
        ports,
        readiness,
        #[cfg(feature = "cache")]
        cache,
    } = choose(config, pool, Arc::clone(&memory))?;
    let limits = Arc::new(RateLimits::new(
        config.limits.rates,
        Arc::clone(&ports.throttle),
    ));
    let webauthn = relying_party(config)?;
    let hasher = PasswordHasher::owasp();
    let tasks = TaskTracker::new();
    let auth = auth_service(
        config,
        &ports,
        &hasher,
        keys,
        webauthn.is_some(),
        tasks.clone(),
    );
    let providers = federation::providers(
        config.federation.providers.clone(),
        config.federation.provider_timeout,
    )
    .map_err(anyhow::Error::msg)?;
    let federation = FederationService::new(
        Arc::clone(&auth),
        FederationPorts {
            users: Arc::clone(&ports.users),
            accounts: Arc::clone(&ports.oauth),
            pending: ports.pending,
            audit_log: Arc::clone(&ports.audit),
        },
        providers,
        config.federation.settings.clone(),
    );
    if !config.federation.providers.is_empty() {
        tracing::info!(providers = ?federation.provider_names(), "identity providers configured");
    }
    let account = Arc::new(AccountService::new(
        Arc::clone(&auth),
        AccountPorts {
            users: Arc::clone(&ports.users),
            profiles: Arc::clone(&ports.profiles),
            recovery: ports.recovery,
            throttle: Arc::clone(&ports.throttle),
            audit_log: Arc::clone(&ports.audit),
        },
        PasswordHasher::clone(&hasher),
        AccountSettings::new(config.mail.app_url.clone()),
        tasks.clone(),
    ));
    let passkeys = Arc::new(PasskeyService::new(
        Arc::clone(&auth),
        Arc::clone(&ports.passkeys),
        Arc::clone(&ports.audit),
        webauthn,
        Arc::clone(&account),
    ));
    let mfa = MfaService::new(
        Arc::clone(&auth),
        MfaPorts {
            mfa: Arc::clone(&ports.mfa),
            throttle: Arc::clone(&ports.throttle),
            audit_log: Arc::clone(&ports.audit),
        },
        config.limits.lockout,
        Arc::clone(&passkeys),
        Arc::clone(&account),
        config.mfa.settings.clone(),
    );
    let admin = AdminService::new(
        Arc::clone(&auth),
        AdminPorts {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            profiles: Arc::clone(&ports.profiles),
            mfa: Arc::clone(&ports.mfa),
            oauth_accounts: Arc::clone(&ports.oauth),
            passkeys: Arc::clone(&ports.passkeys),
            audit_log: Arc::clone(&ports.audit),
        },
    );
    let clients = Arc::new(ClientService::new(
        Arc::clone(&ports.clients),
        Arc::clone(&ports.audit),
        config.registration_policy(),
    ));
    let id_tokens = IdTokens::new(
        Arc::clone(auth.access_tokens().signer()),
        config.oidc.issuer.clone(),
        auth.access_tokens().access_ttl(),
    );
    let logout_tokens = IdTokens::new(
        Arc::clone(auth.access_tokens().signer()),
        config.oidc.issuer.clone(),
        auth.access_tokens().access_ttl(),
    );
    let provider = Arc::new(ProviderService::new(
        Arc::clone(&ports.provider),
        Arc::clone(&clients),
        Arc::clone(&auth),
        id_tokens,
        ProviderSettings::default(),
    ));
    let mut background = vec![
        background::purge_provider_state(Arc::clone(&ports.provider)),
        background::audit_retention(ports.audit, config.mail.audit_retention),
        background::purge_mfa_challenges(ports.mfa, Arc::clone(&passkeys)),
        background::forget_limits(memory),
    ];
    background.extend(background::mail_sender(&config.mail, ports.outbox)?);
    background.push(super::backchannel::spawn(ports.logouts, logout_tokens)?);
    Ok(Wiring {
        background,
        tasks,
        state: AppState::new(api_http::Services {
            auth,
            account,
            mfa: Arc::new(mfa),
            passkeys,
            federation: Arc::new(federation),
            admin: Arc::new(admin),
            clients,
            provider,
            public_base_url: config.server.public_base_url.clone(),
            readiness,
            limits,
            trusted_proxies: TrustedProxies::new(config.limits.trusted_proxies.clone()),
            trace_id_of: trace_id_of(config),
        }),
        #[cfg(feature = "cache")]
        cache,
    })
}

/// The access tokens and their signer, with a loud warning when the key is
/// ephemeral (and, when no `MFA_ENCRYPTION_KEY` is set, what that means for
/// TOTP).
pub(super) fn access_tokens(config: &Config) -> anyhow::Result<AccessTokens> {
    let jwt = config.tokens.jwt.clone();
    let variable = TokenSettings::key_variable(jwt.algorithm);
    let mut signer = Signer::new(jwt.algorithm, jwt.signing_key.clone(), &jwt.previous_keys)
        .map_err(|e| anyhow::anyhow!("{variable}: {e}"))?;
    // The OpenID provider's RS256 key (ID and logout tokens), published
    // beside the access-token key.
    let rsa = config.oidc.rsa_key.clone();
    if signer.signs_with(JwtAlgorithm::RS256) {
        anyhow::ensure!(
            rsa.is_none(),
            "{RSA_KEY_VARIABLE}: JWT_ALGORITHM=RS256 already signs with an RSA key, which signs \
             ID tokens too; leave {RSA_KEY_VARIABLE} unset"
        );
    } else {
        if rsa.is_none() {
            debug_assert!(config.server.app_env != AppEnv::Production);
            tracing::warn!(
                "no {RSA_KEY_VARIABLE}: ID tokens are signed with an ephemeral RSA key that dies \
                 with this process; set it for anything but development"
            );
        }
        signer
            .add_signing_key(JwtAlgorithm::RS256, rsa)
            .map_err(|e| anyhow::anyhow!("{RSA_KEY_VARIABLE}: {e}"))?;
    }
    let keys = AccessTokens::new(Arc::new(signer), &jwt)
        .map_err(|e| anyhow::anyhow!("{variable}: {e}"))?;
    if keys.signer().is_ephemeral() {
        // Config refuses this in production; say it loudly everywhere else.
        debug_assert!(config.server.app_env != AppEnv::Production);
        tracing::warn!(
            algorithm = keys.algorithm().as_str(),
            "no JWT key configured: using an ephemeral key; every token dies with this process. \
             Set JWT_PRIVATE_KEY_FILE (or JWT_SECRET for HS256) for anything but development"
        );
    }
    if config.mfa.key_missing {
        tracing::warn!(
            production = config.mfa.settings.key.is_none(),
            "no MFA_ENCRYPTION_KEY: in production TOTP is unavailable (503); elsewhere secrets are \
             sealed under an ephemeral key and become unreadable when this process stops"
        );
    }
    Ok(keys)
}

pub(super) fn auth_service(
    config: &Config,
    ports: &Ports,
    hasher: &PasswordHasher,
    keys: AccessTokens,
    passkeys: bool,
    tasks: TaskTracker,
) -> Arc<AuthService> {
    let mut auth = AuthService::new(
        AuthPorts {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            profiles: Arc::clone(&ports.profiles),
            audit_log: Arc::clone(&ports.audit),
            mfa: Arc::clone(&ports.mfa),
        },
        hasher.clone(),
        Arc::new(keys),
        config.tokens.auth,
    );
    if let Some(verified) = &ports.verified {
        auth = auth.with_verified_tokens(Arc::clone(verified));
    }
    auth = auth.with_lockout(Arc::clone(&ports.throttle), config.limits.lockout);
    Arc::new(auth.with_passkeys(passkeys).with_tasks(tasks))
}

/// The WebAuthn relying party: `None` (passkeys off, with a warning) when the
/// default one, from `PUBLIC_BASE_URL`, is not valid (an IP address); a
/// configured one that is not valid stops start-up.
fn relying_party(config: &Config) -> anyhow::Result<Option<Arc<dyn WebAuthn>>> {
    let rp = &config.mfa.relying_party;
    match passkeys::WebauthnRs::new(rp) {
        Ok(webauthn) => Ok(Some(Arc::new(webauthn))),
        Err(error) if config.mfa.relying_party_explicit => {
            Err(anyhow::anyhow!("WEBAUTHN_RP_ID: {error}"))
        }
        Err(error) => {
            tracing::warn!(
                %error,
                "passkeys are off: set WEBAUTHN_RP_ID and WEBAUTHN_RP_ORIGIN (e.g. localhost and \
                 http://localhost:3000) to turn them on"
            );
            Ok(None)
        }
    }
}

/// The implementations of the domain's ports, chosen once.
pub(super) struct Ports {
    pub(super) users: Arc<dyn domain::ports::UserRepository>,
    pub(super) sessions: Arc<dyn domain::ports::SessionRepository>,
    pub(super) profiles: Arc<dyn domain::ports::ProfileRepository>,
    pub(super) oauth: Arc<dyn domain::ports::OAuthAccountRepository>,
    pub(super) pending: Arc<dyn domain::ports::PendingLoginRepository>,
    pub(super) verified: Option<Arc<dyn domain::ports::VerifiedTokens>>,
    pub(super) recovery: Arc<dyn domain::ports::RecoveryRepository>,
    pub(super) mfa: Arc<dyn domain::ports::MfaRepository>,
    pub(super) passkeys: Arc<dyn domain::ports::PasskeyRepository>,
    pub(super) clients: Arc<dyn domain::ports::ApiClientRepository>,
    pub(super) provider: Arc<dyn domain::ports::ProviderRepository>,
    /// The back-channel logout outbox (never cached).
    pub(super) logouts: Arc<dyn domain::ports::LogoutOutbox>,
    /// Rate limits and lockouts: Redis when the cache is on, else in process.
    pub(super) throttle: Arc<dyn Throttle>,
    pub(super) outbox: background::Outbox,
    pub(super) audit: Arc<dyn domain::ports::AuditLog>,
}

pub(super) struct Chosen {
    pub(super) ports: Ports,
    pub(super) readiness: Arc<dyn api_http::ReadinessProbe>,
    #[cfg(feature = "cache")]
    pub(super) cache: Option<cache_redis::Cache>,
}

/// PostgreSQL repositories, wrapped in the cache when it is built in and on.
pub(super) fn choose(
    config: &Config,
    pool: Db,
    memory: Arc<MemoryThrottle>,
) -> anyhow::Result<Chosen> {
    let repos = PgRepositories::new(pool.clone());
    let pending = Arc::new(repo_postgres::PgPendingLogins::new(pool.clone()));
    let recovery = repo_postgres::PgRecovery::new(pool.clone());
    let outbox = background::Outbox {
        queued: recovery.queued(),
        outbox: Arc::new(recovery.clone()),
    };
    let audit = Arc::new(repo_postgres::PgAudit::new(pool.clone()));
    // Nothing of second factors is cached: login reads them with the
    // password hash, on the uncached credentials path.
    let mfa = Arc::new(repo_postgres::PgMfa::new(pool.clone()));
    let passkeys = Arc::new(repo_postgres::PgPasskeys::new(pool.clone()));
    let clients = repo_postgres::PgApiClients::new(pool.clone());
    let provider = repo_postgres::PgProvider::new(pool.clone());
    let logouts = Arc::new(repo_postgres::PgLogoutOutbox::new(pool.clone()));
    #[cfg(feature = "cache")]
    if config.cache.enabled {
        let cache = super::cached::connect(&config.cache)?;
        return Ok(Chosen {
            ports: Ports {
                users: Arc::new(cache.wrap(repos.users)),
                sessions: Arc::new(cache.wrap(repos.sessions)),
                profiles: Arc::new(cache.wrap(repos.profiles)),
                oauth: Arc::new(cache.wrap(repos.oauth)),
                pending,
                verified: Some(Arc::new(cache_redis::VerifiedTokenCache::new(
                    config.cache.config.l1_max_entries.max(10_000),
                ))),
                recovery: Arc::new(cache.wrap(recovery)),
                mfa,
                passkeys,
                clients: Arc::new(cache.wrap(clients)),
                provider: Arc::new(cache.wrap(provider)),
                logouts,
                throttle: Arc::new(cache_redis::RedisThrottle::new(cache.clone(), memory)),
                outbox,
                audit,
            },
            readiness: Arc::new(super::cached::CacheReadiness {
                postgres: PgReadiness { pool },
                cache: cache.clone(),
            }),
            cache: Some(cache),
        });
    }
    if !config.cache.enabled {
        tracing::info!("CACHE_ENABLED=false: every read goes to PostgreSQL");
    } else if !cfg!(feature = "cache") {
        tracing::info!("built without the `cache` feature: every read goes to PostgreSQL");
    }
    Ok(Chosen {
        ports: Ports {
            users: Arc::new(repos.users),
            sessions: Arc::new(repos.sessions),
            profiles: Arc::new(repos.profiles),
            oauth: Arc::new(repos.oauth),
            pending,
            verified: None,
            recovery: Arc::new(recovery),
            mfa,
            passkeys,
            clients: Arc::new(clients),
            provider: Arc::new(provider),
            logouts,
            throttle: memory,
            outbox,
            audit,
        },
        readiness: Arc::new(PgReadiness { pool }),
        #[cfg(feature = "cache")]
        cache: None,
    })
}

/// Reads trace ids off request spans when spans are exported.
pub(super) fn trace_id_of(config: &Config) -> Option<http_kit::access::TraceIdOf> {
    config
        .telemetry
        .otlp_endpoint
        .is_some()
        .then(|| Arc::new(crate::telemetry::trace_id) as http_kit::access::TraceIdOf)
}
