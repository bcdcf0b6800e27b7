use api_types::paths;
use std::collections::HashMap;
use std::path::PathBuf;

use api_types::{Problem, TokenResponse};
use app::config::Config;
use app::startup::{self, Application};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    /// Where `/metrics` is served.
    pub metrics_address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    /// The PKCS#8 PEM the app signs with, so tests can forge tokens.
    pub signing_pem: String,
    /// What the app was configured with, so a peer instance can share it.
    pub env: HashMap<String, String>,
    #[cfg(feature = "cache")]
    pub cache: Option<cache_redis::Cache>,
}

/// A signed-in user.
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    /// The token response, read as the type the service wrote it with.
    pub response: TokenResponse,
}

impl Tokens {
    pub fn from_body(body: Value) -> Self {
        let response: TokenResponse = serde_json::from_value(body).expect("a token response");
        Self {
            access: response.access_token.clone(),
            refresh: response.refresh_token.clone(),
            user_id: response.user.id.to_string(),
            response,
        }
    }
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        // Kept for the whole run: dropping it would stop the log writer.
        std::mem::forget(app::telemetry::init(&app::config::TelemetrySettings {
            log_format: app::config::LogFormat::Pretty,
            access_log: false,
            otlp_endpoint: None,
        }));
    }
}

fn write_temp(contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("czt-key-{}.pem", Uuid::new_v4().simple()));
    std::fs::write(&path, contents).expect("write temp key");
    path
}

/// The provider's RSA key for every app of this test binary (one key
/// generation, not one per app; peers must share it anyway), in a file kept
/// while the binary runs.
pub fn oidc_rsa_key_file() -> &'static str {
    static FILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key");
        let pem = key.to_pkcs8_pem(LineEnding::LF).expect("encode RSA key");
        let path = std::env::temp_dir().join(format!("czt-oidc-rsa-{}.pem", std::process::id()));
        std::fs::write(&path, pem.as_bytes()).expect("write RSA key");
        path.display().to_string()
    })
}

pub fn ed25519_pem() -> String {
    ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng)
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .expect("encode key")
        .to_string()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Spawns the app with extra environment (`REFRESH_REUSE_GRACE`, …).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let (app, test_app) = build_app(overrides).await;
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    test_app
}

/// Builds (migrated, bound, not yet serving) the app, for tests that run it themselves.
pub async fn build_app(overrides: &[(&str, &str)]) -> (Application, TestApp) {
    init_logs();
    let database = testkit::TestDatabase::create("czt").await;
    let name = database.name;

    let signing_pem = ed25519_pem();
    // One TOTP sealing key per deployment, so a peer opens the secrets too.
    let mfa_key = {
        use base64::Engine as _;
        use rand::RngCore as _;
        let mut key = [0_u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        base64::engine::general_purpose::STANDARD.encode(key)
    };
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".to_owned(), database.url),
        ("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("METRICS_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("DATABASE_MAX_CONNECTIONS".to_owned(), "10".to_owned()),
        ("REDIS_URL".to_owned(), testkit::redis_url()),
        ("REDIS_KEY_PREFIX".to_owned(), name.clone()),
        ("MFA_ENCRYPTION_KEY".to_owned(), mfa_key),
        (
            "OIDC_RSA_PRIVATE_KEY_FILE".to_owned(),
            oidc_rsa_key_file().to_owned(),
        ),
        (
            "MAIL_DIR".to_owned(),
            std::env::temp_dir().join(&name).display().to_string(),
        ),
    ]);
    for (key, value) in overrides {
        vars.insert((*key).to_owned(), (*value).to_owned());
    }
    build_with(vars, signing_pem, true).await
}

/// Spawns a second instance of `peer`'s service: the same database, Redis
/// prefix and signing key, as a horizontally scaled deployment runs.
pub async fn spawn_peer(peer: &TestApp, overrides: &[(&str, &str)]) -> TestApp {
    let mut vars = peer.env.clone();
    for (key, value) in overrides {
        vars.insert((*key).to_owned(), (*value).to_owned());
    }
    let (app, test_app) = build_with(vars, peer.signing_pem.clone(), false).await;
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    test_app
}

