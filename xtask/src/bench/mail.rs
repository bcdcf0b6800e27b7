//! The mail outbox: how fast one instance's sender drains it into a real SMTP
//! server, and whether "forgot password" answers a known and an unknown
//! address in the same time.

use super::*;

/// What the outbox measurement found.
#[derive(Debug, Default, Serialize)]
pub(super) struct MailDrain {
    pub(super) mails: usize,
    pub(super) seconds: f64,
    pub(super) per_second: f64,
    /// `POST /auth/password/forgot` latency, one request at a time.
    pub(super) forgot_known_p50_ms: f64,
    pub(super) forgot_known_p99_ms: f64,
    pub(super) forgot_unknown_p50_ms: f64,
    pub(super) forgot_unknown_p99_ms: f64,
}

const UNSENT: &str = "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL";

impl Bench {
    /// Queues one reset mail per user with no sender running (timing each
    /// "forgot", alternating with unknown addresses), then starts an instance
    /// whose sender delivers them to aiosmtpd and times the drain.
    pub(super) async fn mail_drain(&mut self) -> Result<MailDrain> {
        let n = self.options.users.min(2_000);
        println!("xtask bench: mail outbox, {n} reset mails");
        let python = crate::python::ensure_tools()?;
        let sink = testkit::SmtpSink::start_with(&python.display().to_string());
        let smtp = [
            ("SMTP_URL", sink.url()),
            ("RATE_LIMIT_FORGOT_PER_EMAIL", "0".to_owned()),
        ];
        let mut queue_env = smtp.to_vec();
        queue_env.push(("MAIL_SENDER_ENABLED", "false".to_owned()));
        let service = self.start_service_with(Mode::TwoTier, &queue_env).await?;
        let (known, unknown) = time_forgot(&service.base, n).await?;
        // Each reset mail is queued after its 202 (the lookup runs off the
        // answer's path): wait for all of them before stopping the service.
        let mut db = PgConnection::connect(&self.database_url).await?;
        wait_for_unsent(&mut db, n as i64, Duration::from_secs(60)).await?;
        service.stop();

        let service = self.start_service_with(Mode::TwoTier, &smtp).await?;
        let started = Instant::now();
        wait_for_unsent(&mut db, 0, Duration::from_secs(600)).await?;
        let seconds = started.elapsed().as_secs_f64();
        service.stop();
        let received = sink.messages().len();
        if received != n {
            bail!("the SMTP server received {received} mails, not {n}");
        }
        let drain = MailDrain {
            mails: n,
            seconds,
            per_second: n as f64 / seconds,
            forgot_known_p50_ms: percentile(&known, 0.50),
            forgot_known_p99_ms: percentile(&known, 0.99),
            forgot_unknown_p50_ms: percentile(&unknown, 0.50),
            forgot_unknown_p99_ms: percentile(&unknown, 0.99),
        };
        println!(
            "  mail         {:>9.0} mails/s ({} in {:.2} s)  forgot p50/p99: known {:.2}/{:.2} ms, unknown {:.2}/{:.2} ms",
            drain.per_second,
            n,
            seconds,
            drain.forgot_known_p50_ms,
            drain.forgot_known_p99_ms,
            drain.forgot_unknown_p50_ms,
            drain.forgot_unknown_p99_ms
        );
        Ok(drain)
    }
}

/// `n` forgot requests for the bench users and `n` for unknown addresses,
/// alternating, one at a time; their latencies in ms.
async fn time_forgot(base: &str, n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let client = reqwest::Client::new();
    let url = format!("{base}{}", paths::PASSWORD_FORGOT);
    let (mut known, mut unknown) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        for (email, into) in [
            (format!("bench-{i}@example.com"), &mut known),
            (format!("nobody-{i}@example.com"), &mut unknown),
        ] {
            let started = Instant::now();
            let response = client
                .post(&url)
                .json(&serde_json::json!({ "email": email }))
                .send()
                .await?;
            into.push(started.elapsed().as_secs_f64() * 1000.0);
            if response.status() != reqwest::StatusCode::ACCEPTED {
                bail!("forgot answered {}", response.status());
            }
        }
    }
    Ok((known, unknown))
}

async fn wait_for_unsent(db: &mut PgConnection, want: i64, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let unsent: i64 = sqlx::query_scalar(UNSENT).fetch_one(&mut *db).await?;
        if unsent == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the outbox holds {unsent} unsent mails, not {want}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
