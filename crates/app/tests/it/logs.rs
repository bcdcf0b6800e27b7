//! The service's own log output, captured from the real binary at the most
//! verbose level, never holds a password, a token or a mailed link — across a
//! full registration, verification, failed sign-in, password reset, refresh,
//! email change and sign-out.

use api_types::{Problem, RecoveryCodesResponse, TotpSetupResponse, paths};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{SmtpSink, link_token};

use crate::helpers::{PASSWORD, Tokens, ed25519_pem};

const NEW_PASSWORD: &str = "a completely different passphrase";
const WRONG_PASSWORD: &str = "an entirely wrong guess";
const APP_URL: &str = "https://app.example.com";

/// The service binary, run as operators run it, its stdout and stderr in files.
struct Service {
    child: Child,
    base: String,
    dir: PathBuf,
}

impl Service {
    async fn start(sink: &SmtpSink) -> Self {
        let database = testkit::TestDatabase::create("czt").await;
        let dir = std::env::temp_dir().join(testkit::unique_name("czt-logs"));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("jwt.pem");
        std::fs::write(&key, ed25519_pem()).unwrap();
        let port = testkit::free_port();
        let vars = [
            ("DATABASE_URL", database.url.clone()),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("METRICS_ADDR", "127.0.0.1:0".to_owned()),
            ("JWT_PRIVATE_KEY_FILE", key.display().to_string()),
            ("REDIS_URL", testkit::redis_url()),
            ("REDIS_KEY_PREFIX", database.name.clone()),
            ("SMTP_URL", sink.url()),
            ("APP_URL", APP_URL.to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "trace".to_owned()),
        ];
        let command = |name: &str| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_codezest-auth"));
            command
                .arg(name)
                // No .env file up from here, nothing inherited.
                .current_dir(&dir)
                .env_clear()
                .envs(vars.iter().map(|(k, v)| (k, v)))
                .stdout(log_file(&dir, name, "stdout"))
                .stderr(log_file(&dir, name, "stderr"));
            command
        };
        let migrated = command("migrate").status().expect("run the binary");
        assert!(migrated.success(), "migrate failed: {}", read_logs(&dir));
        let child = command("serve").spawn().expect("run the binary");
        let service = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        service.wait_until_ready().await;
        service
    }

    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        while client
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the service did not start: {}",
                read_logs(&self.dir)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it as an orchestrator does (SIGTERM), so every buffered line is
    /// written, and returns everything it logged.
    fn stop(mut self) -> String {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(terminated.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit after SIGTERM: {status}");
        let logs = read_logs(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
        logs
    }
}

fn log_file(dir: &Path, command: &str, stream: &str) -> std::fs::File {
    std::fs::File::create(dir.join(format!("{command}.{stream}.log"))).unwrap()
}

fn read_logs(dir: &Path) -> String {
    let mut logs = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|ext| ext == "log") {
            logs.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    logs
}

/// A JSON request; the answer's status checked, its body returned.
async fn call(
    client: &reqwest::Client,
    request: reqwest::RequestBuilder,
    body: Value,
    want: StatusCode,
) -> Value {
    let response = client
        .execute(request.json(&body).build().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), want);
    response.json().await.unwrap_or(Value::Null)
}

/// The token in the newest mail to `to` linking to `page`, once `count` arrived.
async fn mailed(sink: &SmtpSink, to: &str, count: usize, page: &str) -> String {
    let mails = sink.wait_for(to, count).await;
    mails
        .iter()
        .rev()
        .find_map(|mail| link_token(mail, page))
        .unwrap_or_else(|| panic!("no {page} link in {mails:?}"))
}

