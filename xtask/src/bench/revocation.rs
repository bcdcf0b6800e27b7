//! How fast a logout on one instance is refused by another: the time from
//! instance A's `204` to the first refusal by instance B — forward-auth's `401`
//! for half the logouts, introspection's `active: false` for the other half —
//! for signed-in users whose session B had just verified (warm in its L1).

use super::*;

/// Percentiles of the revocation delay.
#[derive(Debug, Default, Serialize)]
pub(super) struct Revocation {
    pub(super) logouts: usize,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
    /// The same, for the half polled through forward-auth and the half polled
    /// through introspection.
    pub(super) forward_auth_p99_ms: f64,
    pub(super) introspection_p99_ms: f64,
}

/// How B is asked whether a token still works.
#[derive(Clone, Copy)]
enum Probe {
    ForwardAuth,
    Introspection,
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
        let mut delays = Vec::with_capacity(tokens.len());
        let mut by_probe = (Vec::new(), Vec::new());
        for (n, token) in tokens.iter().enumerate() {
            let probe = if n % 2 == 0 {
                Probe::ForwardAuth
            } else {
                Probe::Introspection
            };
            if !self.accepted(&client, &b.base, token, probe).await? {
                bail!("instance B refused a valid token before the logout");
            }
            let logout = client
                .post(format!("{}{}", a.base, paths::LOGOUT))
                .bearer_auth(token)
                .send()
                .await?;
            let committed = Instant::now();
            if logout.status() != reqwest::StatusCode::NO_CONTENT {
                bail!("logout on A answered {}", logout.status());
            }
            while self.accepted(&client, &b.base, token, probe).await? {
                if committed.elapsed() > Duration::from_secs(10) {
                    bail!("instance B still accepts a token logged out on A 10 s ago");
                }
            }
            let delay = committed.elapsed().as_secs_f64() * 1000.0;
            delays.push(delay);
            match probe {
                Probe::ForwardAuth => by_probe.0.push(delay),
                Probe::Introspection => by_probe.1.push(delay),
            }
        }
        a.stop();
        b.stop();
        let revocation = Revocation {
            logouts: delays.len(),
            p50_ms: percentile(&delays, 0.50),
            p99_ms: percentile(&delays, 0.99),
            max_ms: delays.iter().copied().fold(0.0, f64::max),
            forward_auth_p99_ms: percentile(&by_probe.0, 0.99),
            introspection_p99_ms: percentile(&by_probe.1, 0.99),
        };
        println!(
            "  revocation   A's logout → B refuses: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms ({} logouts; p99 forward-auth {:.2} ms, introspection {:.2} ms)",
            revocation.p50_ms,
            revocation.p99_ms,
            revocation.max_ms,
            revocation.logouts,
            revocation.forward_auth_p99_ms,
            revocation.introspection_p99_ms
        );
        Ok(revocation)
    }

    /// Whether instance `base` still accepts `token`, asked through `probe`.
    async fn accepted(
        &self,
        client: &reqwest::Client,
        base: &str,
        token: &str,
        probe: Probe,
    ) -> Result<bool> {
        match probe {
            Probe::ForwardAuth => {
                let status = client
                    .get(format!("{base}{}", paths::VERIFY))
                    .bearer_auth(token)
                    .send()
                    .await?
                    .status();
                match status {
                    reqwest::StatusCode::OK => Ok(true),
                    reqwest::StatusCode::UNAUTHORIZED => Ok(false),
                    other => bail!("forward-auth answered {other}"),
                }
            }
            Probe::Introspection => {
                let response = client
                    .post(format!("{base}/oauth2/introspect"))
                    .header("authorization", &self.client_auth)
                    .form(&[("token", token)])
                    .send()
                    .await?;
                if response.status() != reqwest::StatusCode::OK {
                    bail!("introspection answered {}", response.status());
                }
                let answer: Value = response.json().await?;
                Ok(answer["active"] == true)
            }
        }
    }
}
