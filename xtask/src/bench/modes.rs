//! The `/me` runs: the benchmark's database, the service in each mode, the floor.

use super::procs::{Service, cpu_seconds, peak_rss_mb, scrape};
use super::*;
use crate::{root, run};

impl Bench {
    /// A fresh database with `n` users, each with a session, an access token and
    /// a refresh token, written straight to PostgreSQL (hashing `n` passwords
    /// through the API would take minutes): every user has the same argon2id
    /// hash of [`PASSWORD`].
    pub(super) async fn prepare_database(&mut self, n: usize) -> Result<()> {
        // Tokens of an earlier run name other users.
        let _ = std::fs::remove_file(self.dir.join("access-tokens-hs256.txt"));
        testkit::TestDatabase::recreate("codezest_bench").await?;
        let mut migrate = Command::new(&self.binary);
        migrate
            .arg("migrate")
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        run(migrate)?;
        let hash = domain::password::PasswordHasher::owasp()
            .hash_new(
                &domain::Password::parse(PASSWORD.into(), "password")
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?,
                &[],
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let refresh = RefreshTokens::from_key_material(b"bench: any key makes first tokens");
        let mut db = PgConnection::connect(&self.database_url).await?;
        let now = OffsetDateTime::now_utc();
        let mut access_lines = String::new();
        let mut refresh_lines = String::new();
        let mut rp_lines = String::new();
        self.rp = provider::BenchRp::register(&mut db, &self.dir).await?;
        self.users.clear();
        for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
            let mut ids = Vec::new();
            let mut emails = Vec::new();
            let mut sessions = Vec::new();
            let mut hashes = Vec::new();
            let mut client_sessions = Vec::new();
            let mut client_hashes = Vec::new();
            for i in chunk {
                let (user, session) = (UserId::new(), SessionId::new());
                let token = refresh.issue();
                ids.push(user.as_uuid());
                emails.push(format!("bench-{i}@example.com"));
                sessions.push(session.as_uuid());
                hashes.push(token.hash().as_bytes().to_vec());
                let access = self
                    .eddsa
                    .issue(
                        user,
                        session,
                        now,
                        domain::Amr::PWD,
                        domain::tokens::Claimed::default(),
                        now,
                    )
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                writeln!(access_lines, "{access}")?;
                writeln!(refresh_lines, "{}", token.expose())?;
                self.users.push((user, session));
                // The relying party's session, a child of the user's, and its token.
                let client_session = SessionId::new();
                client_sessions.push(client_session.as_uuid());
                client_hashes.push(refresh.issue().hash().as_bytes().to_vec());
                let roles: [String; 0] = [];
                let claimed = domain::tokens::Claimed {
                    roles: &roles,
                    email_verified: true,
                    client: Some((self.rp.id, provider::BenchRp::scopes())),
                };
                let rp_access = self
                    .eddsa
                    .issue(user, client_session, now, domain::Amr::PWD, claimed, now)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                writeln!(rp_lines, "{rp_access}")?;
            }
            sqlx::query(
                "INSERT INTO users (id, email, name, password_hash, email_verified)
                 SELECT id, email, 'Bench User', $3, true
                 FROM UNNEST($1::uuid[], $2::text[]) AS t(id, email)",
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
            sqlx::query(
                "INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at, client_id,
                                       parent_id, scopes, amr)
                 SELECT s, u, h, now() + interval '30 days', $4, p, $5, '{pwd}'
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[], $6::uuid[]) AS t(s, u, h, p)",
            )
            .bind(&client_sessions)
            .bind(&ids)
            .bind(&client_hashes)
            .bind(self.rp.id.as_uuid())
            .bind(provider::BenchRp::scopes().names())
            .bind(&sessions)
            .execute(&mut db)
            .await?;
        }
        std::fs::write(&self.rp.tokens_file, rp_lines)?;
        let ids: String = self
            .users
            .iter()
            .map(|(user, _)| format!("{user}\n"))
            .collect();
        std::fs::write(self.dir.join("user-ids.txt"), ids)?;
        self.client_auth = api_client(&mut db).await?;
        std::fs::write(&self.tokens_file, access_lines)?;
        std::fs::write(&self.refresh_file, refresh_lines)?;
        Ok(())
    }

    pub(super) fn write_lua(&self) -> Result<()> {
        for (name, body) in [
            ("me.lua", ME_LUA),
            ("refresh.lua", REFRESH_LUA),
            ("login.lua", LOGIN_LUA),
            ("page.lua", PAGE_LUA),
            ("form_login.lua", FORM_LOGIN_LUA),
            ("mixed.lua", MIXED_LUA),
            ("once.lua", ONCE_LUA),
            ("form.lua", FORM_LUA),
            ("exchange.lua", EXCHANGE_LUA),
        ] {
            std::fs::write(
                self.dir.join(name),
                format!("{COMMON_LUA}\n{body}\n{DONE_LUA}"),
            )?;
        }
        Ok(())
    }

    pub(super) fn service_env(
        &self,
        mode: Mode,
        port: u16,
        metrics_port: u16,
    ) -> Vec<(String, String)> {
        let limits = if self.options.limits {
            "100000000"
        } else {
            "0"
        };
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", self.database_url.as_str()),
            ("REDIS_URL", self.redis.url.as_str()),
            ("JWT_PRIVATE_KEY_FILE", &self.key_file.display().to_string()),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", AUDIENCE),
            ("ACCESS_TOKEN_TTL", "7200"),
            // On: every check runs (shared GCRA in Redis, the lockout) at quotas
            // the load never reaches; off: no check at all.
            ("RATE_LIMIT_PER_IP", limits),
            ("RATE_LIMIT_LOGIN_PER_EMAIL", limits),
            // No RUST_LOG: the service logs as it does for an operator (info,
            // one access line per request). Running it at `warn` hid that cost.
            ("DATABASE_MAX_CONNECTIONS", "20"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        env.extend(self.options.service_env.iter().cloned());
        env.push(("BIND_ADDR".into(), format!("127.0.0.1:{port}")));
        env.push(("METRICS_ADDR".into(), format!("127.0.0.1:{metrics_port}")));
        match mode {
            Mode::DbOnly => env.push(("CACHE_ENABLED".into(), "false".into())),
            Mode::RedisOnly => env.push(("CACHE_L1_MAX_ENTRIES".into(), "0".into())),
            Mode::TwoTierHs256 => {
                env.push(("JWT_ALGORITHM".into(), "HS256".into()));
                env.push(("JWT_SECRET".into(), HS256_SECRET.into()));
            }
            Mode::TwoTier
            | Mode::ForwardAuth
            | Mode::Introspection
            | Mode::Userinfo
            | Mode::Floor
            | Mode::FloorEddsa => {}
        }
        env
    }

    pub(super) async fn start_service(&self, mode: Mode) -> Result<Service> {
        self.start_service_with(mode, &[]).await
    }

    pub(super) async fn start_service_with(
        &self,
        mode: Mode,
        extra: &[(&str, String)],
    ) -> Result<Service> {
        self.redis.flush()?;
        self.spawn_service(mode, extra, mode.name()).await
    }

    /// A second instance beside a running one: the same database and Redis,
    /// nothing flushed.
    pub(super) async fn start_peer(&self, mode: Mode) -> Result<Service> {
        let log = format!("{}-peer", mode.name());
        self.spawn_service(mode, &[], &log).await
    }

    async fn spawn_service(
        &self,
        mode: Mode,
        extra: &[(&str, String)],
        log: &str,
    ) -> Result<Service> {
        let (port, metrics_port) = (testkit::free_port(), testkit::free_port());
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .envs(self.service_env(mode, port, metrics_port))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                self.dir.join(format!("server-{log}.log")),
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

    pub(super) async fn service_mode(&mut self, mode: Mode) -> Result<ModeResult> {
        let service = self.start_service(mode).await?;
        let pid = service.child.id();
        // The service's tokens for its algorithm.
        let tokens_file = if mode.hs256() {
            self.hs256_tokens()?
        } else if mode == Mode::Userinfo {
            self.rp.tokens_file.clone()
        } else {
            self.tokens_file.clone()
        };
        if self.me_body_len == 0 && mode != Mode::Userinfo {
            self.me_body_len = me_body_len(&service.base, &tokens_file).await?;
        }
        let mut tokens = vec![
            ("BENCH_TOKENS", tokens_file.display().to_string()),
            ("BENCH_PATH", mode.path().to_owned()),
        ];
        if mode == Mode::Introspection {
            self.check_introspection(&service.base, &tokens_file)
                .await?;
            tokens.push(("BENCH_CLIENT_AUTH", self.client_auth.clone()));
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
        let delta = |name: &str, labels: &[(&str, &str)]| {
            testkit::metric_sum(&m1, name, labels) - testkit::metric_sum(&m0, name, labels)
        };
        let ratio = |hit: f64, miss: f64| (hit + miss > 0.0).then(|| hit / (hit + miss));
        let mut load = load;
        if mode == Mode::Introspection {
            // Every token is active: an `active: false` (a 200) is an error too.
            let refused = delta("introspection_total", &[("outcome", "inactive")])
                + delta("introspection_total", &[("outcome", "invalid_client")]);
            load.errors += refused as u64;
        }
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
    pub(super) fn hs256_tokens(&self) -> Result<std::path::PathBuf> {
        let file = self.dir.join("access-tokens-hs256.txt");
        if file.exists() {
            return Ok(file);
        }
        let keys = AccessTokens::from_config(&jwt_config(JwtAlgorithm::HS256, HS256_SECRET))?;
        let now = OffsetDateTime::now_utc();
        let mut lines = String::new();
        for (user, session) in &self.users {
            writeln!(
                lines,
                "{}",
                keys.issue(
                    *user,
                    *session,
                    now,
                    domain::Amr::PWD,
                    domain::tokens::Claimed::default(),
                    now
                )?
            )?;
        }
        std::fs::write(&file, lines)?;
        Ok(file)
    }

    pub(super) async fn floor_mode(&self, mode: Mode) -> Result<ModeResult> {
        let (algorithm, key, tokens_file) = if mode == Mode::Floor {
            ("HS256", HS256_SECRET.to_owned(), self.hs256_tokens()?)
        } else {
            (
                "EdDSA",
                self.key_file.display().to_string(),
                self.tokens_file.clone(),
            )
        };
        let port = testkit::free_port();
        let child =
            Command::new(root().join(format!("target/{}/bench-floor", self.options.profile())))
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
}

/// The size of the service's `/me` body, which the floor answers with too.
/// An API client for the introspection runs, written straight to PostgreSQL
/// as `codezest-auth clients create` would: its `Authorization: Basic …`.
async fn api_client(db: &mut PgConnection) -> Result<String> {
    use base64::Engine as _;
    let (id, secret) = (uuid::Uuid::now_v7(), domain::ports::ClientSecret::random());
    sqlx::query("INSERT INTO api_clients (id, name, secret_hash) VALUES ($1, 'bench', $2)")
        .bind(id)
        .bind(secret.hash().as_bytes().as_slice())
        .execute(db)
        .await?;
    let credentials = format!("{id}:{}", secret.expose());
    Ok(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    ))
}

impl Bench {
    /// One token introspected before the load: it must be active.
    async fn check_introspection(&self, base: &str, tokens_file: &Path) -> Result<()> {
        let token = std::fs::read_to_string(tokens_file)?
            .lines()
            .next()
            .context("no tokens")?
            .to_owned();
        let answer: Value = reqwest::Client::new()
            .post(format!("{base}/oauth2/introspect"))
            .header("authorization", &self.client_auth)
            .form(&[("token", token)])
            .send()
            .await?
            .json()
            .await?;
        if answer["active"] != true {
            bail!("introspection answered {answer} for a valid token");
        }
        Ok(())
    }
}

async fn me_body_len(base: &str, tokens_file: &Path) -> Result<usize> {
    let tokens = std::fs::read_to_string(tokens_file)?;
    let token = tokens.lines().next().context("tokens")?;
    let body = reqwest::Client::new()
        .get(format!("{base}{}", paths::ME))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    Ok(body.len())
}
