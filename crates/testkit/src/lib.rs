//! The one fixture layer of codezest-auth, used by every test binary, by the
//! benchmark and by development commands: a fresh PostgreSQL database per test
//! (leftovers of earlier runs dropped once per process), a Redis key prefix of
//! the test's own, and a throwaway `redis-server` on a free loopback port that a
//! test may stop and restart.
//!
//! Dev-only: no production crate depends on it. It knows nothing of the
//! service's types, so adapters, the service and xtask can all use it.

mod cluster;
mod netns;
mod nginx;
mod pgbouncer;
mod postgres;
mod sentinel;
mod smtp;
pub use cluster::RedisCluster;
pub use netns::NetnsRedis;
pub use nginx::Nginx;
pub use pgbouncer::PgBouncer;
pub use postgres::{PostgresServer, as_postgres, is_root, postgres_bin_dir};
pub use sentinel::{RedisSentinel, SENTINEL_SERVICE};
pub use smtp::{SmtpSink, link_token, python, readable};

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection as _, Executor as _, PgConnection};

/// The PostgreSQL server the tests use (`TEST_DATABASE_URL`), as a URL to its
/// `postgres` database.
pub fn admin_url() -> String {
    env_or(
        "TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

/// The Redis the tests share, each under its own key prefix (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    env_or("TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `url` with its database name replaced (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A name no other test uses: `{kind}_{uuid}`. Database names and Redis key
/// prefixes are made with it, so leftovers of a kind can be found again.
pub fn unique_name(kind: &str) -> String {
    format!("{kind}_{}", uuid::Uuid::new_v4().simple())
}

/// A fresh, empty database on the test server.
pub struct TestDatabase {
    pub name: String,
    /// Connects to it.
    pub url: String,
}

impl TestDatabase {
    /// Creates `{kind}_{uuid}`. The first call of a process drops the
    /// databases of this kind that earlier runs left behind (one in use by a
    /// concurrent run is left alone). Panics, saying how to start PostgreSQL,
    /// when the server does not answer: a test never passes without it.
    pub async fn create(kind: &str) -> Self {
        static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        let server = admin_url();
        let mut admin = connect_admin(&server).await;
        CLEANED
            .get_or_init(|| async {
                let pattern = format!("{kind}\\_%");
                let names: Vec<String> =
                    sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
                        .bind(pattern)
                        .fetch_all(&mut admin)
                        .await
                        .unwrap_or_default();
                for name in names {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            r#"DROP DATABASE IF EXISTS "{name}""#
                        )))
                        .await;
                }
            })
            .await;
        let name = unique_name(kind);
        admin
            .execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        let url = with_database(&server, &name);
        Self { name, url }
    }

    /// Drops and creates the database `name` (the benchmark's fixed one).
    pub async fn recreate(name: &str) -> Result<Self, sqlx::Error> {
        let server = admin_url();
        let mut admin = PgConnection::connect(&server).await?;
        for statement in [
            format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
            format!(r#"CREATE DATABASE "{name}""#),
        ] {
            admin.execute(sqlx::AssertSqlSafe(statement)).await?;
        }
        Ok(Self {
            name: name.to_owned(),
            url: with_database(&server, name),
        })
    }
}

async fn connect_admin(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap_or_else(|e| {
        panic!(
            "cannot reach PostgreSQL at {url}: {e}\n\
             Start it (`cargo xtask test` does) or set TEST_DATABASE_URL to a server that runs."
        )
    })
}

/// A `redis-server` of the caller's own on a free loopback port: nothing
/// persisted, killed when dropped. Fault tests stop and restart it.
pub struct RedisServer {
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one with extra `redis-server` arguments. Errors when
    /// `redis-server` is not installed.
    pub fn start(args: &[&str]) -> std::io::Result<Self> {
        let mut server = Self {
            port: free_port(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        server.restart()?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The command that runs a throwaway server on `port` with `dir` as its
    /// working directory (also used by `cargo xtask dev`).
    pub fn command(port: u16, dir: &Path) -> Command {
        let mut redis = Command::new("redis-server");
        redis
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir);
        redis
    }

    /// (Re)starts it on the same port and waits until it accepts connections.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        // A directory of its own: a replica writes the RDB it syncs into its
        // directory, and a server started later in a shared one would load it
        // (a cluster node that is "not empty" cannot join a new cluster).
        let dir = std::env::temp_dir().join(format!("czt-redis-{}", self.port));
        std::fs::create_dir_all(&dir)?;
        // Nothing of an earlier server on this port (`--save ""` never writes one,
        // but a replica's full sync does).
        let _ = std::fs::remove_file(dir.join("dump.rdb"));
        let child = Self::command(self.port, &dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if started.elapsed() > Duration::from_secs(5) {
                return Err(std::io::Error::other(format!(
                    "redis-server did not start on port {}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Kills it (SIGKILL: a crash, not a shutdown).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `name{labels}` → value, from a Prometheus text exposition.
pub fn parse_metrics(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of the series of `name` whose labels include all of `labels`.
pub fn metric_sum(
    metrics: &std::collections::HashMap<String, f64>,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    metrics
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name)
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| *value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_parsed_and_summed_by_labels() {
        let metrics = parse_metrics(
            "# HELP x\nhttp_requests_total{route=\"/a\",status=\"200\"} 3\n\
             http_requests_total{route=\"/b\",status=\"200\"} 4\nup 1\n",
        );
        assert_eq!(metric_sum(&metrics, "http_requests_total", &[]), 7.0);
        assert_eq!(
            metric_sum(&metrics, "http_requests_total", &[("route", "/b")]),
            4.0
        );
        assert_eq!(metric_sum(&metrics, "up", &[]), 1.0);
    }

    #[test]
    fn database_names_are_replaced_and_parameters_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=require", "x"),
            "postgres://u:p@h:5432/x?sslmode=require"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
