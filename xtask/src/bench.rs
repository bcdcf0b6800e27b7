//! `cargo xtask bench`: the seed's benchmark (`GET /api/v1/auth/me` at
//! concurrency 100 with users' tokens rotating), in every mode in one run, with
//! the floor of this machine beside it. Load comes from `wrk`.
//!
//! Modes: `db-only` (`CACHE_ENABLED=false`), `redis-only` (L1 off),
//! `two-tier`, `floor` (a minimal axum server in this process verifying HS256
//! tokens with the service's own verification code and answering a body of the
//! same size) and `floor-eddsa` (the same, with the service's EdDSA tokens).
//! Then refresh and login throughput, a mixed workload (95 % `/me`, 4 % refresh,
//! 1 % profile update) with a coherence check, and L1 bytes per cached user.
//!
//! Results: `target/bench/results.{md,json}` and `target/bench/throughput.svg`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use domain::{JwtAlgorithm, JwtConfig, JwtKeys, RefreshTokens, SessionId, UserId};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde::Serialize;
use serde_json::Value;
use sqlx::{Connection as _, Executor as _, PgConnection};
use time::OffsetDateTime;

use crate::{cargo, ensure_postgres, ensure_redis, env_or, found, root, run};

const PASSWORD: &str = "correct horse battery staple";
const ISSUER: &str = "codezest-auth";
const AUDIENCE: &str = "codezest";
const HS256_SECRET: &str = "bench-floor-secret-of-at-least-32-bytes!";

/// What one `/me` run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The service with `CACHE_ENABLED=false`.
    DbOnly,
    /// The service with L1 off: every read goes to Redis.
    RedisOnly,
    /// The service as deployed (EdDSA tokens, the default).
    TwoTier,
    /// The same with HS256 tokens.
    TwoTierHs256,
    /// `bench-floor` verifying HS256 tokens.
    Floor,
    /// `bench-floor` verifying EdDSA tokens.
    FloorEddsa,
}

impl Mode {
    const ALL: [Mode; 6] = [
        Mode::DbOnly,
        Mode::RedisOnly,
        Mode::TwoTier,
        Mode::TwoTierHs256,
        Mode::Floor,
        Mode::FloorEddsa,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::DbOnly => "db-only",
            Mode::RedisOnly => "redis-only",
            Mode::TwoTier => "two-tier",
            Mode::TwoTierHs256 => "two-tier-hs256",
            Mode::Floor => "floor",
            Mode::FloorEddsa => "floor-eddsa",
        }
    }

    fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.name() == name)
            .with_context(|| format!("unknown mode {name:?}"))
    }

    fn is_floor(self) -> bool {
        matches!(self, Mode::Floor | Mode::FloorEddsa)
    }

    fn hs256(self) -> bool {
        matches!(self, Mode::TwoTierHs256 | Mode::Floor)
    }
}

struct Options {
    users: usize,
    concurrency: usize,
    duration: u64,
    warmup: u64,
    modes: Vec<Mode>,
    large_users: usize,
    quick: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut options = Self {
            users: 1000,
            concurrency: 100,
            duration: if quick { 3 } else { 15 },
            warmup: if quick { 1 } else { 5 },
            modes: Mode::ALL.to_vec(),
            large_users: if quick { 5_000 } else { 100_000 },
            quick,
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let mut value = || iter.next().context("option needs a value");
            match arg.as_str() {
                "--quick" => {}
                "--users" => options.users = value()?.parse()?,
                "--concurrency" => options.concurrency = value()?.parse()?,
                "--duration" => options.duration = value()?.parse()?,
                "--warmup" => options.warmup = value()?.parse()?,
                "--large-users" => options.large_users = value()?.parse()?,
                "--modes" => {
                    options.modes = value()?
                        .split(',')
                        .map(Mode::parse)
                        .collect::<Result<_>>()?;
                }
                other => bail!(
                    "unknown option {other:?}; options: --quick --users N --concurrency N \
                     --duration SECONDS --warmup SECONDS --large-users N \
                     --modes db-only,redis-only,two-tier,two-tier-hs256,floor,floor-eddsa"
                ),
            }
        }
        if options.users == 0 || options.concurrency == 0 || options.duration == 0 {
            bail!("--users, --concurrency and --duration must be positive");
        }
        Ok(options)
    }
}

