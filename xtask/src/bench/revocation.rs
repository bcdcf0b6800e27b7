//! How fast a logout on one instance is refused by another: the time from
//! instance A's `204` to the first `401` from instance B's forward-auth, for
//! signed-in users whose session B had just verified (warm in its L1).

use super::*;

/// Percentiles of the revocation delay.
#[derive(Debug, Default, Serialize)]
pub(super) struct Revocation {
    pub(super) logouts: usize,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
}

impl Bench {
    /// Logs out up to 1,000 users on A, one at a time, each followed by polling
    /// B until it refuses the token. Spends those users' sessions.
    pub(super) async fn revocation(&mut self) -> Result<Revocation> {
        let tokens: Vec<String> = std::fs::read_to_string(&self.tokens_file)?
            .lines()
            .take(1_000)
            .map(str::to_owned)
            .collect();
        println!(
            "xtask bench: revocation seen across instances, {} logouts",
            tokens.len()
        );
        let a = self.start_service(Mode::TwoTier).await?;
        // A second instance on the same database and Redis (started without
        // flushing what A has set up).
        let b = self.start_peer(Mode::TwoTier).await?;
        let client = reqwest::Client::new();
        let verify = format!("{}/api/v1/auth/verify", b.base);
        let mut delays = Vec::with_capacity(tokens.len());
        for token in &tokens {
            let status = |url: &str| {
                let request = client.get(url).bearer_auth(token).send();
                async move { Ok::<_, anyhow::Error>(request.await?.status()) }
            };
            if status(&verify).await? != reqwest::StatusCode::OK {
                bail!("instance B refused a valid token before the logout");
            }
            let logout = client
                .post(format!("{}/api/v1/auth/logout", a.base))
                .bearer_auth(token)
                .send()
                .await?;
            let committed = Instant::now();
            if logout.status() != reqwest::StatusCode::NO_CONTENT {
                bail!("logout on A answered {}", logout.status());
            }
            loop {
                if status(&verify).await? == reqwest::StatusCode::UNAUTHORIZED {
                    break;
                }
                if committed.elapsed() > Duration::from_secs(10) {
                    bail!("instance B still accepts a token logged out on A 10 s ago");
                }
            }
            delays.push(committed.elapsed().as_secs_f64() * 1000.0);
        }
        a.stop();
        b.stop();
        let revocation = Revocation {
            logouts: delays.len(),
            p50_ms: percentile(&delays, 0.50),
            p99_ms: percentile(&delays, 0.99),
            max_ms: delays.iter().copied().fold(0.0, f64::max),
        };
        println!(
            "  revocation   A's logout → B refuses: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms ({} logouts)",
            revocation.p50_ms, revocation.p99_ms, revocation.max_ms, revocation.logouts
        );
        Ok(revocation)
    }
}
