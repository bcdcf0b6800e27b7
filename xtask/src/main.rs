//! Project automation: `cargo xtask dev | migrate | test | bench | chaos | check-deploy |
//! sqlx-prepare | tidy`.
//!
//! Each command first makes sure PostgreSQL and Redis answer: it uses what is
//! running; else `docker compose up -d` where a Docker engine answers; else it
//! starts throwaway servers from local binaries under `target/dev-services/`;
//! else it says exactly what to install.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

mod bench;
mod browser;
mod chaos;
mod deploy;
mod python;
mod services;
mod sqlx_data;
mod tidy;

const USAGE: &str = "\
cargo xtask <command>

    dev       make sure Postgres and Redis run, migrate, and run the service
    migrate   make sure Postgres runs and apply the migrations
    test      make sure Postgres and Redis run, then run the whole test suite
              and check the deployment files (as check-deploy)
    bench     build the release binary and benchmark GET /me in every mode (db-only,
              redis-only, two-tier, floor), refresh, login and a mixed workload;
              --quick for a 20-second smoke run (see docs/benchmarks.md)
    chaos     run the fault scenarios on the chaos load (Redis killed and
              restarted, Sentinel and Cluster failovers) for --seconds N
              (default 20) and write a table to target/chaos/ (chaos.md, chaos.json)
    check-deploy  validate Prometheus rules, Grafana queries, Kubernetes manifests
              and docker-compose.yml with their own tools
    tidy      check the architecture invariants (crate dependencies) from
              cargo metadata (run by test)
    sqlx-prepare  refresh .sqlx/ (the compile-time query data) from a scratch
              database; --check fails when it is stale (run by test)
    screenshots  walk the hosted pages in the real browser (as the browser
              suite does) and save every page, light and dark, as docs/img/ui-*.png";

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/codezest_auth";
pub(crate) const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub(crate) const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev(&args[1..]),
        Some("migrate") => migrate(),
        Some("test") => test(&args[1..]),
        Some("check-deploy") => deploy::check(),
        Some("bench") => bench::bench(&args[1..]),
        Some("chaos") => chaos::chaos(&args[1..]),
        Some("sqlx-prepare") => sqlx_data::prepare(&args[1..]),
        Some("tidy") => tidy::tidy(),
        Some("screenshots") => services::screenshots(),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(root());
    command
}

fn run(mut command: Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// `cargo run` of the service binary with `args`.
fn service(args: &[&str], extra: &[String]) -> Result<()> {
    let mut command = cargo();
    command
        .args(["run", "--package", "app", "--bin", "codezest-auth", "--"])
        .args(args)
        .args(extra);
    run(command)
}

fn dev(extra: &[String]) -> Result<()> {
    ensure_openssl()?;
    ensure_postgres(&env_or("DATABASE_URL", DEFAULT_DATABASE_URL))?;
    ensure_redis(&env_or("REDIS_URL", DEFAULT_REDIS_URL))?;
    service(&["migrate"], &[])?;
    let mut command = cargo();
    command
        .args([
            "run",
            "--package",
            "app",
            "--bin",
            "codezest-auth",
            "--",
            "serve",
        ])
        .args(extra);
    if let Some(key) = dev_signing_key()? {
        println!("xtask: signing development tokens with {}", key.display());
        command.env("JWT_PRIVATE_KEY_FILE", &key);
    }
    if let Some(key) = dev_oidc_rsa_key()? {
        println!(
            "xtask: signing development ID tokens with {}",
            key.display()
        );
        command.env("OIDC_RSA_PRIVATE_KEY_FILE", &key);
    }
    if let Some((path, key)) = dev_mfa_key()? {
        println!(
            "xtask: sealing development TOTP secrets with {}",
            path.display()
        );
        command.env("MFA_ENCRYPTION_KEY", key);
    }
    run(command)
}

/// Whether one of `names` is set, in the environment or in `.env`.
fn configured(names: &[&str]) -> bool {
    let in_env = names.iter().any(|name| std::env::var_os(name).is_some());
    let in_dotenv = std::fs::read_to_string(root().join(".env")).is_ok_and(|dotenv| {
        dotenv.lines().any(|line| {
            let line = line.trim_start();
            names
                .iter()
                .any(|name| line.starts_with(&format!("{name}=")))
        })
    });
    in_env || in_dotenv
}

/// Writes `contents` to a file only its owner reads.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("a parent"))?;
    std::fs::write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// A development `MFA_ENCRYPTION_KEY` kept under `target/dev/`, so TOTP
/// secrets stay readable across restarts. `None` when one is configured.
fn dev_mfa_key() -> Result<Option<(PathBuf, String)>> {
    use base64::Engine as _;
    use rand::RngCore as _;
    if configured(&["MFA_ENCRYPTION_KEY"]) {
        return Ok(None);
    }
    let path = root().join("target/dev/mfa-key.b64");
    if !path.exists() {
        let mut key = [0_u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        write_private(
            &path,
            base64::engine::general_purpose::STANDARD
                .encode(key)
                .as_bytes(),
        )?;
    }
    let key = std::fs::read_to_string(&path)?.trim().to_owned();
    Ok(Some((path, key)))
}

/// A development signing key kept under `target/dev/`, so tokens survive a
/// restart of `cargo xtask dev`. `None` when a key is configured (environment or
/// `.env`), which then wins. The service itself still refuses to run without a
/// configured key when `APP_ENV=production`.
fn dev_signing_key() -> Result<Option<PathBuf>> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    if configured(&["JWT_PRIVATE_KEY_FILE", "JWT_SECRET"]) {
        return Ok(None);
    }
    let key = root().join("target/dev/jwt-ed25519.pem");
    if !key.exists() {
        let pem = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)?;
        write_private(&key, pem.as_bytes())?;
    }
    Ok(Some(key))
}