#[tokio::test]
async fn no_secret_reaches_the_logs_of_a_full_recovery_flow() {
    let sink = SmtpSink::start();
    let service = Service::start(&sink).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", service.base);
    let email = "logged@example.com";
    let new_email = "moved@example.com";
    let mut secrets: Vec<String> =
        vec![PASSWORD.into(), NEW_PASSWORD.into(), WRONG_PASSWORD.into()];

    let body = json!({"email": email, "password": PASSWORD, "name": "Log Reader"});
    let first = call(
        &http,
        http.post(url(paths::REGISTER)),
        body,
        StatusCode::CREATED,
    )
    .await;
    let first = Tokens::from_body(first);
    let verify = mailed(&sink, email, 1, "verify-email").await;
    call(
        &http,
        http.post(url(paths::EMAIL_VERIFY)),
        json!({"token": verify}),
        StatusCode::OK,
    )
    .await;

    let wrong = json!({"email": email, "password": WRONG_PASSWORD});
    call(
        &http,
        http.post(url(paths::LOGIN)),
        wrong,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let forgot = json!({"email": email});
    call(
        &http,
        http.post(url(paths::PASSWORD_FORGOT)),
        forgot,
        StatusCode::ACCEPTED,
    )
    .await;
    let reset = mailed(&sink, email, 2, "reset-password").await;
    let body = json!({"token": reset, "new_password": NEW_PASSWORD});
    call(
        &http,
        http.post(url(paths::PASSWORD_RESET)),
        body,
        StatusCode::NO_CONTENT,
    )
    .await;
    // The spent link, replayed, is refused — and not logged either.
    let body = json!({"token": reset, "new_password": NEW_PASSWORD});
    call(
        &http,
        http.post(url(paths::PASSWORD_RESET)),
        body,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let login = json!({"email": email, "password": NEW_PASSWORD});
    let second = call(&http, http.post(url(paths::LOGIN)), login, StatusCode::OK).await;
    let second = Tokens::from_body(second);
    let body = json!({"refresh_token": second.refresh});
    let third = call(&http, http.post(url(paths::REFRESH)), body, StatusCode::OK).await;
    let third = Tokens::from_body(third);
    let change = json!({"new_email": new_email, "password": NEW_PASSWORD});
    let request = http
        .post(url(paths::EMAIL_CHANGE))
        .bearer_auth(&third.access);
    call(&http, request, change, StatusCode::ACCEPTED).await;
    let confirm = mailed(&sink, new_email, 1, "verify-email").await;
    call(
        &http,
        http.post(url(paths::EMAIL_VERIFY)),
        json!({"token": confirm}),
        StatusCode::OK,
    )
    .await;
    // A second factor: its secret, recovery codes and mfa_token stay out too.
    let request = http.post(url(paths::TOTP_SETUP)).bearer_auth(&third.access);
    let setup = call(&http, request, json!({}), StatusCode::OK).await;
    let setup: TotpSetupResponse = serde_json::from_value(setup).unwrap();
    let authenticator = crate::mfa::Authenticator::from_setup(&setup);
    let request = http
        .post(url(paths::TOTP_CONFIRM))
        .bearer_auth(&third.access);
    let body = json!({"code": authenticator.code()});
    let codes = call(&http, request, body, StatusCode::OK).await;
    let codes: RecoveryCodesResponse = serde_json::from_value(codes).unwrap();
    let login = json!({"email": new_email, "password": NEW_PASSWORD});
    let required = call(
        &http,
        http.post(url(paths::LOGIN)),
        login,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let required: Problem = serde_json::from_value(required).unwrap();
    let mfa_token = required.mfa_token.expect("an mfa_token");
    let recovery = &codes.recovery_codes[0];
    let body = json!({"mfa_token": mfa_token, "recovery_code": recovery});
    call(
        &http,
        http.post(url(paths::MFA_VERIFY)),
        body,
        StatusCode::OK,
    )
    .await;
    secrets.push(setup.secret);
    secrets.push(setup.otpauth_uri);
    secrets.push(mfa_token);
    secrets.extend(codes.recovery_codes);

    let request = http.post(url(paths::LOGOUT)).bearer_auth(&third.access);
    let body = json!({"refresh_token": third.refresh});
    call(&http, request, body, StatusCode::NO_CONTENT).await;

    // A client's request id is kept in the access line, escaped.
    let odd_id = r#"client "id" \ with quotes"#;
    let healthz = http
        .get(format!("{}/healthz", service.base))
        .header("x-request-id", odd_id)
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);

    let logs = service.stop();
    access_lines_are_json_naming_route_status_and_user(&logs, odd_id);
    lines_inside_a_request_name_it(&logs);
    for tokens in [&first, &second, &third] {
        secrets.extend([tokens.access.clone(), tokens.refresh.clone()]);
        // A JWT's signature alone is a leak too.
        secrets.push(tokens.access.rsplit('.').next().unwrap().to_owned());
    }
    for token in [&verify, &reset, &confirm] {
        secrets.push(token.clone());
        // Half a token would already be too much.
        secrets.push(token[token.len() / 2..].to_owned());
    }
    secrets.push(format!("{APP_URL}/reset-password"));
    secrets.push(format!("{APP_URL}/verify-email"));
    // The logs are there, and say what happened.
    assert!(logs.lines().count() > 50, "too few lines:\n{logs}");
    assert!(logs.contains(paths::PASSWORD_RESET), "{logs}");
    for secret in &secrets {
        let line = logs.lines().find(|line| line.contains(secret.as_str()));
        assert!(line.is_none(), "a secret in the logs: {line:?}");
    }
}

/// An access line as `docs/operations.md` documents it.
#[derive(Debug, serde::Deserialize)]
struct AccessLine {
    fields: AccessFields,
    span: AccessSpan,
}

#[derive(Debug, serde::Deserialize)]
struct AccessFields {
    status: u16,
    latency_us: u64,
}

#[derive(Debug, serde::Deserialize)]
struct AccessSpan {
    method: String,
    route: String,
    request_id: String,
    user_id: Option<uuid::Uuid>,
}

/// Any line: every one names its target.
#[derive(serde::Deserialize)]
struct AnyLine {
    target: String,
}

/// The access log (`ACCESS_LOG`, on by default) writes one JSON line per
/// answered request: route pattern, status, latency, request id and — once
/// authenticated — the user.
fn access_lines_are_json_naming_route_status_and_user(logs: &str, odd_id: &str) {
    let access: Vec<AccessLine> = logs
        .lines()
        .filter(|line| line.starts_with('{'))
        .filter(|line| {
            let any: AnyLine = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            any.target == "access"
        })
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(access.len() > 10, "too few access lines: {logs}");
    let logout = access
        .iter()
        .find(|line| line.span.route == paths::LOGOUT)
        .expect("an access line for the logout");
    assert_eq!(logout.fields.status, 204);
    assert_eq!(logout.span.method, "POST");
    assert!(logout.fields.latency_us < 30_000_000, "{logout:?}");
    assert!(logout.span.user_id.is_some(), "{logout:?}");
    assert_eq!(logout.span.request_id.len(), 36);
    let health = access
        .iter()
        .find(|line| line.span.request_id == odd_id)
        .expect("the client's request id, escaped");
    assert_eq!(health.span.route, "/healthz");
    assert!(health.span.user_id.is_none(), "{health:?}");
}

/// Any line's `span`, where it has one.
#[derive(Debug, serde::Deserialize)]
struct EventLine {
    target: String,
    span: Option<EventSpan>,
}

#[derive(Debug, serde::Deserialize)]
struct EventSpan {
    name: Option<String>,
    route: Option<String>,
    request_id: Option<String>,
    user_id: Option<uuid::Uuid>,
}

/// What a request logs besides its access line (here at `trace`: the
/// handlers' spans, the queries) names the request — its route and id, and
/// its user once authenticated — from the request's context; no span is made
/// for the request itself when spans are not exported.
fn lines_inside_a_request_name_it(logs: &str) {
    let events: Vec<EventLine> = logs
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .filter(|line: &EventLine| line.target != "access")
        .collect();
    let in_login: Vec<&EventSpan> = events
        .iter()
        .filter_map(|line| line.span.as_ref())
        .filter(|span| span.route.as_deref() == Some(paths::LOGIN))
        .collect();
    assert!(!in_login.is_empty(), "no line logged inside a sign-in");
    for span in &in_login {
        assert_eq!(
            span.request_id.as_deref().map(str::len),
            Some(36),
            "{span:?}"
        );
        assert!(span.name.is_some(), "{span:?}");
    }
    let authenticated = events
        .iter()
        .filter_map(|line| line.span.as_ref())
        .any(|span| span.route.as_deref() == Some(paths::LOGOUT) && span.user_id.is_some());
    assert!(
        authenticated,
        "no line of an authenticated request names its user"
    );
}
