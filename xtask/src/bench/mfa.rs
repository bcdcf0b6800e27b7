//! Second factors and passkeys: how long `POST /auth/mfa/verify` takes with a
//! TOTP code and with a recovery code, how long a passkey sign-in's WebAuthn
//! verification takes (`examples/passkey_bench.rs`, a software passkey), and
//! whether `/me` is as fast when every user has TOTP.

use super::*;

/// What the second-factor measurement found.
#[derive(Debug, Default, Serialize)]
pub(super) struct Mfa {
    pub(super) users: usize,
    /// `POST /auth/mfa/verify`, one at a time, round trip on loopback.
    pub(super) totp_p50_ms: f64,
    pub(super) totp_p99_ms: f64,
    pub(super) recovery_p50_ms: f64,
    pub(super) recovery_p99_ms: f64,
    /// `POST /auth/passkeys/login/finish`, one at a time.
    pub(super) passkey_p50_ms: f64,
    pub(super) passkey_p99_ms: f64,
    /// `/me` (two-tier) with every user's TOTP on, and just before without.
    pub(super) me_with_mfa_rps: f64,
    pub(super) me_without_rps: f64,
}

/// One enrolled user: the authenticator's secret and a recovery code.
struct Enrolled {
    email: String,
    totp: totp_rs::TOTP,
    recovery: String,
}

impl Bench {
    /// Enrols up to 200 bench users through the API, times their second steps,
    /// then runs `/me` before and after turning TOTP on for every user.
    pub(super) async fn mfa(&mut self) -> Result<Mfa> {
        let n = self.options.users.min(200);
        println!("xtask bench: second factors, {n} users");
        // The passkey benchmark registers its users through the API and must
        // verify their addresses (a passkey needs one): it reads the
        // verification links from the `.eml` files written here.
        let mail_dir = self.dir.join("mail");
        let relying_party = [
            ("WEBAUTHN_RP_ID", "localhost".to_owned()),
            ("WEBAUTHN_RP_ORIGIN", "http://localhost:3000".to_owned()),
            ("MAIL_DIR", mail_dir.display().to_string()),
        ];
        let service = self
            .start_service_with(Mode::TwoTier, &relying_party)
            .await?;
        let client = reqwest::Client::new();
        let mut enrolled = Vec::with_capacity(n);
        for i in 0..n {
            enrolled.push(enrol(&client, &service.base, &format!("bench-{i}@example.com")).await?);
        }
        let mut totp = Vec::with_capacity(n);
        let mut recovery = Vec::with_capacity(n);
        for user in &enrolled {
            let code = user.totp.generate(unix_now() + 30);
            totp.push(second_step(&client, &service.base, user, json!({"code": code})).await?);
            let code = json!({"recovery_code": user.recovery});
            recovery.push(second_step(&client, &service.base, user, code).await?);
        }
        let passkeys = passkey_bench(&service.base, n, &mail_dir)?;
        service.stop();
        let without = self.service_mode(Mode::TwoTier).await?;
        let mut db = PgConnection::connect(&self.database_url).await?;
        sqlx::query(
            "INSERT INTO mfa_totp (user_id, secret_sealed, confirmed_at)
             SELECT id, decode(repeat('00', 48), 'hex'), now() FROM users
             ON CONFLICT (user_id) DO NOTHING",
        )
        .execute(&mut db)
        .await?;
        let with_mfa = self.service_mode(Mode::TwoTier).await?;
        let mfa = Mfa {
            users: n,
            totp_p50_ms: percentile(&totp, 0.50),
            totp_p99_ms: percentile(&totp, 0.99),
            recovery_p50_ms: percentile(&recovery, 0.50),
            recovery_p99_ms: percentile(&recovery, 0.99),
            passkey_p50_ms: passkeys["login_p50_ms"].as_f64().unwrap_or_default(),
            passkey_p99_ms: passkeys["login_p99_ms"].as_f64().unwrap_or_default(),
            me_with_mfa_rps: with_mfa.load.rps,
            me_without_rps: without.load.rps,
        };
        println!(
            "  mfa          verify TOTP p50 {:.2} ms p99 {:.2} ms; recovery code p50 {:.2} ms p99 {:.2} ms; passkey sign-in p50 {:.2} ms p99 {:.2} ms; /me {:.0} req/s with TOTP on every user ({:.0} without)",
            mfa.totp_p50_ms,
            mfa.totp_p99_ms,
            mfa.recovery_p50_ms,
            mfa.recovery_p99_ms,
            mfa.passkey_p50_ms,
            mfa.passkey_p99_ms,
            mfa.me_with_mfa_rps,
            mfa.me_without_rps
        );
        Ok(mfa)
    }
}

/// Runs `examples/passkey_bench.rs` (release) against `base`, whose mail goes
/// to `mail_dir`; its JSON.
fn passkey_bench(base: &str, n: usize, mail_dir: &std::path::Path) -> Result<Value> {
    let output = cargo()
        .args([
            "run",
            "--quiet",
            "--release",
            "--package",
            "app",
            "--example",
            "passkey_bench",
            "--",
        ])
        .args([base, &n.to_string()])
        .arg(mail_dir)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        bail!("the passkey benchmark failed: {}", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("the passkey benchmark printed {last:?}"))
}

fn unix_now() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or_default()
}

async fn json_of(response: reqwest::Response, want: u16) -> Result<Value> {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != want {
        bail!("expected {want}, got {status}: {body}");
    }
    Ok(body)
}

/// Signs in, sets TOTP up and confirms it.
async fn enrol(client: &reqwest::Client, base: &str, email: &str) -> Result<Enrolled> {
    let login = client
        .post(format!("{base}{}", paths::LOGIN))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?;
    let login = json_of(login, 200).await?;
    let access = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let setup = client
        .post(format!("{base}{}", paths::TOTP_SETUP))
        .bearer_auth(&access)
        .send()
        .await?;
    let setup = json_of(setup, 200).await?;
    let secret = totp_rs::Secret::Encoded(setup["secret"].as_str().unwrap_or_default().into())
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("the set-up secret is not base32: {e:?}"))?;
    let totp = totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        None,
        String::new(),
    );
    let confirm = client
        .post(format!("{base}{}", paths::TOTP_CONFIRM))
        .bearer_auth(&access)
        .json(&json!({"code": totp.generate(unix_now())}))
        .send()
        .await?;
    let codes = json_of(confirm, 200).await?;
    Ok(Enrolled {
        email: email.to_owned(),
        totp,
        recovery: codes["recovery_codes"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

/// Signs in with the password (expecting `mfa_required`) and times the
/// second step with `factor`.
async fn second_step(
    client: &reqwest::Client,
    base: &str,
    user: &Enrolled,
    mut factor: Value,
) -> Result<f64> {
    let login = client
        .post(format!("{base}{}", paths::LOGIN))
        .json(&json!({"email": user.email, "password": PASSWORD}))
        .send()
        .await?;
    let required = json_of(login, 401).await?;
    factor["mfa_token"] = required["mfa_token"].clone();
    let started = Instant::now();
    let verified = client
        .post(format!("{base}{}", paths::MFA_VERIFY))
        .json(&factor)
        .send()
        .await?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    json_of(verified, 200).await?;
    Ok(elapsed)
}
