//! Times passkey sign-ins against a running service (`cargo xtask bench` runs
//! it): registers `n` users with a passkey each through the API, then signs
//! each in with its passkey (the discoverable flow) and times
//! `POST /api/v1/auth/passkeys/login/finish`, the request whose work is the
//! WebAuthn verification. Prints one JSON object.
//!
//! `cargo run --release -p app --example passkey_bench -- http://127.0.0.1:3001 200 MAIL_DIR`
//! (the service configured with `WEBAUTHN_RP_ID=localhost`,
//! `WEBAUTHN_RP_ORIGIN=http://localhost:3000` and that `MAIL_DIR`: a passkey
//! needs a verified address, so each user's verification link is read from the
//! `.eml` files there and used).

#[path = "../tests/support/soft_browser.rs"]
mod soft_browser;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use soft_browser::Browser;

async fn post(
    client: &reqwest::Client,
    url: String,
    access: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let mut request = client.post(url).json(body);
    if let Some(access) = access {
        request = request.bearer_auth(access);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    Ok(body)
}

/// The token of the verification link mailed to `to`, from `MAIL_DIR`'s
/// `.eml` files (waits up to 10 s for the sender).
async fn verification_token(mail_dir: &Path, to: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for entry in std::fs::read_dir(mail_dir).into_iter().flatten().flatten() {
            let mail = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if mail.contains(&format!("To: {to}"))
                && let Some(token) = testkit::link_token(&mail, "verify-email")
            {
                return Ok(token);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "no verification mail for {to}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:3001".to_owned());
    let n: usize = args.next().map_or(Ok(200), |n| n.parse())?;
    let mail_dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: passkey_bench BASE N MAIL_DIR"))?;
    let mail_dir = Path::new(&mail_dir);
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{base}/api/v1{path}");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut browsers = Vec::with_capacity(n);
    for i in 0..n {
        let email = format!("passkey-{run}-{i}@example.com");
        let body =
            json!({"email": email, "password": "correct horse battery staple", "name": "Bench"});
        post(&client, api("/auth/register"), None, &body).await?;
        // Verifying ends the registration's session: sign in again after it.
        let token = verification_token(mail_dir, &email).await?;
        post(
            &client,
            api("/auth/email/verify"),
            None,
            &json!({"token": token}),
        )
        .await?;
        let login = json!({"email": email, "password": "correct horse battery staple"});
        let user = post(&client, api("/auth/login"), None, &login).await?;
        let access = user["access_token"].as_str().unwrap_or_default().to_owned();
        let start = post(
            &client,
            api("/auth/passkeys/register/start"),
            Some(&access),
            &json!({}),
        )
        .await?;
        let mut browser = Browser::new();
        let credential = browser.create(&start["publicKey"]);
        let body = json!({"challenge_id": start["challenge_id"], "name": "Bench", "credential": credential});
        post(
            &client,
            api("/auth/passkeys/register/finish"),
            Some(&access),
            &body,
        )
        .await?;
        browsers.push(browser);
    }
    let mut times = Vec::with_capacity(n);
    for browser in &mut browsers {
        let start = post(&client, api("/auth/passkeys/login/start"), None, &json!({})).await?;
        let credential = browser.get(&start["publicKey"]);
        let body = json!({"challenge_id": start["challenge_id"], "credential": credential});
        let started = Instant::now();
        post(&client, api("/auth/passkeys/login/finish"), None, &body).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let report = json!({
        "users": n,
        "login_p50_ms": percentile(&times, 0.50),
        "login_p99_ms": percentile(&times, 0.99),
    });
    println!("{report}");
    Ok(())
}
