//! The OpenID provider under load, beside the `userinfo` mode: `client_credentials`
//! grants per second, full authorization-code exchanges per second (the code
//! spent and the client session opened in one statement, an RS256 ID token and
//! an access token signed), and the back-channel logout's delay — a user's
//! logout to the relying party's receipt of the signed logout token, through
//! the durable outbox — measured by a relying party's endpoint in this process.

use std::sync::Mutex;

use axum::extract::State;
use base64::Engine as _;
use domain::{ClientId, oidc::Scope, oidc::Scopes};
use futures::StreamExt as _;

use super::procs::scrape;
use super::*;

/// Where the relying party is sent back to (never followed: codes are made
/// straight in the database).
const REDIRECT_URI: &str = "https://rp.bench.example/cb";

/// The relying party of the benchmark.
#[derive(Debug, Clone)]
pub(super) struct BenchRp {
    pub(super) id: ClientId,
    /// Its `Authorization: Basic …`.
    pub(super) auth: String,
    /// One access token per user, issued to it (`sid`: its client session).
    pub(super) tokens_file: PathBuf,
}

impl Default for BenchRp {
    fn default() -> Self {
        Self {
            id: ClientId::new(),
            auth: String::new(),
            tokens_file: PathBuf::new(),
        }
    }
}

impl BenchRp {
    /// What every user granted it.
    pub(super) fn scopes() -> Scopes {
        [Scope::OpenId, Scope::Profile, Scope::Email]
            .into_iter()
            .collect()
    }

    /// Registered straight in PostgreSQL, as `codezest-auth clients create
    /// Bench --redirect-uri …` would.
    pub(super) async fn register(db: &mut PgConnection, dir: &Path) -> Result<Self> {
        let (id, secret) = (ClientId::new(), domain::ports::ClientSecret::random());
        sqlx::query(
            "INSERT INTO api_clients (id, name, secret_hash, redirect_uris, first_party)
             VALUES ($1, 'bench relying party', $2, $3, true)",
        )
        .bind(id.as_uuid())
        .bind(secret.hash().as_bytes().as_slice())
        .bind(vec![REDIRECT_URI.to_owned()])
        .execute(db)
        .await?;
        let credentials = format!("{id}:{}", secret.expose());
        Ok(Self {
            id,
            auth: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ),
            tokens_file: dir.join("access-tokens-rp.txt"),
        })
    }
}

/// What the provider stage measured.
#[derive(Debug, Default, Serialize)]
pub(super) struct Provider {
    pub(super) client_credentials: Load,
    /// Exchanges answered 200 (the load's other requests idle once the codes
    /// are spent).
    pub(super) code_exchanges: usize,
    pub(super) code_exchanges_per_s: f64,
    pub(super) code_exchange_p50_ms: f64,
    pub(super) code_exchange_p99_ms: f64,
    pub(super) backchannel_logouts: usize,
    pub(super) backchannel_p50_ms: f64,
    pub(super) backchannel_p99_ms: f64,
    pub(super) backchannel_max_ms: f64,
}

/// What the relying party's logout endpoint received: when, by `sid`.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<HashMap<String, Instant>>>);

async fn receive(State(received): State<Received>, body: String) -> axum::http::StatusCode {
    let at = Instant::now();
    // `logout_token=…` (a JWT is URL-safe: nothing to decode).
    let sid = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("logout_token="))
        .and_then(|token| token.split('.').nth(1))
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
        .and_then(|claims| claims["sid"].as_str().map(str::to_owned));
    match sid {
        Some(sid) => {
            received.0.lock().unwrap().entry(sid).or_insert(at);
            axum::http::StatusCode::OK
        }
        None => axum::http::StatusCode::BAD_REQUEST,
    }
}