/// What one wrk run measured.
#[derive(Debug, Clone, Default, Serialize)]
struct Load {
    requests: u64,
    seconds: f64,
    rps: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
struct ModeResult {
    mode: String,
    load: Load,
    ratio_to_floor: Option<f64>,
    db_queries_per_request: Option<f64>,
    pg_transactions_per_request: Option<f64>,
    redis_commands_per_request: Option<f64>,
    l1_hit_ratio: Option<f64>,
    l2_hit_ratio: Option<f64>,
    cpu_seconds_per_1000: f64,
    peak_rss_mb: f64,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    machine: String,
    cores: usize,
    versions: String,
    users: usize,
    concurrency: usize,
    duration_s: u64,
    modes: Vec<ModeResult>,
    refresh: Option<Load>,
    login: Option<Load>,
    login_per_core: Option<f64>,
    mixed: Option<Mixed>,
    l1_bytes_per_user: Option<LargeL1>,
}

#[derive(Debug, Default, Serialize)]
struct Mixed {
    load: Load,
    l1_hit_ratio: Option<f64>,
    overall_hit_ratio: Option<f64>,
    users_checked: usize,
    stale_profiles: usize,
    /// Redis operations that failed or timed out during the run.
    cache_errors: f64,
}

#[derive(Debug, Default, Serialize)]
struct LargeL1 {
    users: usize,
    rss_before_mb: f64,
    rss_after_mb: f64,
    l1_entries: f64,
    bytes_per_user: f64,
}

struct Bench {
    options: Options,
    dir: PathBuf,
    binary: PathBuf,
    database_url: String,
    admin_url: String,
    redis: Redis,
    key_file: PathBuf,
    eddsa: Arc<JwtKeys>,
    tokens_file: PathBuf,
    refresh_file: PathBuf,
    users: Vec<(UserId, SessionId)>,
    me_body_len: usize,
}

pub(crate) fn bench(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let admin_url = env_or("TEST_DATABASE_URL", crate::DEFAULT_TEST_DATABASE_URL);
    ensure_postgres(&admin_url)?;
    ensure_redis(&env_or("TEST_REDIS_URL", crate::DEFAULT_REDIS_URL))?;
    ensure_wrk()?;
    println!("xtask bench: building the release binary");
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--package",
        "app",
        "--bin",
        "codezest-auth",
    ]);
    run(build)?;
    let mut floor = cargo();
    floor.args([
        "build",
        "--release",
        "--package",
        "xtask",
        "--bin",
        "bench-floor",
    ]);
    run(floor)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run_bench(options, admin_url))
}