/// The OpenID provider's development RSA key, kept under `target/dev/` so
/// ID tokens verify across restarts. `None` when one is configured, or when
/// the access-token key is RS256 (which then signs ID tokens too).
fn dev_oidc_rsa_key() -> Result<Option<PathBuf>> {
    use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
    if configured(&["OIDC_RSA_PRIVATE_KEY_FILE"]) || env_or("JWT_ALGORITHM", "") == "RS256" {
        return Ok(None);
    }
    let key = root().join("target/dev/oidc-rsa.pem");
    if !key.exists() {
        let pem =
            rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?.to_pkcs8_pem(LineEnding::LF)?;
        write_private(&key, pem.as_bytes())?;
    }
    Ok(Some(key))
}

/// The OpenSSL headers `webauthn-rs` (passkeys) builds against, installed
/// with apt where this machine allows it.
pub(crate) fn ensure_openssl() -> Result<()> {
    let present = || {
        Command::new("pkg-config")
            .args(["--exists", "openssl"])
            .status()
            .is_ok_and(|status| status.success())
    };
    if present() {
        return Ok(());
    }
    if found("apt-get") && testkit::is_root() {
        println!("xtask: installing pkg-config and libssl-dev (apt-get) for webauthn-rs");
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        let _ = Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "pkg-config",
                "libssl-dev",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    if !present() {
        bail!(
            "building the service needs OpenSSL's headers and pkg-config (webauthn-rs uses OpenSSL). \
             Install them (Debian/Ubuntu: `apt-get install pkg-config libssl-dev`; \
             Fedora: `dnf install pkgconf openssl-devel`; macOS: `brew install openssl@3 pkg-config`)"
        );
    }
    Ok(())
}

fn migrate() -> Result<()> {
    ensure_openssl()?;
    ensure_postgres(&env_or("DATABASE_URL", DEFAULT_DATABASE_URL))?;
    service(&["migrate"], &[])
}

fn test(extra: &[String]) -> Result<()> {
    let services = services::test_services()?;
    tidy::tidy()?;
    // The committed query data must describe the queries and schema as they are.
    sqlx_data::prepare(&["--check".to_owned()])?;
    let suites: [&[&str]; 2] = [
        &["test", "--workspace", "--all-targets"],
        // The service without the `cache` feature: no Redis code compiled in.
        &[
            "test",
            "--package",
            "app",
            "--all-targets",
            "--no-default-features",
        ],
    ];
    let suite = |args: &[&str], redis_url: &str| {
        let mut test = services.cargo_test(args, redis_url);
        test.args(extra);
        run(test)
    };
    for args in suites {
        suite(args, &services.redis_url)?;
    }
    // The cache's own suite, unchanged, against the other two deployments
    // `REDIS_URL` accepts, started here on loopback ports.
    let cache_suite = ["test", "--package", "cache-redis", "--test", "cache"];
    {
        let cluster = testkit::RedisCluster::start(3)
            .context("starting a 3-master Redis Cluster for the cache suite")?;
        println!(
            "xtask: the cache suite against a Redis Cluster ({})",
            cluster.url()
        );
        suite(&cache_suite, &cluster.url())?;
    }
    {
        let group = testkit::RedisSentinel::start()
            .context("starting a Redis Sentinel group for the cache suite")?;
        println!(
            "xtask: the cache suite against a Sentinel group ({})",
            group.url()
        );
        suite(&cache_suite, &group.url())?;
    }
    deploy::check()
}

/// `host:port` of a `scheme://[user[:pass]@]host[:port][/...]` URL.
fn address(url: &str, default_port: u16) -> Result<(String, u16)> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host_port.starts_with('[') => (
            host.to_owned(),
            port.parse().with_context(|| format!("bad port in {url}"))?,
        ),
        _ => (host_port.to_owned(), default_port),
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((
        if host.is_empty() {
            "127.0.0.1".to_owned()
        } else {
            host
        },
        port,
    ))
}

fn reachable(host: &str, port: u16) -> bool {
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .collect::<Vec<SocketAddr>>()
        .iter()
        .any(|addr| TcpStream::connect_timeout(addr, Duration::from_millis(500)).is_ok())
}