impl Bench {
    pub(super) async fn provider(&mut self) -> Result<Provider> {
        let mut provider = Provider::default();
        let service = self.start_service(Mode::TwoTier).await?;

        // client_credentials: one confidential client, again and again.
        println!("xtask bench: provider — client_credentials grants");
        let grant = [
            ("BENCH_PATH", paths::OIDC_TOKEN.to_owned()),
            ("BENCH_BODY", "grant_type=client_credentials".to_owned()),
            ("BENCH_CLIENT_AUTH", self.rp.auth.clone()),
        ];
        self.wrk(
            &service.base,
            "form.lua",
            self.options.warmup,
            self.options.concurrency,
            &grant,
        )?;
        provider.client_credentials = self.wrk(
            &service.base,
            "form.lua",
            self.options.duration,
            self.options.concurrency,
            &grant,
        )?;

        // Code exchanges: codes made straight in the database, each spent once.
        let codes = self
            .codes(if self.options.quick { 3_000 } else { 20_000 })
            .await?;
        println!("xtask bench: provider — {codes} authorization code exchanges");
        let m0 = scrape(&service.metrics).await?;
        let exchange = self.wrk(
            &service.base,
            "exchange.lua",
            self.options.duration,
            self.options.concurrency,
            &[
                (
                    "BENCH_CODES",
                    self.dir.join("codes.txt").display().to_string(),
                ),
                ("BENCH_REDIRECT", REDIRECT_URI.to_owned()),
                ("BENCH_CLIENT_AUTH", self.rp.auth.clone()),
            ],
        )?;
        let m1 = scrape(&service.metrics).await?;
        let labels = [("route", paths::OIDC_TOKEN), ("status", "200")];
        let spent = (testkit::metric_sum(&m1, "http_requests_total", &labels)
            - testkit::metric_sum(&m0, "http_requests_total", &labels))
            as usize;
        let refused =
            testkit::metric_sum(&m1, "http_requests_total", &[("route", paths::OIDC_TOKEN)])
                - testkit::metric_sum(&m0, "http_requests_total", &[("route", paths::OIDC_TOKEN)])
                - spent as f64;
        if refused > 0.0 || exchange.errors > 0 {
            bail!(
                "{refused} code exchanges were refused, {} errors",
                exchange.errors
            );
        }
        // Until the codes ran out, when the load went idle.
        let busy = exchange
            .seconds
            .min(spent as f64 / exchange.rps.max(1.0))
            .max(1e-3);
        provider.code_exchanges = spent;
        provider.code_exchanges_per_s = if spent >= codes {
            spent as f64 / busy
        } else {
            spent as f64 / exchange.seconds
        };
        provider.code_exchange_p50_ms = exchange.p50_ms;
        provider.code_exchange_p99_ms = exchange.p99_ms;
        service.stop();

        let (logouts, delays) = self.backchannel_delays().await?;
        provider.backchannel_logouts = logouts;
        provider.backchannel_p50_ms = percentile(&delays, 0.50);
        provider.backchannel_p99_ms = percentile(&delays, 0.99);
        provider.backchannel_max_ms = delays.iter().copied().fold(0.0, f64::max);
        println!(
            "  provider     client_credentials {:.0}/s (p99 {:.2} ms); code exchanges {:.0}/s ({} codes, p99 {:.2} ms); back-channel logout p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} logouts)",
            provider.client_credentials.rps,
            provider.client_credentials.p99_ms,
            provider.code_exchanges_per_s,
            provider.code_exchanges,
            provider.code_exchange_p99_ms,
            provider.backchannel_p50_ms,
            provider.backchannel_p99_ms,
            provider.backchannel_max_ms,
            provider.backchannel_logouts,
        );
        Ok(provider)
    }

