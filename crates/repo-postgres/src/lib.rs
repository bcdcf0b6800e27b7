//! PostgreSQL implementations of the domain's repository traits, on `sqlx`.
//!
//! Owns the schema (the workspace's `migrations/`, embedded here) and the
//! translation of database errors into domain errors: unique violations become
//! `RepoError::EmailTaken` / `OAuthAccountTaken`, never a 500.
//!
//! Every query is checked at compile time (`query!`, `query_as!`) against the
//! schema; the query descriptions are committed in the workspace's `.sqlx/`, so
//! building needs no database (`cargo xtask sqlx-prepare` refreshes them, and
//! `cargo xtask test` fails when they are stale). Depends on
//! `domain` alone among the workspace crates; knows nothing of HTTP or caches.

mod audit;
mod clients;
mod logout_outbox;
mod mfa;
mod oauth;
mod passkeys;
mod pending;
mod profiles;
mod provider;
mod recovery;
mod sessions;
mod users;

mod db;

use std::time::Duration;

use domain::error::RepoError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use db::Db;

pub use audit::PgAudit;
pub use clients::PgApiClients;
pub use logout_outbox::PgLogoutOutbox;
pub use mfa::PgMfa;
pub use oauth::PgOAuthAccounts;
pub use passkeys::PgPasskeys;
pub use pending::PgPendingLogins;
pub use profiles::PgProfiles;
pub use provider::PgProvider;
pub use recovery::PgRecovery;
pub use sessions::PgSessions;
pub use users::PgUsers;

/// The schema, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Connection settings.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// `DATABASE_URL` leads to a pooler in transaction mode (PgBouncer's
    /// `pool_mode = transaction`): see [`Db`].
    pub transaction_pooler: bool,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self {
            max_connections: 20,
            acquire_timeout: Duration::from_secs(5),
            transaction_pooler: false,
        }
    }
}

/// A lazily connecting pool: the service starts, and reports not-ready, while the
/// database is still coming up.
pub fn connect_lazy(url: &str, settings: &PgSettings) -> Result<Db, sqlx::Error> {
    let mut options: PgConnectOptions = url.parse()?;
    if settings.transaction_pooler {
        // Nothing may outlive a transaction: no statement cache.
        options = options.statement_cache_capacity(0);
    }
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_lazy_with(options);
    Ok(Db::new(pool, settings.transaction_pooler))
}

/// Migrations cannot run through a transaction-mode pooler: the migrator holds
/// a session-level advisory lock across transactions.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "migrations need a direct connection to PostgreSQL (they hold a session-level lock): \
         point DATABASE_URL at PostgreSQL itself and unset DATABASE_TRANSACTION_POOLER to migrate"
    )]
    BehindTransactionPooler,
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Applies pending migrations.
pub async fn migrate(db: &Db) -> Result<(), MigrationError> {
    if db.behind_transaction_pooler() {
        return Err(MigrationError::BehindTransactionPooler);
    }
    Ok(MIGRATOR.run(db.pool()).await?)
}

/// Whether the database answers, within `timeout`.
pub async fn ping(db: &Db, timeout: Duration) -> bool {
    let query = async {
        let mut conn = db.conn().await?;
        let one = sqlx::query_scalar!(r#"SELECT 1 AS "one!""#)
            .fetch_one(&mut *conn)
            .await
            .db()?;
        conn.done().await?;
        Ok::<_, RepoError>(one)
    };
    matches!(tokio_timeout(timeout, query).await, Some(Ok(1)))
}

async fn tokio_timeout<F: std::future::Future>(timeout: Duration, future: F) -> Option<F::Output> {
    tokio::time::timeout(timeout, future).await.ok()
}

/// All four repositories over one pool.
#[derive(Clone)]
pub struct PgRepositories {
    pub users: PgUsers,
    pub sessions: PgSessions,
    pub profiles: PgProfiles,
    pub oauth: PgOAuthAccounts,
}

impl PgRepositories {
    pub fn new(db: impl Into<Db>) -> Self {
        let db = db.into();
        Self {
            users: PgUsers::new(db.clone()),
            sessions: PgSessions::new(db.clone()),
            profiles: PgProfiles::new(db.clone()),
            oauth: PgOAuthAccounts::new(db),
        }
    }
}

/// A provider name read back from the database.
pub(crate) fn stored_provider(raw: &str) -> Result<domain::ProviderName, RepoError> {
    domain::ProviderName::parse(raw)
        .map_err(|e| RepoError::other(format!("stored provider name is invalid: {e}")))
}

/// Maps database errors to the domain's where the query is made:
/// `query.fetch_one(…).await.db()?`.
pub(crate) trait DbResultExt<T> {
    fn db(self) -> Result<T, RepoError>;
}

impl<T> DbResultExt<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, RepoError> {
        self.map_err(repo_error)
    }
}

/// Maps a sqlx error to the domain's, naming the constraints that mean something.
fn repo_error(error: sqlx::Error) -> RepoError {
    if let sqlx::Error::Database(db) = &error {
        match db.constraint() {
            Some("users_email_key") => return RepoError::EmailTaken,
            Some("oauth_accounts_pkey" | "oauth_accounts_user_provider_key") => {
                return RepoError::OAuthAccountTaken;
            }
            Some("passkeys_credential_id_key") => return RepoError::PasskeyTaken,
            _ => {}
        }
    }
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            RepoError::Unavailable(Box::new(error))
        }
        other => RepoError::other(other),
    }
}

/// Counts one repository operation in `db_queries_total{repo,op}` and records
/// its duration in `db_query_duration_seconds{repo,op}` when dropped.
pub(crate) fn observe(repo: &'static str, op: &'static str) -> QueryTimer {
    metrics::counter!("db_queries_total", "repo" => repo, "op" => op).increment(1);
    QueryTimer {
        repo,
        op,
        started: std::time::Instant::now(),
    }
}

pub(crate) struct QueryTimer {
    repo: &'static str,
    op: &'static str,
    started: std::time::Instant,
}

impl Drop for QueryTimer {
    fn drop(&mut self) {
        metrics::histogram!("db_query_duration_seconds", "repo" => self.repo, "op" => self.op)
            .record(self.started.elapsed().as_secs_f64());
    }
}
