//! Wiring: picks the concrete repositories, builds the services and the router,
//! binds the listener and serves until told to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use api_http::{AppState, RateLimits, ServiceStatus};
use domain::{
    account::AccountService, account::AccountSettings, admin::AdminService, auth::AuthPorts,
    auth::AuthService, clients::ClientService, federation::FederationService, mfa::MfaService,
    passkey::PasskeyService, password::PasswordHasher, ports::Throttle, ports::WebAuthn,
    throttle::MemoryThrottle, tokens::JwtKeys,
};
use readiness::PgReadiness;
use repo_postgres::Db;
use repo_postgres::PgRepositories;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;

use crate::config::{AppEnv, Config, TokenSettings};

/// The service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    metrics_listener: TcpListener,
    metrics_port: u16,
    /// Periodic tasks; stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
    router: axum::Router,
    /// `HTTP_HEADER_READ_TIMEOUT`.
    header_read_timeout: Duration,
    pool: Db,
    port: u16,
    #[cfg(feature = "cache")]
    cache: Option<cache_redis::Cache>,
}

impl Application {
    /// Connects (lazily) to PostgreSQL, builds the services and binds `BIND_ADDR`.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // First: metric handles taken before the recorder exists would be no-ops.
        crate::metrics::install();
        let pool = connect(config)?;
        let Wiring {
            state,
            mut background,
            #[cfg(feature = "cache")]
            cache,
        } = wire(config, pool.clone())?;
        let listener = TcpListener::bind(config.server.bind_addr)
            .await
            .with_context(|| format!("cannot listen on BIND_ADDR {}", config.server.bind_addr))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = TcpListener::bind(config.server.metrics_addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on METRICS_ADDR {}",
                    config.server.metrics_addr
                )
            })?;
        let metrics_port = metrics_listener.local_addr()?.port();
        // `dependency_up{dependency}` for dashboards and alerts.
        let readiness = Arc::clone(&state.readiness);
        let dependencies = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let now = readiness.check().await;
                for (dependency, status) in [("postgres", now.postgres), ("redis", now.redis)] {
                    if status != ServiceStatus::Disabled {
                        let up = if status == ServiceStatus::Up {
                            1.0
                        } else {
                            0.0
                        };
                        metrics::gauge!("dependency_up", "dependency" => dependency).set(up);
                    }
                }
            }
        });
        background.push(dependencies);
        Ok(Self {
            listener,
            metrics_listener,
            metrics_port,
            background,
            router: api_http::router(state),
            header_read_timeout: config.server.header_read_timeout,
            pool,
            port,
            #[cfg(feature = "cache")]
            cache,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// The cache the repositories are wrapped in; `None` with `CACHE_ENABLED=false`.
    #[cfg(feature = "cache")]
    pub fn cache(&self) -> Option<&cache_redis::Cache> {
        self.cache.as_ref()
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        self.pool.pool()
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(
            port = self.port,
            metrics_port = self.metrics_port,
            "listening"
        );
        let metrics = tokio::spawn(crate::metrics::serve(self.metrics_listener));
        crate::server::serve(
            self.listener,
            self.router,
            self.header_read_timeout,
            shutdown,
        )
        .await?;
        metrics.abort();
        for task in &self.background {
            task.abort();
        }
        self.pool.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// `codezest-auth admin grant EMAIL`: the first admin, made from the command
/// line (never from a variable a deploy could leave on), through the same
/// repositories as the service, so every instance's cached copy of the user is
/// invalidated.
pub async fn grant_admin(config: &Config, email: &str) -> anyhow::Result<()> {
    let email = domain::Email::parse(email)
        .map_err(|e| anyhow::anyhow!("{email:?} is not an email address: {}", e.message))?;
    let cli = Cli::open(config, "other instances see the new role").await?;
    let granted = cli.auth.grant_role(&email, domain::roles::ADMIN).await;
    cli.pool.close().await;
    match granted {
        Ok(_) => Ok(()),
        Err(domain::error::AuthError::NotFound(_)) => {
            anyhow::bail!("no account has the address {email}: register it first")
        }
        Err(error) => Err(anyhow::Error::new(error).context("granting the admin role failed")),
    }
}

/// `codezest-auth clients create NAME`: registers an API client; its id and
/// secret (shown this once) are returned for printing.
pub async fn create_client(config: &Config, name: &str) -> anyhow::Result<(String, String)> {
    let name = domain::ClientName::parse(name)
        .map_err(|e| anyhow::anyhow!("{name:?} is not a client name: {}", e.message))?;
    let cli = Cli::open(config, "nothing is stale").await?;
    let clients = ClientService::new(Arc::clone(&cli.auth), Arc::clone(&cli.ports.clients));
    let command_line =
        domain::auth::ClientInfo::new(Some("codezest-auth clients create (command line)"), None);
    let created = clients.create(name, None, &command_line).await;
    cli.pool.close().await;
    let (client, secret) = created.context("creating the API client failed")?;
    Ok((client.id.to_string(), secret.expose().to_owned()))
}

/// What a command-line subcommand works through: the service's own
/// repositories (cache-wrapped, so its writes invalidate every instance).
struct Cli {
    pool: Db,
    ports: Ports,
    auth: Arc<AuthService>,
}

impl Cli {
    async fn open(config: &Config, without_redis: &str) -> anyhow::Result<Self> {
        let pool = connect(config)?;
        let Chosen {
            ports,
            #[cfg(feature = "cache")]
            cache,
            ..
        } = choose(config, pool.clone(), Arc::new(MemoryThrottle::default()))?;
        #[cfg(feature = "cache")]
        if let Some(cache) = &cache
            && !cache.wait_until_ready(Duration::from_secs(5)).await
        {
            tracing::warn!(
                "Redis is not reachable: {without_redis} when their cached copies expire \
                 (REDIS_TTL_USER, CACHE_L1_TTL)"
            );
        }
        #[cfg(not(feature = "cache"))]
        let _ = without_redis;
        let auth = auth_service(config, &ports, jwt_keys(config)?, false);
        Ok(Self { pool, ports, auth })
    }
}

/// A lazily connecting pool for `DATABASE_URL`.
pub fn connect(config: &Config) -> anyhow::Result<Db> {
    repo_postgres::connect_lazy(config.database.url.expose_secret(), &config.database.pool)
        .context("DATABASE_URL is not a valid PostgreSQL connection string")
}

/// Builds the services over `pool`.
pub fn build_state(config: &Config, pool: Db) -> anyhow::Result<AppState> {
    Ok(wire(config, pool)?.state)
}

struct Wiring {
    state: AppState,
    /// The mail sender and the audit retention, started with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
    #[cfg(feature = "cache")]
    cache: Option<cache_redis::Cache>,
}

fn wire(config: &Config, pool: Db) -> anyhow::Result<Wiring> {
    let keys = jwt_keys(config)?;
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
    let auth = auth_service(config, &ports, keys, webauthn.is_some());
    let providers = federation::providers(
        config.federation.providers.clone(),
        config.federation.provider_timeout,
    )
    .map_err(anyhow::Error::msg)?;
    let federation = FederationService::new(
        Arc::clone(&auth),
        ports.users,
        Arc::clone(&ports.oauth),
        ports.pending,
        providers,
        config.federation.settings.clone(),
    );
    if !config.federation.providers.is_empty() {
        tracing::info!(providers = ?federation.provider_names(), "identity providers configured");
    }
    let account = Arc::new(AccountService::new(
        Arc::clone(&auth),
        ports.recovery,
        AccountSettings::new(&config.mail.app_url),
    ));
    let passkeys = Arc::new(PasskeyService::new(
        Arc::clone(&auth),
        Arc::clone(&ports.passkeys),
        webauthn,
        Arc::clone(&account),
    ));
    let mfa = MfaService::new(
        Arc::clone(&auth),
        Arc::clone(&passkeys),
        Arc::clone(&account),
        config.mfa.settings.clone(),
    );
    let admin = AdminService::new(
        Arc::clone(&auth),
        Arc::clone(&ports.oauth),
        Arc::clone(&ports.passkeys),
    );
    let clients = ClientService::new(Arc::clone(&auth), Arc::clone(&ports.clients));
    let mut background = vec![
        background::audit_retention(ports.audit, config.mail.audit_retention),
        background::purge_mfa_challenges(ports.mfa, Arc::clone(&passkeys)),
        background::forget_limits(memory),
    ];
    background.extend(background::mail_sender(&config.mail, ports.outbox)?);
    Ok(Wiring {
        background,
        state: AppState::new(api_http::Services {
            auth,
            account,
            mfa: Arc::new(mfa),
            passkeys,
            federation: Arc::new(federation),
            admin: Arc::new(admin),
            clients: Arc::new(clients),
            public_base_url: config.federation.settings.public_base_url.clone(),
            readiness,
            limits,
            trusted_proxies: config.limits.trusted_proxies.clone(),
            trace_id_of: trace_id_of(config),
        }),
        #[cfg(feature = "cache")]
        cache,
    })
}

/// The JWT keys, with a loud warning when they are ephemeral (and, when no
/// `MFA_ENCRYPTION_KEY` is set, what that means for TOTP).
fn jwt_keys(config: &Config) -> anyhow::Result<JwtKeys> {
    let jwt = config.tokens.jwt.clone();
    let variable = TokenSettings::key_variable(jwt.algorithm);
    let keys = JwtKeys::from_config(jwt).map_err(|e| anyhow::anyhow!("{variable}: {e}"))?;
    if keys.is_ephemeral() {
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

fn auth_service(config: &Config, ports: &Ports, keys: JwtKeys, passkeys: bool) -> Arc<AuthService> {
    let mut auth = AuthService::new(
        AuthPorts {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            profiles: Arc::clone(&ports.profiles),
            audit_log: Arc::clone(&ports.audit),
            mfa: Arc::clone(&ports.mfa),
        },
        PasswordHasher::owasp(),
        Arc::new(keys),
        config.tokens.auth,
    );
    if let Some(verified) = &ports.verified {
        auth = auth.with_verified_tokens(Arc::clone(verified));
    }
    auth = auth.with_lockout(Arc::clone(&ports.throttle), config.limits.lockout);
    Arc::new(auth.with_passkeys(passkeys))
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
struct Ports {
    users: Arc<dyn domain::ports::UserRepository>,
    sessions: Arc<dyn domain::ports::SessionRepository>,
    profiles: Arc<dyn domain::ports::ProfileRepository>,
    oauth: Arc<dyn domain::ports::OAuthAccountRepository>,
    pending: Arc<dyn domain::ports::PendingLoginRepository>,
    verified: Option<Arc<dyn domain::ports::VerifiedTokens>>,
    recovery: Arc<dyn domain::ports::RecoveryRepository>,
    mfa: Arc<dyn domain::ports::MfaRepository>,
    passkeys: Arc<dyn domain::ports::PasskeyRepository>,
    clients: Arc<dyn domain::ports::ApiClientRepository>,
    /// Rate limits and lockouts: Redis when the cache is on, else in process.
    throttle: Arc<dyn Throttle>,
    outbox: background::Outbox,
    audit: Arc<dyn domain::ports::AuditLog>,
}

struct Chosen {
    ports: Ports,
    readiness: Arc<dyn api_http::ReadinessProbe>,
    #[cfg(feature = "cache")]
    cache: Option<cache_redis::Cache>,
}

/// PostgreSQL repositories, wrapped in the cache when it is built in and on.
fn choose(config: &Config, pool: Db, memory: Arc<MemoryThrottle>) -> anyhow::Result<Chosen> {
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
    #[cfg(feature = "cache")]
    if config.cache.enabled {
        let cache = cached::connect(&config.cache)?;
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
                throttle: Arc::new(cache_redis::RedisThrottle::new(cache.clone(), memory)),
                outbox,
                audit,
            },
            readiness: Arc::new(cached::CacheReadiness {
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
fn trace_id_of(config: &Config) -> Option<api_http::TraceIdOf> {
    config
        .telemetry
        .otlp_endpoint
        .is_some()
        .then(|| Arc::new(crate::telemetry::trace_id) as api_http::TraceIdOf)
}

/// Applies pending migrations to `DATABASE_URL`. Creates the database first when it does not exist.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    use sqlx::migrate::MigrateDatabase as _;
    if config.database.pool.transaction_pooler {
        anyhow::bail!(repo_postgres::MigrationError::BehindTransactionPooler);
    }
    let url = config.database.url.expose_secret();
    if !sqlx::Postgres::database_exists(url)
        .await
        .context("cannot reach the PostgreSQL server of DATABASE_URL")?
    {
        sqlx::Postgres::create_database(url)
            .await
            .context("creating the database of DATABASE_URL failed")?;
        tracing::info!("created the database");
    }
    let pool = connect(config)?;
    repo_postgres::migrate(&pool)
        .await
        .context("migrating DATABASE_URL failed")?;
    pool.close().await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

mod background;

mod readiness {
    use super::{Db, Duration};
    use api_http::{Readiness, ReadinessProbe, ServiceStatus};

    /// Readiness without a cache: PostgreSQL only.
    pub(super) struct PgReadiness {
        pub(super) pool: Db,
    }

    impl PgReadiness {
        pub(super) async fn postgres(&self) -> ServiceStatus {
            if repo_postgres::ping(&self.pool, Duration::from_secs(2)).await {
                ServiceStatus::Up
            } else {
                ServiceStatus::Down
            }
        }
    }

    #[async_trait::async_trait]
    impl ReadinessProbe for PgReadiness {
        async fn check(&self) -> Readiness {
            Readiness {
                postgres: self.postgres().await,
                redis: ServiceStatus::Disabled,
            }
        }
    }
}

#[cfg(feature = "cache")]
mod cached {
    use std::time::Duration;

    use anyhow::Context as _;
    use api_http::{Readiness, ReadinessProbe, ServiceStatus};
    use cache_redis::{Cache, RedisStatus};
    use secrecy::ExposeSecret as _;

    use super::readiness::PgReadiness;
    use crate::config::CacheSettings;

    /// Starts the cache; never waits for Redis (it may come later).
    pub(super) fn connect(settings: &CacheSettings) -> anyhow::Result<Cache> {
        let cache = Cache::connect(settings.redis_url.expose_secret(), settings.config.clone())
            .context("REDIS_URL")?;
        let probe = cache.clone();
        tokio::spawn(async move {
            if probe.wait_until_ready(Duration::from_secs(3)).await {
                tracing::info!("cache ready: L1 in memory, L2 in redis");
            } else {
                tracing::warn!(
                    "redis is not reachable: serving from L1 and PostgreSQL; \
                     the cache reconnects by itself"
                );
            }
        });
        Ok(cache)
    }

    /// PostgreSQL, plus Redis as `up` or `degraded` (never fatal).
    pub(super) struct CacheReadiness {
        pub(super) postgres: PgReadiness,
        pub(super) cache: Cache,
    }

    #[async_trait::async_trait]
    impl ReadinessProbe for CacheReadiness {
        async fn check(&self) -> Readiness {
            Readiness {
                postgres: self.postgres.postgres().await,
                redis: match self.cache.redis_status() {
                    RedisStatus::Up => ServiceStatus::Up,
                    RedisStatus::Degraded => ServiceStatus::Degraded,
                    RedisStatus::Disabled => ServiceStatus::Disabled,
                },
            }
        }
    }
}
