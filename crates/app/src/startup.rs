//! Wiring: picks the concrete repositories, builds the services and the router,
//! binds the listener and serves until told to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use api_http::ServiceStatus;
use domain::auth::AuthService;
use domain::clients::ClientService;
use domain::oidc::RegistrationRequest;
use domain::password::PasswordHasher;
use domain::throttle::MemoryThrottle;
use repo_postgres::Db;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;

use crate::config::Config;

/// The service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    metrics_listener: TcpListener,
    metrics_port: u16,
    /// Periodic tasks; stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
    /// Work spawned after an answer; awaited at shutdown.
    tasks: tokio_util::task::TaskTracker,
    router: axum::Router,
    /// `HTTP_HEADER_READ_TIMEOUT`.
    header_read_timeout: Duration,
    pool: Db,
    port: u16,
    #[cfg(feature = "cache")]
    cache: Option<cache_redis::Cache>,
}

/// The hosted pages over the same services as the API.
fn pages(config: &Config, state: &api_http::AppState) -> anyhow::Result<axum::Router> {
    let services = ui::UiServices {
        auth: Arc::clone(&state.auth),
        account: Arc::clone(&state.account),
        mfa: Arc::clone(&state.mfa),
        passkeys: Arc::clone(&state.passkeys),
        federation: Arc::clone(&state.federation),
        provider: Arc::clone(&state.provider),
        limits: Arc::clone(&state.limits),
        trusted_proxies: state.trusted_proxies.clone(),
    };
    let settings = ui::UiSettings {
        brand: config.ui.brand.clone(),
        templates_dir: config.ui.templates_dir.clone(),
        public_base_url: config.server.public_base_url.clone(),
    };
    let state = ui::UiState::new(services, settings)
        .map_err(|error| anyhow::anyhow!("the hosted pages: {error}"))?;
    Ok(ui::router(state))
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
            tasks,
            #[cfg(feature = "cache")]
            cache,
        } = wire(config, pool.clone())?;
        let pages = if config.ui.enabled {
            Some(pages(config, &state)?)
        } else {
            None
        };
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
            tasks,
            router: api_http::router(state, pages),
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
        // What the last answers left to do (a reset mail's queueing, an
        // audit record) finishes before the pool closes.
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.tasks.len(),
                "work queued after answers did not finish within 10 s of shutdown"
            );
        }
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

/// `codezest-auth clients create NAME [options]`: registers a client; its id
/// and secret (shown this once; none for a public client) are returned for
/// printing.
pub async fn create_client(
    config: &Config,
    name: &str,
    request: RegistrationRequest,
) -> anyhow::Result<(String, Option<String>)> {
    let cli = Cli::open(config, "nothing is stale").await?;
    let clients = ClientService::new(
        Arc::clone(&cli.ports.clients),
        Arc::clone(&cli.ports.audit),
        config.registration_policy(),
    );
    let command_line =
        domain::ClientInfo::new(Some("codezest-auth clients create (command line)"), None);
    let created = clients.create(name, request, None, &command_line).await;
    cli.pool.close().await;
    let (client, secret) = match created {
        Err(domain::error::AuthError::Validation(errors)) => {
            let reasons: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
            anyhow::bail!("the client was not registered: {}", reasons.join("; "))
        }
        other => other.context("registering the client failed")?,
    };
    Ok((
        client.id.to_string(),
        secret.map(|secret| secret.expose().to_owned()),
    ))
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
        let hasher = PasswordHasher::owasp();
        let auth = auth_service(
            config,
            &ports,
            &hasher,
            access_tokens(config)?,
            false,
            tokio_util::task::TaskTracker::new(),
        );
        Ok(Self { pool, ports, auth })
    }
}

/// A lazily connecting pool for `DATABASE_URL`.
pub fn connect(config: &Config) -> anyhow::Result<Db> {
    repo_postgres::connect_lazy(config.database.url.expose_secret(), &config.database.pool)
        .context("DATABASE_URL is not a valid PostgreSQL connection string")
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

mod backchannel;
mod background;
mod wiring;

pub use wiring::build_state;
use wiring::{Chosen, Ports, Wiring, access_tokens, auth_service, choose, wire};

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
