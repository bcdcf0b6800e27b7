//! `cargo xtask bench`: the seed's benchmark (`GET /api/v1/auth/me` at
//! concurrency 100 with users' tokens rotating), in every mode in one run, with
//! the floor of this machine beside it. Load comes from `wrk`.
//!
//! Modes: `db-only` (`CACHE_ENABLED=false`), `redis-only` (L1 off),
//! `two-tier`, `floor` (a minimal axum server in this process verifying HS256
//! tokens with the service's own verification code and answering a body of the
//! same size) and `floor-eddsa` (the same, with the service's EdDSA tokens).
//! Then refresh and login throughput, a mixed workload (95 % `/me`, 4 % refresh,
//! 1 % profile update) with a coherence check, the OpenID provider (userinfo
//! as a mode; `client_credentials` grants, full code exchanges and the
//! back-channel logout's delay in `provider.rs`), and L1 bytes per cached user.
//!
//! Results: `target/bench/results.{md,json}` and `target/bench/throughput.svg`.
//!
//! `modes.rs` runs `/me` in each mode, `workloads.rs` the writes, sign-ins and
//! memory, `procs.rs` the processes and their readings, `report.rs` the output;
//! the `wrk` scripts are in `xtask/lua/`.

mod mail;
mod mfa;
mod modes;
mod procs;
mod provider;
mod report;
mod revocation;
mod workloads;

use api_types::paths;
use procs::Redis;
use report::{chart, machine, markdown, versions};

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use domain::{
    SessionId, UserId, refresh::RefreshTokens, tokens::AccessTokens, tokens::JwtAlgorithm,
    tokens::JwtConfig,
};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection};
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
    /// `two-tier`, loading forward-auth (`GET /api/v1/auth/verify`) instead of `/me`.
    ForwardAuth,
    /// `two-tier`, loading RFC 7662 introspection (`POST /oauth2/introspect`,
    /// a form, HTTP Basic client authentication) instead of `/me`.
    Introspection,
    /// `two-tier`, loading the OpenID provider's userinfo
    /// (`GET /oauth2/userinfo`) with a relying party's access tokens.
    Userinfo,
    /// `bench-floor` verifying HS256 tokens.
    Floor,
    /// `bench-floor` verifying EdDSA tokens.
    FloorEddsa,
}