async fn build_with(
    mut vars: HashMap<String, String>,
    signing_pem: String,
    migrate: bool,
) -> (Application, TestApp) {
    // An override (even an empty one) wins over the generated key.
    let key_file = (!vars.contains_key("JWT_PRIVATE_KEY_FILE")).then(|| write_temp(&signing_pem));
    if let Some(key_file) = &key_file {
        vars.insert(
            "JWT_PRIVATE_KEY_FILE".to_owned(),
            key_file.display().to_string(),
        );
    }
    let config = Config::from_lookup(|key| vars.get(key).cloned()).expect("test configuration");
    if let Some(key_file) = key_file {
        let _ = std::fs::remove_file(&key_file);
        vars.remove("JWT_PRIVATE_KEY_FILE");
    }
    if migrate {
        startup::migrate(&config)
            .await
            .expect("migrate test database");
    }
    let app = Application::build(&config).await.expect("build app");
    #[cfg(feature = "cache")]
    let cache = app.cache().cloned();
    #[cfg(feature = "cache")]
    if let Some(cache) = &cache {
        // Tests about the cache want it connected; the others do not care.
        cache
            .wait_until_ready(std::time::Duration::from_secs(5))
            .await;
    }
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
    let pool = app.pool().clone();
    let test_app = TestApp {
        address,
        metrics_address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        pool,
        signing_pem,
        env: vars,
        #[cfg(feature = "cache")]
        cache,
    };
    (app, test_app)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post(&self, path: &str, body: &impl serde::Serialize) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Option<&Value>) -> Response {
        let request = self.client.post(self.url(path)).bearer_auth(token);
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        request.send().await.expect("request")
    }

    pub async fn delete_auth(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// GET `path` without credentials, read as `T` (a contract type, or
    /// `Value` for a test of the wire shape).
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON body")
    }

    pub async fn me(&self, token: &str) -> Response {
        self.get_auth(paths::ME, token).await
    }

    pub async fn register_as(&self, email: &str) -> Tokens {
        let response = self
            .post(
                paths::REGISTER,
                &json!({"email": email, "password": PASSWORD, "name": "Test User"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        Tokens::from_body(response.json().await.unwrap())
    }

    pub async fn register(&self) -> Tokens {
        self.register_as(&format!("user-{}@example.com", Uuid::new_v4().simple()))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(paths::LOGIN, &json!({"email": email, "password": password}))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post(paths::REFRESH, &json!({"refresh_token": refresh_token}))
            .await
    }
}

/// Asserts an RFC 9457 problem with `status` and `code`; returns it.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Problem {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body");
    let problem: Problem = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("not a problem document ({e}): {body}"));
    assert_eq!(problem.code, code, "body: {body}");
    assert_eq!(problem.status, status.as_u16());
    assert_eq!(problem.kind, format!("urn:codezest-auth:problem:{code}"));
    assert!(!problem.title.is_empty() && !problem.detail.is_empty());
    problem
}

/// A second instance sharing `app`'s database, Redis and key, where limits
/// are shared (the cache build); `None` without Redis, where each instance
/// counts for itself.
pub async fn shared_peer(app: &TestApp) -> Option<TestApp> {
    if cfg!(feature = "cache") {
        Some(spawn_peer(app, &[]).await)
    } else {
        None
    }
}

/// Sends `n` requests at once, spread over `instances`; returns each
/// answer's status and problem code (empty for a non-problem answer).
pub async fn burst<'a, F, Fut>(
    instances: &[&'a TestApp],
    n: usize,
    request: F,
) -> Vec<(StatusCode, String)>
where
    F: Fn(&'a TestApp, usize) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let requests = (0..n).map(|i| {
        let response = request(instances[i % instances.len()], i);
        async move {
            let response = response.await;
            let status = response.status();
            // A problem's code; nothing for an answer that is not one.
            let code = response
                .json::<Problem>()
                .await
                .map(|problem| problem.code.into_owned())
                .unwrap_or_default();
            (status, code)
        }
    });
    futures::future::join_all(requests).await
}

/// How many of `answers` carry problem `code`.
pub fn count(answers: &[(StatusCode, String)], code: &str) -> usize {
    answers.iter().filter(|(_, c)| c == code).count()
}

impl TestApp {
    /// The token of the newest `{page}?token=` link mailed to `to`, read from
    /// the `.eml` files of `MAIL_DIR` (the development transport the tests
    /// use unless they start an SMTP sink); waits up to 10 s for it.
    pub async fn mailed_link(&self, to: &str, page: &str) -> String {
        let dir = PathBuf::from(&self.env["MAIL_DIR"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut found: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| {
                    let mail = std::fs::read_to_string(entry.path()).ok()?;
                    let modified = entry.metadata().ok()?.modified().ok()?;
                    let to_line = format!("To: {to}");
                    mail.contains(&to_line)
                        .then(|| testkit::link_token(&mail, page))
                        .flatten()
                        .map(|token| (modified, token))
                })
                .collect();
            found.sort();
            if let Some((_, token)) = found.pop() {
                return token;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {page} link mailed to {to} in {}",
                dir.display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Uses a verification link and signs in again: the first proof of an
    /// address ends the sessions opened before it (pre-account hijacking).
    pub async fn verify_and_sign_in(&self, email: &str, token: &str) -> Tokens {
        let verified = self
            .post(paths::EMAIL_VERIFY, &json!({"token": token}))
            .await;
        assert_eq!(verified.status(), StatusCode::OK);
        let login = self.login(email, PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        Tokens::from_body(login.json().await.unwrap())
    }

    /// [`TestApp::register_verified`] with a fresh address.
    pub async fn verified_user(&self) -> Tokens {
        self.register_verified(&format!("user-{}@example.com", Uuid::new_v4().simple()))
            .await
    }

    /// A user whose address is verified (so they may add sign-in methods),
    /// signed in after the verification.
    pub async fn register_verified(&self, email: &str) -> Tokens {
        self.register_as(email).await;
        let token = self.mailed_link(email, "verify-email").await;
        self.verify_and_sign_in(email, &token).await
    }
}