    /// `n` authorization codes of the relying party for the users' sessions,
    /// as `/oauth2/authorize` stores them (SHA-256 only), in `codes.txt`.
    async fn codes(&self, n: usize) -> Result<usize> {
        let refresh = RefreshTokens::from_key_material(b"bench: codes");
        let mut db = PgConnection::connect(&self.database_url).await?;
        let mut lines = String::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
            let (mut hashes, mut users, mut sessions) = (Vec::new(), Vec::new(), Vec::new());
            for i in chunk {
                let (user, session) = self.users[i % self.users.len()];
                let code = refresh.issue();
                writeln!(lines, "{}", code.expose())?;
                hashes.push(code.hash().as_bytes().to_vec());
                users.push(user.as_uuid());
                sessions.push(session.as_uuid());
            }
            sqlx::query(
                "INSERT INTO oidc_codes (code_hash, client_id, redirect_uri, user_id, session_id,
                                         scopes, nonce, expires_at)
                 SELECT h, $4, $5, u, s, $6, 'bench-nonce', now() + interval '1 hour'
                 FROM UNNEST($1::bytea[], $2::uuid[], $3::uuid[]) AS t(h, u, s)",
            )
            .bind(&hashes)
            .bind(&users)
            .bind(&sessions)
            .bind(self.rp.id.as_uuid())
            .bind(REDIRECT_URI)
            .bind(BenchRp::scopes().names())
            .execute(&mut db)
            .await?;
        }
        std::fs::write(self.dir.join("codes.txt"), lines)?;
        Ok(n)
    }

    /// Users log out at 100/s (up to 16 in flight); each logout's start to
    /// the relying party's receipt of the logout token naming that session.
    async fn backchannel_delays(&mut self) -> Result<(usize, Vec<f64>)> {
        let received = Received::default();
        let router = axum::Router::new()
            .route("/backchannel-logout", axum::routing::post(receive))
            .with_state(received.clone());
        // On a thread and runtime of its own, so nothing the bench does
        // delays a receipt.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let uri = format!(
            "http://127.0.0.1:{}/backchannel-logout",
            listener.local_addr()?.port()
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await?;
                Ok(())
            })
        });
        let mut db = PgConnection::connect(&self.database_url).await?;
        sqlx::query("UPDATE api_clients SET backchannel_logout_uri = $2 WHERE id = $1")
            .bind(self.rp.id.as_uuid())
            .bind(&uri)
            .execute(&mut db)
            .await?;
        let service = self.start_service(Mode::TwoTier).await?;
        let count = self
            .users
            .len()
            .min(if self.options.quick { 200 } else { 1_000 });
        println!("xtask bench: provider — back-channel logout delay, {count} logouts");
        let tokens: Vec<String> = std::fs::read_to_string(&self.tokens_file)?
            .lines()
            .take(count)
            .map(str::to_owned)
            .collect();
        let client = reqwest::Client::new();
        let started: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let jobs = tokens
            .into_iter()
            .zip(self.users.iter().map(|(_, session)| session.to_string()));
        let logout_url = format!("{}{}", service.base, paths::LOGOUT);
        // At a steady 100 logouts/s (a busy platform's rate; a burst beyond
        // what the sender signs per second measures its queue, not its delay).
        let pace = Duration::from_millis(10);
        let began = Instant::now();
        futures::stream::iter(jobs.enumerate())
            .map(|(n, (token, sid))| {
                let (client, started, url) = (client.clone(), Arc::clone(&started), &logout_url);
                async move {
                    let due = began + pace * n as u32;
                    tokio::time::sleep_until(due.into()).await;
                    started.lock().unwrap().insert(sid, Instant::now());
                    let response = client.post(url).bearer_auth(token).send().await?;
                    if response.status() != reqwest::StatusCode::NO_CONTENT {
                        bail!("logout answered {}", response.status());
                    }
                    Ok(())
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<Result<()>>>()
            .await
            .into_iter()
            .collect::<Result<()>>()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while received.0.lock().unwrap().len() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let retries = testkit::metric_sum(
            &scrape(&service.metrics).await?,
            "backchannel_logout_total",
            &[("outcome", "retry")],
        );
        service.stop();
        let _ = stop.send(());
        let _ = server.join();
        if retries > 0.0 {
            println!("  (the service retried {retries} deliveries)");
        }
        let received = received.0.lock().unwrap();
        if received.len() < count {
            bail!(
                "the relying party received {} of {count} logout tokens within 30 s",
                received.len()
            );
        }
        let started = started.lock().unwrap();
        let delays = started
            .iter()
            .filter_map(|(sid, at)| received.get(sid).map(|got| got.duration_since(*at)))
            .map(|delay| delay.as_secs_f64() * 1000.0)
            .collect();
        Ok((count, delays))
    }
}
