//! Wiring: picks the concrete repositories, builds the services and the router,
//! binds the listener and serves until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use api_http::{AppState, RateLimitSettings, RateLimits};
use domain::{AuthService, AuthSettings, JwtKeys, PasswordHasher};
use readiness::PgReadiness;
use repo_postgres::{PgRepositories, PgSettings};
use secrecy::ExposeSecret as _;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::config::{AppEnv, Config};

/// The service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pool: PgPool,
    port: u16,
}

impl Application {
    /// Connects (lazily) to PostgreSQL, builds the services and binds `BIND_ADDR`.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let pool = connect(config)?;
        let state = build_state(config, pool.clone())?;
        let listener = TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("cannot listen on BIND_ADDR {}", config.bind_addr))?;
        let port = listener.local_addr()?.port();
        // Keyed rate limiters remember every key they saw; forget recovered ones.
        let limits = Arc::clone(&state.limits);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.retain_recent();
            }
        });
        Ok(Self {
            listener,
            router: api_http::router(state),
            pool,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(port = self.port, "listening");
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.pool.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// A lazily connecting pool for `DATABASE_URL`.
pub fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let settings = PgSettings {
        max_connections: config.database_max_connections,
        ..PgSettings::default()
    };
    repo_postgres::connect_lazy(config.database_url.expose_secret(), &settings)
        .context("DATABASE_URL is not a valid PostgreSQL connection string")
}

/// Builds the services over `pool`.
pub fn build_state(config: &Config, pool: PgPool) -> anyhow::Result<AppState> {
    let keys = JwtKeys::from_config(config.jwt()).map_err(|e| {
        let variable = match config.jwt_algorithm {
            domain::JwtAlgorithm::HS256 => "JWT_SECRET",
            _ => "JWT_PRIVATE_KEY_FILE",
        };
        anyhow::anyhow!("{variable}: {e}")
    })?;
    if keys.is_ephemeral() {
        // Config refuses this in production; say it loudly everywhere else.
        debug_assert!(config.app_env != AppEnv::Production);
        tracing::warn!(
            algorithm = keys.algorithm().as_str(),
            "no JWT key configured: using an ephemeral key; every token dies with this process. \
             Set JWT_PRIVATE_KEY_FILE (or JWT_SECRET for HS256) for anything but development"
        );
    }
    let repos = PgRepositories::new(pool.clone());
    let auth = AuthService::new(
        Arc::new(repos.users),
        Arc::new(repos.sessions),
        Arc::new(repos.profiles),
        PasswordHasher::owasp(),
        Arc::new(keys),
        AuthSettings {
            refresh_ttl: config.refresh_token_ttl,
            reuse_grace: config.refresh_reuse_grace,
        },
    );
    Ok(AppState {
        auth: Arc::new(auth),
        readiness: Arc::new(PgReadiness { pool }),
        limits: Arc::new(RateLimits::new(RateLimitSettings {
            per_ip_per_minute: config.rate_limit_per_ip,
            login_per_email_per_minute: config.rate_limit_login_per_email,
        })),
    })
}

/// Applies pending migrations to `DATABASE_URL`. Creates the database first when it does not exist.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    use sqlx::migrate::MigrateDatabase as _;
    let url = config.database_url.expose_secret();
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

mod readiness {
    use super::{Duration, PgPool};
    use domain::{Readiness, ReadinessProbe, ServiceStatus};

    /// Readiness of a build without a cache: PostgreSQL only.
    pub(super) struct PgReadiness {
        pub(super) pool: PgPool,
    }

    #[async_trait::async_trait]
    impl ReadinessProbe for PgReadiness {
        async fn check(&self) -> Readiness {
            let postgres = if repo_postgres::ping(&self.pool, Duration::from_secs(2)).await {
                ServiceStatus::Up
            } else {
                ServiceStatus::Down
            };
            Readiness {
                postgres,
                redis: ServiceStatus::Disabled,
            }
        }
    }
}
