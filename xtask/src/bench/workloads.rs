//! Refresh, login and the mixed workload with its coherence check; L1 memory;
//! the `wrk` runs every measurement goes through.

use super::procs::{current_rss_mb, scrape};
use super::*;

impl Bench {
    /// Refresh and login throughput, and the mixed workload, on `two-tier`.
    pub(super) async fn throughput(&mut self, report: &mut Report) -> Result<()> {
        let service = self.start_service(Mode::TwoTier).await?;
        let seconds = if self.options.quick { 2 } else { 10 };
        let refresh = self.wrk(
            &service.base,
            "refresh.lua",
            seconds,
            self.options.concurrency.min(self.options.users / 2).max(1),
            &[],
        )?;
        println!(
            "  refresh      {:>9.0} req/s  p99 {:>6.2} ms  errors {}",
            refresh.rps, refresh.p99_ms, refresh.errors
        );
        report.refresh = Some(refresh);
        // Logins are argon2-bound: a few connections per core saturate them.
        let login = self.wrk(&service.base, "login.lua", seconds, report.cores * 4, &[])?;
        println!(
            "  login        {:>9.0} req/s  p99 {:>6.2} ms  errors {}",
            login.rps, login.p99_ms, login.errors
        );
        report.login_per_core = Some(login.rps / report.cores as f64);
        report.login = Some(login);
        self.pages(&service.base, seconds, report).await?;
        service.stop();

        // Mixed: sessions were rotated above; start again from fresh tokens.
        self.prepare_database(self.options.users).await?;
        let service = self.start_service(Mode::TwoTier).await?;
        let m0 = scrape(&service.metrics).await?;
        let load = self.wrk(
            &service.base,
            "mixed.lua",
            self.options.duration,
            self.options.concurrency,
            &[],
        )?;
        let m1 = scrape(&service.metrics).await?;
        let delta = |labels: &[(&str, &str)]| {
            testkit::metric_sum(&m1, "cache_requests_total", labels)
                - testkit::metric_sum(&m0, "cache_requests_total", labels)
        };
        let l1_hit = delta(&[("tier", "l1"), ("outcome", "hit")]);
        let l1_miss = delta(&[("tier", "l1"), ("outcome", "miss")]);
        let l2_hit = delta(&[("tier", "l2"), ("outcome", "hit")]);
        let l2_miss = delta(&[("tier", "l2"), ("outcome", "miss")]);
        let (checked, stale) = self.check_profiles(&service.base).await?;
        println!(
            "  mixed        {:>9.0} req/s  p99 {:>6.2} ms  errors {}  stale profiles {stale}/{checked}",
            load.rps, load.p99_ms, load.errors
        );
        report.mixed = Some(Mixed {
            load,
            l1_hit_ratio: (l1_hit + l1_miss > 0.0).then(|| l1_hit / (l1_hit + l1_miss)),
            overall_hit_ratio: (l1_hit + l2_hit + l2_miss > 0.0)
                .then(|| (l1_hit + l2_hit) / (l1_hit + l2_hit + l2_miss)),
            users_checked: checked,
            stale_profiles: stale,
            cache_errors: testkit::metric_sum(&m1, "cache_errors_total", &[])
                - testkit::metric_sum(&m0, "cache_errors_total", &[]),
        });
        service.stop();
        Ok(())
    }