fn ensure_wrk() -> Result<()> {
    if found("wrk") {
        return Ok(());
    }
    println!("xtask bench: installing wrk (apt-get)");
    if found("apt-get") {
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "wrk"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    if !found("wrk") {
        bail!(
            "the benchmark needs wrk (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)"
        );
    }
    Ok(())
}

async fn run_bench(options: Options, admin_url: String) -> Result<()> {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let redis = Redis::start()?;
    let pem = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng)
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)?
        .to_string();
    let key_file = dir.join("jwt-ed25519.pem");
    std::fs::write(&key_file, &pem)?;
    let eddsa = Arc::new(
        JwtKeys::from_config(jwt_config(JwtAlgorithm::EdDSA, &pem)).map_err(anyhow::Error::msg)?,
    );
    let database_url = testkit::with_database(&admin_url, "codezest_bench");
    let mut bench = Bench {
        binary: root().join("target/release/codezest-auth"),
        tokens_file: dir.join("access-tokens.txt"),
        refresh_file: dir.join("refresh-tokens.txt"),
        dir,
        database_url,
        admin_url,
        redis,
        key_file,
        eddsa,
        users: Vec::new(),
        me_body_len: 0,
        options,
    };
    let mut report = Report {
        machine: machine(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        versions: versions(),
        users: bench.options.users,
        concurrency: bench.options.concurrency,
        duration_s: bench.options.duration,
        ..Report::default()
    };
    println!(
        "xtask bench: {} users, concurrency {}, {} s per mode on {} ({} cores)",
        report.users, report.concurrency, report.duration_s, report.machine, report.cores
    );
    bench.prepare_database(bench.options.users).await?;
    bench.write_lua()?;

    for mode in bench.options.modes.clone() {
        let result = if mode.is_floor() {
            bench.floor_mode(mode).await?
        } else {
            bench.service_mode(mode).await?
        };
        println!(
            "  {:<12} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
            result.mode,
            result.load.rps,
            result.load.p50_ms,
            result.load.p99_ms,
            result.load.errors
        );
        report.modes.push(result);
    }
    let floor = report
        .modes
        .iter()
        .find(|m| m.mode == Mode::Floor.name())
        .map(|m| m.load.rps);
    if let Some(floor) = floor {
        for mode in &mut report.modes {
            mode.ratio_to_floor = Some(mode.load.rps / floor);
        }
    }

    bench.throughput(&mut report).await?;
    report.l1_bytes_per_user = Some(bench.large_l1().await?);

    let markdown = markdown(&report);
    std::fs::write(bench.dir.join("results.md"), &markdown)?;
    std::fs::write(
        bench.dir.join("results.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    chart(&report, &bench.dir.join("throughput.svg"))?;
    println!("\n{markdown}");
    println!(
        "xtask bench: wrote {}/results.md, results.json, throughput.svg",
        bench.dir.display()
    );
    let errors: u64 = report.modes.iter().map(|m| m.load.errors).sum::<u64>()
        + report
            .mixed
            .as_ref()
            .map_or(0, |m| m.load.errors + m.stale_profiles as u64);
    if errors > 0 {
        bail!("the benchmark saw {errors} errors or stale reads");
    }
    Ok(())
}

fn jwt_config(algorithm: JwtAlgorithm, key: &str) -> JwtConfig {
    JwtConfig {
        algorithm,
        signing_key: Some(key.to_owned().into()),
        previous_keys: vec![],
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        access_ttl: time::Duration::hours(2),
    }
}

impl Bench {
    /// A fresh database with `n` users, each with a session, an access token and
    /// a refresh token, written straight to PostgreSQL (hashing `n` passwords
    /// through the API would take minutes): every user has the same argon2id
    /// hash of [`PASSWORD`].
    async fn prepare_database(&mut self, n: usize) -> Result<()> {
        let name = "codezest_bench";
        // Tokens of an earlier run name other users.
        let _ = std::fs::remove_file(self.dir.join("access-tokens-hs256.txt"));
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
            )))
            .await?;
        admin
            .execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await?;
        let mut migrate = Command::new(&self.binary);
        migrate
            .arg("migrate")
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        run(migrate)?;
        let hash = domain::PasswordHasher::owasp()
            .hash(
                &domain::Password::parse(PASSWORD.into(), "password")
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let refresh = RefreshTokens::from_key_material(b"bench: any key makes first tokens");
        let mut db = PgConnection::connect(&self.database_url).await?;
        let now = OffsetDateTime::now_utc();
        let mut access_lines = String::new();
        let mut refresh_lines = String::new();
        self.users.clear();
        for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
            let mut ids = Vec::new();
            let mut emails = Vec::new();
            let mut sessions = Vec::new();
            let mut hashes = Vec::new();
            for i in chunk {
                let (user, session) = (UserId::new(), SessionId::new());
                let token = refresh.issue();
                ids.push(user.as_uuid());
                emails.push(format!("bench-{i}@example.com"));
                sessions.push(session.as_uuid());
                hashes.push(token.hash().as_bytes().to_vec());
                let access = self
                    .eddsa
                    .issue(user, session, now)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                writeln!(access_lines, "{access}")?;
                writeln!(refresh_lines, "{}", token.expose())?;
                self.users.push((user, session));
            }
            sqlx::query(
                "INSERT INTO users (id, email, name, password_hash)
                 SELECT id, email, 'Bench User', $3 FROM UNNEST($1::uuid[], $2::text[]) AS t(id, email)",
            )
            .bind(&ids)
            .bind(&emails)
            .bind(hash.expose_phc())
            .execute(&mut db)
            .await?;
            sqlx::query(
                "INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at)
                 SELECT s, u, h, now() + interval '30 days'
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[]) AS t(s, u, h)",
            )
            .bind(&sessions)
            .bind(&ids)
            .bind(&hashes)
            .execute(&mut db)
            .await?;
        }
        let ids: String = self
            .users
            .iter()
            .map(|(user, _)| format!("{user}\n"))
            .collect();
        std::fs::write(self.dir.join("user-ids.txt"), ids)?;
        std::fs::write(&self.tokens_file, access_lines)?;
        std::fs::write(&self.refresh_file, refresh_lines)?;
        Ok(())
    }

    fn write_lua(&self) -> Result<()> {
        for (name, body) in [
            ("me.lua", ME_LUA),
            ("refresh.lua", REFRESH_LUA),
            ("login.lua", LOGIN_LUA),
            ("mixed.lua", MIXED_LUA),
            ("once.lua", ONCE_LUA),
        ] {
            std::fs::write(
                self.dir.join(name),
                format!("{COMMON_LUA}\n{body}\n{DONE_LUA}"),
            )?;
        }
        Ok(())
    }

    fn service_env(&self, mode: Mode, port: u16, metrics_port: u16) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", self.database_url.as_str()),
            ("REDIS_URL", self.redis.url.as_str()),
            ("JWT_PRIVATE_KEY_FILE", &self.key_file.display().to_string()),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", AUDIENCE),
            ("ACCESS_TOKEN_TTL", "7200"),
            ("RATE_LIMIT_PER_IP", "0"),
            ("RATE_LIMIT_LOGIN_PER_EMAIL", "0"),
            // No RUST_LOG: the service logs as it does for an operator (info,
            // one access line per request). Running it at `warn` hid that cost.
            ("DATABASE_MAX_CONNECTIONS", "20"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        env.push(("BIND_ADDR".into(), format!("127.0.0.1:{port}")));
        env.push(("METRICS_ADDR".into(), format!("127.0.0.1:{metrics_port}")));
        match mode {
            Mode::DbOnly => env.push(("CACHE_ENABLED".into(), "false".into())),
            Mode::RedisOnly => env.push(("CACHE_L1_MAX_ENTRIES".into(), "0".into())),
            Mode::TwoTierHs256 => {
                env.push(("JWT_ALGORITHM".into(), "HS256".into()));
                env.push(("JWT_SECRET".into(), HS256_SECRET.into()));
            }
            Mode::TwoTier | Mode::Floor | Mode::FloorEddsa => {}
        }
        env
    }

    async fn start_service(&self, mode: Mode) -> Result<Service> {
        self.start_service_with(mode, &[]).await
    }

    async fn start_service_with(&self, mode: Mode, extra: &[(&str, String)]) -> Result<Service> {
        self.redis.flush()?;
        let (port, metrics_port) = (free_port()?, free_port()?);
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .envs(self.service_env(mode, port, metrics_port))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                self.dir.join(format!("server-{}.log", mode.name())),
            )?));
        let child = command.spawn().context("start the service")?;
        let service = Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        };
        service.wait_ready().await?;
        Ok(service)
    }

    async fn service_mode(&mut self, mode: Mode) -> Result<ModeResult> {
        let service = self.start_service(mode).await?;
        let pid = service.child.id();
        // The service's tokens for its algorithm.
        let tokens = if mode.hs256() {
            self.hs256_tokens()?
        } else {
            self.tokens_file.clone()
        };
        let tokens = [("BENCH_TOKENS", tokens.display().to_string())];
        if self.me_body_len == 0 {
            let token = std::fs::read_to_string(&self.tokens_file)?;
            let token = token.lines().next().context("tokens")?;
            let body = reqwest::Client::new()
                .get(format!("{}/api/v1/auth/me", service.base))
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            self.me_body_len = body.len();
        }
        self.wrk(
            &service.base,
            "me.lua",
            self.options.warmup,
            self.options.concurrency,
            &tokens,
        )?;
        // PostgreSQL publishes a backend's counters when it has been idle a while.
        let settle = Duration::from_secs(if self.options.quick { 1 } else { 11 });
        tokio::time::sleep(settle).await;
        let pg0 = self.pg_transactions().await?;
        let m0 = scrape(&service.metrics).await?;
        let r0 = self.redis.commands()?;
        let cpu0 = cpu_seconds(pid)?;
        let load = self.wrk(
            &service.base,
            "me.lua",
            self.options.duration,
            self.options.concurrency,
            &tokens,
        )?;
        let cpu1 = cpu_seconds(pid)?;
        let r1 = self.redis.commands()?;
        let m1 = scrape(&service.metrics).await?;
        tokio::time::sleep(settle).await;
        let pg1 = self.pg_transactions().await?;
        let requests = load.requests.max(1) as f64;
        let delta =
            |name: &str, labels: &[(&str, &str)]| sum(&m1, name, labels) - sum(&m0, name, labels);
        let ratio = |hit: f64, miss: f64| (hit + miss > 0.0).then(|| hit / (hit + miss));
        let result = ModeResult {
            mode: mode.name().to_owned(),
            db_queries_per_request: Some(delta("db_queries_total", &[]) / requests),
            pg_transactions_per_request: (!self.options.quick)
                .then(|| (pg1 - pg0) as f64 / requests),
            redis_commands_per_request: Some((r1 - r0) as f64 / requests),
            l1_hit_ratio: ratio(
                delta(
                    "cache_requests_total",
                    &[("tier", "l1"), ("outcome", "hit")],
                ),
                delta(
                    "cache_requests_total",
                    &[("tier", "l1"), ("outcome", "miss")],
                ),
            ),
            l2_hit_ratio: ratio(
                delta(
                    "cache_requests_total",
                    &[("tier", "l2"), ("outcome", "hit")],
                ),
                delta(
                    "cache_requests_total",
                    &[("tier", "l2"), ("outcome", "miss")],
                ),
            ),
            cpu_seconds_per_1000: (cpu1 - cpu0) / requests * 1000.0,
            peak_rss_mb: peak_rss_mb(pid)?,
            load,
            ratio_to_floor: None,
        };
        service.stop();
        Ok(result)
    }

    /// Every user's access token signed with HS256 (the floor's and the
    /// `two-tier-hs256` service's key), written once.
    fn hs256_tokens(&self) -> Result<std::path::PathBuf> {
        let file = self.dir.join("access-tokens-hs256.txt");
        if file.exists() {
            return Ok(file);
        }
        let keys = JwtKeys::from_config(jwt_config(JwtAlgorithm::HS256, HS256_SECRET))?;
        let now = OffsetDateTime::now_utc();
        let mut lines = String::new();
        for (user, session) in &self.users {
            writeln!(lines, "{}", keys.issue(*user, *session, now)?)?;
        }
        std::fs::write(&file, lines)?;
        Ok(file)
    }

    async fn floor_mode(&self, mode: Mode) -> Result<ModeResult> {
        let (algorithm, key, tokens_file) = if mode == Mode::Floor {
            ("HS256", HS256_SECRET.to_owned(), self.hs256_tokens()?)
        } else {
            (
                "EdDSA",
                self.key_file.display().to_string(),
                self.tokens_file.clone(),
            )
        };
        let port = free_port()?;
        let child = Command::new(root().join("target/release/bench-floor"))
            .args([
                &port.to_string(),
                algorithm,
                &key,
                &self.me_body_len.max(64).to_string(),
            ])
            .spawn()
            .context("start bench-floor")?;
        let base = format!("http://127.0.0.1:{port}");
        let floor = Service {
            child,
            base: base.clone(),
            metrics: String::new(),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(5) {
                bail!("bench-floor did not start");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = floor.child.id();
        let env = [("BENCH_TOKENS", tokens_file.display().to_string())];
        self.wrk_env(
            &base,
            "me.lua",
            self.options.warmup,
            self.options.concurrency,
            &env,
        )?;
        let cpu0 = cpu_seconds(pid)?;
        let load = self.wrk_env(
            &base,
            "me.lua",
            self.options.duration,
            self.options.concurrency,
            &env,
        )?;
        let cpu1 = cpu_seconds(pid)?;
        let peak = peak_rss_mb(pid)?;
        floor.stop();
        Ok(ModeResult {
            mode: mode.name().to_owned(),
            cpu_seconds_per_1000: (cpu1 - cpu0) / load.requests.max(1) as f64 * 1000.0,
            peak_rss_mb: peak,
            load,
            ..ModeResult::default()
        })
    }

    /// Refresh and login throughput, and the mixed workload, on `two-tier`.
    async fn throughput(&mut self, report: &mut Report) -> Result<()> {
        let service = self.start_service(Mode::TwoTier).await?;
        let seconds = if self.options.quick { 2 } else { 10 };
        let refresh = self.wrk(
            &service.base,
            "refresh.lua",
            seconds,
            self.options.concurrency.min(self.options.users / 2).max(1),
            &[],
        )?;
        println!(
            "  refresh      {:>9.0} req/s  p99 {:>6.2} ms  errors {}",
            refresh.rps, refresh.p99_ms, refresh.errors
        );
        report.refresh = Some(refresh);
        // Logins are argon2-bound: a few connections per core saturate them.
        let login = self.wrk(&service.base, "login.lua", seconds, report.cores * 4, &[])?;
        println!(
            "  login        {:>9.0} req/s  p99 {:>6.2} ms  errors {}",
            login.rps, login.p99_ms, login.errors
        );
        report.login_per_core = Some(login.rps / report.cores as f64);
        report.login = Some(login);
        service.stop();

        // Mixed: sessions were rotated above; start again from fresh tokens.
        self.prepare_database(self.options.users).await?;
        let service = self.start_service(Mode::TwoTier).await?;
        let m0 = scrape(&service.metrics).await?;
        let load = self.wrk(
            &service.base,
            "mixed.lua",
            self.options.duration,
            self.options.concurrency,
            &[],
        )?;
        let m1 = scrape(&service.metrics).await?;
        let delta = |labels: &[(&str, &str)]| {
            sum(&m1, "cache_requests_total", labels) - sum(&m0, "cache_requests_total", labels)
        };
        let l1_hit = delta(&[("tier", "l1"), ("outcome", "hit")]);
        let l1_miss = delta(&[("tier", "l1"), ("outcome", "miss")]);
        let l2_hit = delta(&[("tier", "l2"), ("outcome", "hit")]);
        let l2_miss = delta(&[("tier", "l2"), ("outcome", "miss")]);
        let (checked, stale) = self.check_profiles(&service.base).await?;
        println!(
            "  mixed        {:>9.0} req/s  p99 {:>6.2} ms  errors {}  stale profiles {stale}/{checked}",
            load.rps, load.p99_ms, load.errors
        );
        report.mixed = Some(Mixed {
            load,
            l1_hit_ratio: (l1_hit + l1_miss > 0.0).then(|| l1_hit / (l1_hit + l1_miss)),
            overall_hit_ratio: (l1_hit + l2_hit + l2_miss > 0.0)
                .then(|| (l1_hit + l2_hit) / (l1_hit + l2_hit + l2_miss)),
            users_checked: checked,
            stale_profiles: stale,
            cache_errors: sum(&m1, "cache_errors_total", &[]) - sum(&m0, "cache_errors_total", &[]),
        });
        service.stop();
        Ok(())
    }

    /// After writes: every user's profile as `/me` answers it equals the row.
    async fn check_profiles(&self, base: &str) -> Result<(usize, usize)> {
        // wrk stops mid-request: let the writes it left in flight finish first.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut db = PgConnection::connect(&self.database_url).await?;
        let active: Vec<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
            "SELECT DISTINCT ON (user_id) user_id, id FROM sessions WHERE revoked_at IS NULL ORDER BY user_id, created_at",
        )
        .fetch_all(&mut db)
        .await?;
        let client = reqwest::Client::new();
        let now = OffsetDateTime::now_utc();
        let mut stale = 0;
        for (user, session) in &active {
            let token = self
                .eddsa
                .issue(
                    UserId::from_uuid(*user),
                    SessionId::from_uuid(*session),
                    now,
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let stored: Option<(Option<String>,)> =
                sqlx::query_as("SELECT bio FROM user_profiles WHERE user_id = $1")
                    .bind(user)
                    .fetch_optional(&mut db)
                    .await?;
            let stored = stored.and_then(|(bio,)| bio);
            let me: Value = client
                .get(format!("{base}/api/v1/auth/me"))
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let served = me["user"]["profile"]["bio"].as_str().map(str::to_owned);
            if served != stored {
                eprintln!(
                    "xtask bench: user {user}: /me serves {served:?}, the database holds {stored:?}"
                );
                stale += 1;
            }
        }
        Ok((active.len(), stale))
    }

    /// RSS growth per user once `large_users` users are all cached.
    async fn large_l1(&mut self) -> Result<LargeL1> {
        let n = self.options.large_users;
        println!("xtask bench: L1 bytes per cached user with {n} users");
        self.prepare_database(n).await?;
        // Room for every user's session, user and profile entries.
        let room = [("CACHE_L1_MAX_ENTRIES", (n * 4).to_string())];
        let service = self.start_service_with(Mode::TwoTier, &room).await?;
        let pid = service.child.id();
        let rss_before = current_rss_mb(pid)?;
        // One pass over every token (each thread walks its own share).
        let seconds = (n as u64 / 4_000).max(3);
        let env = [("BENCH_TOKENS", self.tokens_file.display().to_string())];
        self.wrk_env(&service.base, "once.lua", seconds, 50, &env)?;
        let rss_after = current_rss_mb(pid)?;
        // The L1 size gauge is refreshed every few seconds.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let metrics = scrape(&service.metrics).await?;
        service.stop();
        let bytes = (rss_after - rss_before) * 1024.0 * 1024.0 / n as f64;
        println!("  {n} users: RSS {rss_before:.1} → {rss_after:.1} MB, {bytes:.0} bytes per user");
        Ok(LargeL1 {
            users: n,
            rss_before_mb: rss_before,
            rss_after_mb: rss_after,
            l1_entries: sum(&metrics, "cache_l1_entries", &[]),
            bytes_per_user: bytes,
        })
    }

    async fn pg_transactions(&self) -> Result<i64> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = 'codezest_bench'",
        )
        .fetch_one(&mut admin)
        .await?;
        Ok(n)
    }

    fn wrk(
        &self,
        base: &str,
        script: &str,
        seconds: u64,
        connections: usize,
        extra: &[(&str, String)],
    ) -> Result<Load> {
        let mut env = vec![
            ("BENCH_TOKENS", self.tokens_file.display().to_string()),
            ("BENCH_REFRESH", self.refresh_file.display().to_string()),
            (
                "BENCH_IDS",
                self.dir.join("user-ids.txt").display().to_string(),
            ),
            ("BENCH_USERS", self.users.len().to_string()),
            ("BENCH_PASSWORD", PASSWORD.to_owned()),
        ];
        env.extend(extra.iter().cloned());
        self.wrk_env(base, script, seconds, connections, &env)
    }

    fn wrk_env(
        &self,
        base: &str,
        script: &str,
        seconds: u64,
        connections: usize,
        env: &[(&str, String)],
    ) -> Result<Load> {
        let threads = 2.min(connections);
        let output = Command::new("wrk")
            .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
            .args(["-d", &format!("{seconds}s"), "--timeout", "10s", "-s"])
            .arg(self.dir.join(script))
            .arg(base)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("BENCH_THREADS", threads.to_string())
            .output()
            .context("run wrk")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("BENCH "))
            .with_context(|| {
                format!(
                    "wrk printed no result: {stdout}{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })?;
        let v: Value = serde_json::from_str(line)?;
        let us = |k: &str| v[k].as_f64().unwrap_or_default() / 1000.0;
        let requests = v["requests"].as_u64().unwrap_or_default();
        let seconds = v["duration_us"].as_f64().unwrap_or(1.0) / 1e6;
        Ok(Load {
            requests,
            seconds,
            rps: requests as f64 / seconds,
            p50_ms: us("p50_us"),
            p95_ms: us("p95_us"),
            p99_ms: us("p99_us"),
            max_ms: us("max_us"),
            errors: v["status_errors"].as_u64().unwrap_or_default()
                + v["socket_errors"].as_u64().unwrap_or_default(),
        })
    }
}

struct Service {
    child: Child,
    base: String,
    metrics: String,
}

impl Service {
    async fn wait_ready(&self) -> Result<()> {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(response) = client.get(format!("{}/readyz", self.base)).send().await {
                let body: Value = response.json().await.unwrap_or_default();
                if body["postgres"] == "up" && body["redis"] != "degraded" {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the service at {} did not become ready", self.base)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A `redis-server` of the benchmark's own, so its command counts are ours.
struct Redis {
    /// Killed when the benchmark ends.
    _server: testkit::RedisServer,
    port: u16,
    url: String,
}

impl Redis {
    fn start() -> Result<Self> {
        let server = testkit::RedisServer::start(&[
            "--maxmemory",
            "256mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ])
        .context("the benchmark needs redis-server")?;
        Ok(Self {
            port: server.port(),
            url: server.url(),
            _server: server,
        })
    }

    fn cli(&self, args: &[&str]) -> Result<String> {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .context("redis-cli")?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn flush(&self) -> Result<()> {
        self.cli(&["FLUSHALL"])?;
        self.cli(&["CONFIG", "RESETSTAT"])?;
        Ok(())
    }

    /// Commands the service sent (a script counts once, not per command inside it).
    fn commands(&self) -> Result<u64> {
        let stats = self.cli(&["INFO", "commandstats"])?;
        let mut total = 0;
        for line in stats.lines() {
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim_start_matches("cmdstat_");
            if matches!(
                name,
                "evalsha"
                    | "eval"
                    | "del"
                    | "publish"
                    | "subscribe"
                    | "ping"
                    | "hello"
                    | "client|setinfo"
                    | "script|load"
            ) {
                if name == "ping" || name.contains('|') || name == "hello" {
                    continue;
                }
                if let Some(calls) = rest
                    .strip_prefix("calls=")
                    .and_then(|r| r.split(',').next())
                {
                    total += calls.parse::<u64>().unwrap_or_default();
                }
            }
        }
        Ok(total)
    }
}

fn free_port() -> Result<u16> {
    Ok(testkit::free_port())
}

async fn scrape(url: &str) -> Result<HashMap<String, f64>> {
    let text = reqwest::get(url).await?.text().await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect())
}

fn sum(metrics: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name)
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v)
        .sum()
}

fn proc_status(pid: u32, field: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{field} of {pid}"))?;
    Ok(kb / 1024.0)
}

fn peak_rss_mb(pid: u32) -> Result<f64> {
    proc_status(pid, "VmHWM:")
}

fn current_rss_mb(pid: u32) -> Result<f64> {
    proc_status(pid, "VmRSS:")
}

/// User + system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat
        .rsplit_once(')')
        .map_or(stat.as_str(), |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of /proc/pid/stat (11 and 12 after the comm).
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn versions() -> String {
    let out = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    format!(
        "codezest-auth {}; {}; {}; {}; {}",
        env!("CARGO_PKG_VERSION"),
        out("rustc", "--version"),
        out("redis-server", "--version")
            .split(" sha=")
            .next()
            .unwrap_or_default(),
        out("psql", "--version"),
        out("wrk", "--version"),
    )
}

fn fmt_opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

fn markdown(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## `GET /api/v1/auth/me`, {} users' tokens rotating, concurrency {}, {} s per mode\n",
        r.users, r.concurrency, r.duration_s
    );
    let _ = writeln!(
        md,
        "Machine: {} ({} cores). {}\n",
        r.machine, r.cores, r.versions
    );
    let _ = writeln!(
        md,
        "| mode | req/s | × floor | p50 ms | p95 ms | p99 ms | max ms | errors | DB queries/req | PG xacts/req | Redis cmds/req | L1 hit | L2 hit | CPU s/1k req | peak RSS MB |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for m in &r.modes {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {} | {} | {:.3} | {:.1} |",
            m.mode,
            m.load.rps,
            fmt_opt(m.ratio_to_floor, 2),
            m.load.p50_ms,
            m.load.p95_ms,
            m.load.p99_ms,
            m.load.max_ms,
            m.load.errors,
            fmt_opt(m.db_queries_per_request, 4),
            fmt_opt(m.pg_transactions_per_request, 4),
            fmt_opt(m.redis_commands_per_request, 4),
            fmt_opt(m.l1_hit_ratio.map(|v| v * 100.0), 1),
            fmt_opt(m.l2_hit_ratio.map(|v| v * 100.0), 1),
            m.cpu_seconds_per_1000,
            m.peak_rss_mb
        );
    }
    let find = |name: &str| r.modes.iter().find(|m| m.mode == name).map(|m| m.load.rps);
    if let (Some(db), Some(two)) = (find(Mode::DbOnly.name()), find(Mode::TwoTier.name())) {
        let _ = writeln!(md, "\n`two-tier` = {:.2}× `db-only`", two / db);
    }
    if let (Some(db), Some(redis)) = (find(Mode::DbOnly.name()), find(Mode::RedisOnly.name())) {
        let _ = writeln!(md, "\n`redis-only` = {:.2}× `db-only`", redis / db);
    }
    let _ = writeln!(md, "\n## Writes and sign-ins (two-tier)\n");
    let _ = writeln!(
        md,
        "| workload | req/s | p50 ms | p99 ms | errors | notes |\n|---|---|---|---|---|---|"
    );
    if let Some(l) = &r.refresh {
        let _ = writeln!(
            md,
            "| `POST /auth/refresh` (rotating) | {:.0} | {:.2} | {:.2} | {} | |",
            l.rps, l.p50_ms, l.p99_ms, l.errors
        );
    }
    if let Some(l) = &r.login {
        let _ = writeln!(
            md,
            "| `POST /auth/login` (argon2id) | {:.0} | {:.2} | {:.2} | {} | {:.0} logins/s per core |",
            l.rps,
            l.p50_ms,
            l.p99_ms,
            l.errors,
            r.login_per_core.unwrap_or_default()
        );
    }
    if let Some(m) = &r.mixed {
        let _ = writeln!(
            md,
            "| mixed: 95 % `/me`, 4 % refresh, 1 % profile update | {:.0} | {:.2} | {:.2} | {} | hit ratio {} % (L1 {} %); {} of {} users' profiles stale after the run; {} Redis errors |",
            m.load.rps,
            m.load.p50_ms,
            m.load.p99_ms,
            m.load.errors,
            fmt_opt(m.overall_hit_ratio.map(|v| v * 100.0), 2),
            fmt_opt(m.l1_hit_ratio.map(|v| v * 100.0), 2),
            m.stale_profiles,
            m.users_checked,
            m.cache_errors
        );
    }
    if let Some(l) = &r.l1_bytes_per_user {
        let _ = writeln!(
            md,
            "\nL1 memory: {} users cached → RSS {:.1} → {:.1} MB, **{:.0} bytes per user** ({} L1 entries: session, user, profile; plus the verified-token cache).",
            l.users, l.rss_before_mb, l.rss_after_mb, l.bytes_per_user, l.l1_entries
        );
    }
    md
}

fn chart(r: &Report, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(450);
    let max_rps = r.modes.iter().map(|m| m.load.rps).fold(1.0, f64::max) * 1.15;
    let max_p99 = r.modes.iter().map(|m| m.load.p99_ms).fold(1.0, f64::max) * 1.15;
    for (area, title, max, value, unit) in [
        (
            &left,
            "requests/s",
            max_rps,
            (|m: &ModeResult| m.load.rps) as fn(&ModeResult) -> f64,
            "",
        ),
        (
            &right,
            "p99 latency (ms)",
            max_p99,
            |m: &ModeResult| m.load.p99_ms,
            " ms",
        ),
    ] {
        let n = r.modes.len();
        let mut chart = ChartBuilder::on(area)
            .caption(format!("GET /me — {title}"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n as f64, 0f64..max)?;
        let names: Vec<String> = r.modes.iter().map(|m| m.mode.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| names.get(*x as usize).cloned().unwrap_or_default())
            .draw()?;
        for (i, m) in r.modes.iter().enumerate() {
            let color = if m.mode.starts_with("floor") {
                RGBColor(150, 150, 150)
            } else {
                RGBColor(46, 110, 190)
            };
            let v = value(m);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, v)],
                color.filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{v:.0}{unit}"),
                (i as f64 + 0.2, v + max * 0.02),
                ("sans-serif", 12),
            )))?;
        }
    }
    root.present()?;
    Ok(())
}