fn wait_for(host: &str, port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if reachable(host, port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!("{what} was started but does not answer on {host}:{port} after 30 s")
}

fn found(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn docker_available() -> bool {
    found("docker")
        && Command::new("docker")
            .args(["info"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn compose_up(service: &str) -> Result<()> {
    println!("xtask: starting {service} with docker compose");
    let mut compose = Command::new("docker");
    compose
        .current_dir(root())
        .args(["compose", "up", "-d", service]);
    run(compose)
}

fn is_local(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

/// `None` when the server answers, or was started with docker compose and now
/// answers; otherwise the local address it must be started on.
fn try_usual_ways(
    url: &str,
    default_port: u16,
    name: &str,
    compose_service: &str,
) -> Result<Option<(String, u16)>> {
    let (host, port) = address(url, default_port)?;
    if reachable(&host, port) {
        return Ok(None);
    }
    if !is_local(&host) {
        bail!(
            "{name} at {host}:{port} does not answer; start it, or point the URL at one that runs"
        );
    }
    println!("xtask: {name} is not answering on {host}:{port}; trying to start one");
    if docker_available() && root().join("docker-compose.yml").exists() {
        compose_up(compose_service)?;
        wait_for(&host, port, name)?;
        return Ok(None);
    }
    Ok(Some((host, port)))
}

fn ensure_postgres(url: &str) -> Result<()> {
    let Some((host, port)) = try_usual_ways(url, 5432, "PostgreSQL", "postgres")? else {
        return Ok(());
    };
    if found("pg_ctlcluster") && found("pg_lsclusters") {
        // Debian's packaged cluster.
        let clusters = Command::new("pg_lsclusters").arg("--no-header").output()?;
        let listing = String::from_utf8_lossy(&clusters.stdout);
        if let Some(line) = listing
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(&port.to_string()))
        {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let mut start = Command::new("pg_ctlcluster");
            start.args(["--skip-systemctl-redirect", fields[0], fields[1], "start"]);
            run(start)?;
            return wait_for(&host, port, "PostgreSQL");
        }
    }
    if let Some(bin) = testkit::postgres_bin_dir() {
        start_throwaway_postgres(&bin, port)?;
        return wait_for(&host, port, "PostgreSQL");
    }
    bail!(
        "no PostgreSQL answers on {host}:{port} and none could be started. Install one \
         (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`), \
         or Docker and run `docker compose up -d postgres`, or set DATABASE_URL / \
         TEST_DATABASE_URL to a server that runs"
    )
}

/// A throwaway cluster under `target/dev-services/postgres` (trust auth, user
/// `postgres`), owned by the `postgres` user when we are root (initdb refuses root).
fn start_throwaway_postgres(bin: &Path, port: u16) -> Result<()> {
    let dir = root().join("target/dev-services/postgres");
    let data = dir.join("data");
    std::fs::create_dir_all(&dir)?;
    let as_user = |program: &str| testkit::as_postgres(bin, program);
    if testkit::is_root() {
        run({
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres"]).arg(&dir);
            chown
        })?;
    }
    if !data.join("PG_VERSION").exists() {
        println!(
            "xtask: initialising a throwaway PostgreSQL cluster in {}",
            data.display()
        );
        let mut initdb = as_user("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync"]);
        initdb.stdout(Stdio::null());
        run(initdb)?;
    }
    let mut pg_ctl = as_user("pg_ctl");
    pg_ctl
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("postgres.log"))
        .arg("-o")
        .arg(format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {}",
            dir.display()
        ))
        .arg("start");
    run(pg_ctl)
}

fn ensure_redis(url: &str) -> Result<()> {
    let Some((host, port)) = try_usual_ways(url, 6379, "Redis", "redis")? else {
        return Ok(());
    };
    if found("redis-server") {
        let dir = root().join("target/dev-services/redis");
        std::fs::create_dir_all(&dir)?;
        let mut redis = testkit::RedisServer::command(port, &dir);
        redis
            .args(["--daemonize", "yes"])
            .arg("--logfile")
            .arg(dir.join("redis.log"));
        run(redis)?;
        return wait_for(&host, port, "Redis");
    }
    bail!(
        "no Redis answers on {host}:{port} and none could be started. Install one \
         (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`), \
         or Docker and run `docker compose up -d redis`, or set REDIS_URL / TEST_REDIS_URL"
    )
}

#[cfg(test)]
mod tests {
    use super::address;

    #[test]
    fn addresses_are_parsed() {
        assert_eq!(
            address("postgres://postgres@127.0.0.1:5432/db", 5432).unwrap(),
            ("127.0.0.1".into(), 5432)
        );
        assert_eq!(
            address("postgres://u:p@db.internal/db", 5432).unwrap(),
            ("db.internal".into(), 5432)
        );
        assert_eq!(
            address("redis://localhost:6380", 6379).unwrap(),
            ("localhost".into(), 6380)
        );
        assert_eq!(
            address("redis://[::1]:6379/0", 6379).unwrap(),
            ("::1".into(), 6379)
        );
    }
}