    /// The hosted pages: the sign-in page rendered for a first visit, and a
    /// password sign-in through its form against the JSON login run again
    /// right after (argon2 dominates both).
    async fn pages(&self, base: &str, seconds: u64, report: &mut Report) -> Result<()> {
        let page = self.wrk(base, "page.lua", seconds, self.options.concurrency, &[])?;
        println!(
            "  sign-in page {:>9.0} req/s  p99 {:>6.2} ms  errors {}",
            page.rps, page.p99_ms, page.errors
        );
        report.sign_in_page = Some(page);
        // The form's binding: one browser's cookie and token, read once.
        let first = reqwest::Client::new()
            .get(format!("{base}{}", paths::UI_SIGN_IN))
            .send()
            .await?
            .error_for_status()?;
        let cookie = first
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.contains("cz_forms="))
            .and_then(|c| c.split(';').next())
            .context("the sign-in page set no forms cookie")?
            .to_owned();
        let html = first.text().await?;
        let field = "name=\"csrf_token\" value=\"";
        let start = html.find(field).context("the sign-in form has no token")? + field.len();
        let token = html[start..]
            .split('"')
            .next()
            .context("an unterminated token")?
            .to_owned();
        let cores = report.cores * 4;
        let env = [
            ("BENCH_FORMS_COOKIE", cookie),
            ("BENCH_FORM_TOKEN", token),
            ("BENCH_ORIGIN", base.to_owned()),
        ];
        let form = self.wrk(base, "form_login.lua", seconds, cores, &env)?;
        println!(
            "  form sign-in {:>9.0} req/s  p99 {:>6.2} ms  errors {}",
            form.rps, form.p99_ms, form.errors
        );
        report.form_login = Some(form);
        let again = self.wrk(base, "login.lua", seconds, cores, &[])?;
        println!(
            "  login again  {:>9.0} req/s  p99 {:>6.2} ms  errors {}",
            again.rps, again.p99_ms, again.errors
        );
        report.login_again = Some(again);
        Ok(())
    }

    /// After writes: every user's profile as `/me` answers it equals the row.
    pub(super) async fn check_profiles(&self, base: &str) -> Result<(usize, usize)> {
        // wrk stops mid-request: let the writes it left in flight finish first.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut db = PgConnection::connect(&self.database_url).await?;
        let active: Vec<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
            "SELECT DISTINCT ON (user_id) user_id, id FROM sessions WHERE revoked_at IS NULL ORDER BY user_id, created_at",
        )
        .fetch_all(&mut db)
        .await?;
        let client = reqwest::Client::new();
        let now = OffsetDateTime::now_utc();
        let mut stale = 0;
        for (user, session) in &active {
            let token = self
                .eddsa
                .issue(
                    UserId::from_uuid(*user),
                    SessionId::from_uuid(*session),
                    now,
                    domain::Amr::PWD,
                    domain::tokens::Claimed::default(),
                    now,
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let stored: Option<(Option<String>,)> =
                sqlx::query_as("SELECT bio FROM user_profiles WHERE user_id = $1")
                    .bind(user)
                    .fetch_optional(&mut db)
                    .await?;
            let stored = stored.and_then(|(bio,)| bio);
            let me: Value = client
                .get(format!("{base}{}", paths::ME))
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let served = me["user"]["profile"]["bio"].as_str().map(str::to_owned);
            if served != stored {
                eprintln!(
                    "xtask bench: user {user}: /me serves {served:?}, the database holds {stored:?}"
                );
                stale += 1;
            }
        }
        Ok((active.len(), stale))
    }

    /// RSS growth per user once `large_users` users are all cached.
    pub(super) async fn large_l1(&mut self) -> Result<LargeL1> {
        let n = self.options.large_users;
        println!("xtask bench: L1 bytes per cached user with {n} users");
        self.prepare_database(n).await?;
        // Room for every user's session, user and profile entries.
        let room = [("CACHE_L1_MAX_ENTRIES", (n * 4).to_string())];
        let service = self.start_service_with(Mode::TwoTier, &room).await?;
        let pid = service.child.id();
        let rss_before = current_rss_mb(pid)?;
        // One pass over every token (each thread walks its own share).
        let seconds = (n as u64 / 4_000).max(3);
        let env = [("BENCH_TOKENS", self.tokens_file.display().to_string())];
        self.wrk_env(&service.base, "once.lua", seconds, 50, &env)?;
        let rss_after = current_rss_mb(pid)?;
        // The L1 size gauge is refreshed every few seconds.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let metrics = scrape(&service.metrics).await?;
        service.stop();
        let bytes = (rss_after - rss_before) * 1024.0 * 1024.0 / n as f64;
        println!("  {n} users: RSS {rss_before:.1} → {rss_after:.1} MB, {bytes:.0} bytes per user");
        Ok(LargeL1 {
            users: n,
            rss_before_mb: rss_before,
            rss_after_mb: rss_after,
            l1_entries: testkit::metric_sum(&metrics, "cache_l1_entries", &[]),
            bytes_per_user: bytes,
        })
    }

    pub(super) async fn pg_transactions(&self) -> Result<i64> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = 'codezest_bench'",
        )
        .fetch_one(&mut admin)
        .await?;
        Ok(n)
    }

    pub(super) fn wrk(
        &self,
        base: &str,
        script: &str,
        seconds: u64,
        connections: usize,
        extra: &[(&str, String)],
    ) -> Result<Load> {
        let mut env = vec![
            ("BENCH_TOKENS", self.tokens_file.display().to_string()),
            ("BENCH_REFRESH", self.refresh_file.display().to_string()),
            (
                "BENCH_IDS",
                self.dir.join("user-ids.txt").display().to_string(),
            ),
            ("BENCH_USERS", self.users.len().to_string()),
            ("BENCH_PASSWORD", PASSWORD.to_owned()),
        ];
        env.extend(extra.iter().cloned());
        self.wrk_env(base, script, seconds, connections, &env)
    }

    pub(super) fn wrk_env(
        &self,
        base: &str,
        script: &str,
        seconds: u64,
        connections: usize,
        env: &[(&str, String)],
    ) -> Result<Load> {
        let threads = 2.min(connections);
        let output = Command::new("wrk")
            .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
            .args(["-d", &format!("{seconds}s"), "--timeout", "10s", "-s"])
            .arg(self.dir.join(script))
            .arg(base)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("BENCH_THREADS", threads.to_string())
            .output()
            .context("run wrk")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("BENCH "))
            .with_context(|| {
                format!(
                    "wrk printed no result: {stdout}{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })?;
        let v: Value = serde_json::from_str(line)?;
        let us = |k: &str| v[k].as_f64().unwrap_or_default() / 1000.0;
        let requests = v["requests"].as_u64().unwrap_or_default();
        let seconds = v["duration_us"].as_f64().unwrap_or(1.0) / 1e6;
        Ok(Load {
            requests,
            seconds,
            rps: requests as f64 / seconds,
            p50_ms: us("p50_us"),
            p95_ms: us("p95_us"),
            p99_ms: us("p99_us"),
            max_ms: us("max_us"),
            errors: v["status_errors"].as_u64().unwrap_or_default()
                + v["socket_errors"].as_u64().unwrap_or_default(),
        })
    }
}