/// Shared by every script: thread ids, and reading a file of lines.
const COMMON_LUA: &str = r#"
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function lines(variable)
  local all = {}
  for line in io.lines(os.getenv(variable)) do all[#all + 1] = line end
  return all
end
"#;

const DONE_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"#;

/// Each thread walks the tokens from its own offset, round and round.
const ME_LUA: &str = r#"
function init(args)
  tokens = lines("BENCH_TOKENS")
  i = id * 7919
end
function request()
  i = i + 1
  return wrk.format("GET", "/api/v1/auth/me", { ["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1] })
end
"#;

/// Every token once: thread t takes tokens t, t+T, t+2T… then idles on /healthz.
const ONCE_LUA: &str = r#"
function init(args)
  tokens = lines("BENCH_TOKENS")
  step = tonumber(os.getenv("BENCH_THREADS"))
  i = id + 1 - step
end
function request()
  i = i + step
  if i > #tokens then return wrk.format("GET", "/healthz") end
  return wrk.format("GET", "/api/v1/auth/me", { ["Authorization"] = "Bearer " .. tokens[i] })
end
"#;

/// A pool of refresh tokens per thread: each response puts the successor back.
const REFRESH_LUA: &str = r#"
function init(args)
  pool = {}
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  local n = 0
  for line in io.lines(os.getenv("BENCH_REFRESH")) do
    if n % threads == id then pool[#pool + 1] = line end
    n = n + 1
  end
end
function request()
  local token = table.remove(pool, 1)
  if token == nil then return wrk.format("GET", "/healthz") end
  return wrk.format("POST", "/api/v1/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then pool[#pool + 1] = token end
end
"#;

const LOGIN_LUA: &str = r#"
function init(args)
  users = tonumber(os.getenv("BENCH_USERS"))
  password = os.getenv("BENCH_PASSWORD")
  i = id * 7919
end
function request()
  i = i + 1
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" },
    '{"email":"bench-' .. (i % users) .. '@example.com","password":"' .. password .. '"}')
end
"#;

/// 95 % /me, 4 % refresh, 1 % profile update, per user, keeping each user's
/// newest tokens (found in responses by user id).
const MIXED_LUA: &str = r#"
function init(args)
  access, refresh, busy = {}, {}, {}
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  local a = lines("BENCH_TOKENS")
  local ids = lines("BENCH_IDS")
  owner = {}
  local n = 0
  for line in io.lines(os.getenv("BENCH_REFRESH")) do
    n = n + 1
    if n % threads == id then
      access[#access + 1] = a[n]; refresh[#refresh + 1] = line; owner[#owner + 1] = ids[n]
    end
  end
  math.randomseed(id * 12345 + os.time())
  writes = 0
end
function request()
  local u = math.random(#access)
  local r = math.random()
  if r < 0.04 and not busy[u] then
    busy[u] = true
    return wrk.format("POST", "/api/v1/auth/refresh", { ["Content-Type"] = "application/json", ["X-Bench-User"] = tostring(u) },
      '{"refresh_token":"' .. refresh[u] .. '"}')
  elseif r < 0.05 then
    writes = writes + 1
    return wrk.format("PUT", "/api/v1/users/me/profile", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. access[u] },
      '{"bio":"bench ' .. id .. '-' .. writes .. '"}')
  end
  return wrk.format("GET", "/api/v1/auth/me", { ["Authorization"] = "Bearer " .. access[u] })
end
function response(status, headers, body)
  local r = body:match('"refresh_token":"([^"]+)"')
  if r then
    local a = body:match('"access_token":"([^"]+)"')
    -- the user is the one whose refresh token is in flight with the same user id
    local user = body:match('"user":{"id":"([^"]+)"')
    for u, flag in pairs(busy) do
      if flag and owner[u] == user then access[u] = a; refresh[u] = r; busy[u] = nil; return end
    end
  end
end
"#;