impl Mode {
    const ALL: [Mode; 9] = [
        Mode::DbOnly,
        Mode::RedisOnly,
        Mode::TwoTier,
        Mode::TwoTierHs256,
        Mode::ForwardAuth,
        Mode::Introspection,
        Mode::Userinfo,
        Mode::Floor,
        Mode::FloorEddsa,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::DbOnly => "db-only",
            Mode::RedisOnly => "redis-only",
            Mode::TwoTier => "two-tier",
            Mode::TwoTierHs256 => "two-tier-hs256",
            Mode::ForwardAuth => "forward-auth",
            Mode::Introspection => "introspection",
            Mode::Userinfo => "userinfo",
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

    /// The path its measured load requests.
    fn path(self) -> &'static str {
        match self {
            Mode::ForwardAuth => paths::VERIFY,
            Mode::Introspection => paths::INTROSPECT,
            Mode::Userinfo => paths::OIDC_USERINFO,
            _ => paths::ME,
        }
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
    /// Rate limits and the login lockout checked on every credential request
    /// (at quotas no load here reaches), as in production; `--limits off`
    /// measures without the limit checks.
    limits: bool,
    /// `--service-env K=V` (repeatable): set for every instance of the
    /// service, e.g. `ACCESS_LOG=off` or `RUST_LOG=warn` for an A/B.
    service_env: Vec<(String, String)>,
    /// `--binary PATH`: bench this build of the service (an earlier commit's,
    /// for an A/B) instead of building the release binary.
    binary: Option<PathBuf>,
    /// `--modes-only`: the modes' runs alone (e.g. `--modes floor,two-tier,
    /// forward-auth,two-tier,forward-auth` for an interleaved A/B), none of the
    /// write, mail, revocation and memory stages.
    modes_only: bool,
}

impl Options {
    /// `--quick` (the CI smoke run) builds without link-time optimisation, in
    /// a fraction of the time; its numbers are a smoke test's, not the
    /// release build's.
    fn profile(&self) -> &'static str {
        if self.quick { "quick" } else { "release" }
    }

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
            limits: true,
            modes_only: false,
            service_env: Vec::new(),
            binary: None,
        };
        use lexopt::prelude::*;
        const USAGE: &str = "options: --quick --users N --concurrency N --duration SECONDS \
             --warmup SECONDS --large-users N --limits on|off --modes-only --service-env K=V --binary PATH \
             --modes db-only,redis-only,two-tier,two-tier-hs256,forward-auth,introspection,userinfo,floor,floor-eddsa";
        let mut parser = lexopt::Parser::from_args(args);
        while let Some(arg) = parser.next()? {
            match arg {
                Long("quick") => {}
                Long("modes-only") => options.modes_only = true,
                Long("binary") => options.binary = Some(parser.value()?.into()),
                Long("service-env") => {
                    let pair = parser.value()?.string()?;
                    let (key, value) = pair
                        .split_once('=')
                        .ok_or_else(|| anyhow::anyhow!("--service-env {pair}: K=V"))?;
                    options.service_env.push((key.to_owned(), value.to_owned()));
                }
                Long("users") => options.users = parser.value()?.parse()?,
                Long("concurrency") => options.concurrency = parser.value()?.parse()?,
                Long("duration") => options.duration = parser.value()?.parse()?,
                Long("warmup") => options.warmup = parser.value()?.parse()?,
                Long("large-users") => options.large_users = parser.value()?.parse()?,
                Long("limits") => {
                    options.limits = match parser.value()?.string()?.as_str() {
                        "on" => true,
                        "off" => false,
                        other => bail!("--limits {other}: on or off"),
                    }
                }
                Long("modes") => {
                    options.modes = parser
                        .value()?
                        .string()?
                        .split(',')
                        .map(Mode::parse)
                        .collect::<Result<_>>()?;
                }
                other => bail!("{}; {USAGE}", other.unexpected()),
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
    rate_limits: bool,
    modes: Vec<ModeResult>,
    refresh: Option<Load>,
    login: Option<Load>,
    login_per_core: Option<f64>,
    /// `GET /ui/sign-in`, a first visit.
    sign_in_page: Option<Load>,
    /// `POST /ui/sign-in`, the form a browser posts (argon2 like the JSON login).
    form_login: Option<Load>,
    /// The JSON login run again after the form's, to compare like with like.
    login_again: Option<Load>,
    mixed: Option<Mixed>,
    mail: Option<mail::MailDrain>,
    revocation: Option<revocation::Revocation>,
    provider: Option<provider::Provider>,
    mfa: Option<mfa::Mfa>,
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
    eddsa: Arc<AccessTokens>,
    tokens_file: PathBuf,
    refresh_file: PathBuf,
    users: Vec<(UserId, SessionId)>,
    me_body_len: usize,
    /// `Basic …` of the API client the introspection runs authenticate as.
    client_auth: String,
    /// The relying party every user signed in to (a client session beside
    /// each user's session), and its access tokens, one per user.
    rp: provider::BenchRp,
}

pub(crate) fn bench(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let admin_url = env_or("TEST_DATABASE_URL", crate::DEFAULT_TEST_DATABASE_URL);
    ensure_postgres(&admin_url)?;
    ensure_redis(&env_or("TEST_REDIS_URL", crate::DEFAULT_REDIS_URL))?;
    ensure_wrk()?;
    crate::ensure_openssl()?;
    let profile = options.profile();
    if options.binary.is_none() {
        println!("xtask bench: building the service ({profile} profile)");
        let mut build = cargo();
        build.args([
            "build",
            "--profile",
            profile,
            "--package",
            "app",
            "--bin",
            "codezest-auth",
        ]);
        run(build)?;
    }
    let mut floor = cargo();
    floor.args([
        "build",
        "--profile",
        profile,
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
    let mut bench = Bench::new(options, admin_url)?;
    let mut report = Report {
        machine: machine(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        versions: versions(),
        users: bench.options.users,
        concurrency: bench.options.concurrency,
        duration_s: bench.options.duration,
        rate_limits: bench.options.limits,
        ..Report::default()
    };
    println!(
        "xtask bench: {} users, concurrency {}, {} s per mode on {} ({} cores), rate limits {}",
        report.users,
        report.concurrency,
        report.duration_s,
        report.machine,
        report.cores,
        if report.rate_limits { "on" } else { "off" }
    );
    bench.prepare_database(bench.options.users).await?;
    bench.write_lua()?;
    bench.me_modes(&mut report).await?;
    if !bench.options.modes_only {
        bench.throughput(&mut report).await?;
        report.mfa = Some(bench.mfa().await?);
        bench.prepare_database(bench.options.users).await?;
        report.mail = Some(bench.mail_drain().await?);
        report.revocation = Some(bench.revocation().await?);
        bench.prepare_database(bench.options.users).await?;
        report.provider = Some(bench.provider().await?);
        report.l1_bytes_per_user = Some(bench.large_l1().await?);
    }
    write_report(&report, &bench.dir)?;
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

impl Bench {
    /// Its own `redis-server` and EdDSA key; the database comes later.
    fn new(options: Options, admin_url: String) -> Result<Self> {
        let dir = root().join("target/bench");
        std::fs::create_dir_all(&dir)?;
        let redis = Redis::start()?;
        let pem = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)?
            .to_string();
        let key_file = dir.join("jwt-ed25519.pem");
        std::fs::write(&key_file, &pem)?;
        let eddsa = Arc::new(AccessTokens::from_config(&jwt_config(
            JwtAlgorithm::EdDSA,
            &pem,
        ))?);
        Ok(Self {
            binary: options.binary.clone().unwrap_or_else(|| {
                root().join(format!("target/{}/codezest-auth", options.profile()))
            }),
            tokens_file: dir.join("access-tokens.txt"),
            refresh_file: dir.join("refresh-tokens.txt"),
            database_url: testkit::with_database(&admin_url, "codezest_bench"),
            dir,
            admin_url,
            redis,
            key_file,
            eddsa,
            users: Vec::new(),
            me_body_len: 0,
            client_auth: String::new(),
            rp: provider::BenchRp::default(),
            options,
        })
    }

    /// `GET /me` in every mode asked for, each with its ratio to the floor.
    async fn me_modes(&mut self, report: &mut Report) -> Result<()> {
        for mode in self.options.modes.clone() {
            let result = if mode.is_floor() {
                self.floor_mode(mode).await?
            } else {
                self.service_mode(mode).await?
            };
            println!(
                "  {:<14} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
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
        Ok(())
    }
}

/// `results.md`, `results.json` and `throughput.svg` in `dir`.
fn write_report(report: &Report, dir: &Path) -> Result<()> {
    let markdown = markdown(report);
    std::fs::write(dir.join("results.md"), &markdown)?;
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    chart(report, &dir.join("throughput.svg"))?;
    println!("\n{markdown}");
    println!(
        "xtask bench: wrote {}/results.md, results.json, throughput.svg",
        dir.display()
    );
    Ok(())
}

/// The `q` quantile of `samples` (nearest rank).
fn percentile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn jwt_config(algorithm: JwtAlgorithm, key: &str) -> JwtConfig {
    JwtConfig {
        algorithm,
        signing_key: Some(key.to_owned().into()),
        previous_keys: vec![],
        issuer: ISSUER.parse().expect("a valid issuer"),
        audience: AUDIENCE.into(),
        access_ttl: time::Duration::hours(2),
    }
}

/// Shared by every script: thread ids, and reading a file of lines.
const COMMON_LUA: &str = include_str!("../../lua/common.lua");

const DONE_LUA: &str = include_str!("../../lua/done.lua");

/// Each thread walks the tokens from its own offset, round and round.
const ME_LUA: &str = include_str!("../../lua/me.lua");

/// Every token once: thread t takes tokens t, t+T, t+2T… then idles on /healthz.
const ONCE_LUA: &str = include_str!("../../lua/once.lua");

/// A pool of refresh tokens per thread: each response puts the successor back.
const REFRESH_LUA: &str = include_str!("../../lua/refresh.lua");

const LOGIN_LUA: &str = include_str!("../../lua/login.lua");

/// A fixed form POST (the `client_credentials` grant).
const FORM_LUA: &str = include_str!("../../lua/form.lua");

/// Every authorization code once, at the token endpoint.
const EXCHANGE_LUA: &str = include_str!("../../lua/exchange.lua");

/// The hosted sign-in page, rendered for a first visit.
const PAGE_LUA: &str = include_str!("../../lua/page.lua");

/// A password sign-in through the hosted page's form.
const FORM_LOGIN_LUA: &str = include_str!("../../lua/form_login.lua");

/// 95 % /me, 4 % refresh, 1 % profile update, per user, keeping each user's
/// newest tokens (found in responses by user id).
const MIXED_LUA: &str = include_str!("../../lua/mixed.lua");
