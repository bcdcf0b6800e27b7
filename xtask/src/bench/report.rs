//! The report: Markdown, and the chart (plotters, SVG).

use super::*;

pub(super) fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

pub(super) fn versions() -> String {
    let out = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    format!(
        "codezest-auth {}; {}; {}; {}; {}",
        env!("CARGO_PKG_VERSION"),
        out("rustc", "--version"),
        out("redis-server", "--version")
            .split(" sha=")
            .next()
            .unwrap_or_default(),
        out("psql", "--version"),
        out("wrk", "--version"),
    )
}

fn fmt_opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

pub(super) fn markdown(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## `GET {}`, {} users' tokens rotating, concurrency {}, {} s per mode, rate limits {}\n",
        paths::ME,
        r.users,
        r.concurrency,
        r.duration_s,
        if r.rate_limits { "on" } else { "off" }
    );
    let _ = writeln!(
        md,
        "Machine: {} ({} cores). {}\n",
        r.machine, r.cores, r.versions
    );
    let _ = writeln!(
        md,
        "| mode | req/s | × floor | p50 ms | p95 ms | p99 ms | max ms | errors | DB queries/req | PG xacts/req | Redis cmds/req | L1 hit | L2 hit | CPU s/1k req | peak RSS MB |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for m in &r.modes {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {} | {} | {:.3} | {:.1} |",
            m.mode,
            m.load.rps,
            fmt_opt(m.ratio_to_floor, 2),
            m.load.p50_ms,
            m.load.p95_ms,
            m.load.p99_ms,
            m.load.max_ms,
            m.load.errors,
            fmt_opt(m.db_queries_per_request, 4),
            fmt_opt(m.pg_transactions_per_request, 4),
            fmt_opt(m.redis_commands_per_request, 4),
            fmt_opt(m.l1_hit_ratio.map(|v| v * 100.0), 1),
            fmt_opt(m.l2_hit_ratio.map(|v| v * 100.0), 1),
            m.cpu_seconds_per_1000,
            m.peak_rss_mb
        );
    }
    let find = |name: &str| r.modes.iter().find(|m| m.mode == name).map(|m| m.load.rps);
    if let (Some(db), Some(two)) = (find(Mode::DbOnly.name()), find(Mode::TwoTier.name())) {
        let _ = writeln!(md, "\n`two-tier` = {:.2}× `db-only`", two / db);
    }
    if let (Some(db), Some(redis)) = (find(Mode::DbOnly.name()), find(Mode::RedisOnly.name())) {
        let _ = writeln!(md, "\n`redis-only` = {:.2}× `db-only`", redis / db);
    }
    workloads_markdown(r, &mut md);
    md
}

/// The table of refresh, login and mixed throughput, and the L1 memory line.
fn workloads_markdown(r: &Report, md: &mut String) {
    let _ = writeln!(md, "\n## Writes and sign-ins (two-tier)\n");
    let _ = writeln!(
        md,
        "| workload | req/s | p50 ms | p99 ms | errors | notes |\n|---|---|---|---|---|---|"
    );
    if let Some(l) = &r.refresh {
        let _ = writeln!(
            md,
            "| `POST /auth/refresh` (rotating) | {:.0} | {:.2} | {:.2} | {} | |",
            l.rps, l.p50_ms, l.p99_ms, l.errors
        );
    }
    if let Some(l) = &r.login {
        let _ = writeln!(
            md,
            "| `POST /auth/login` (argon2id) | {:.0} | {:.2} | {:.2} | {} | {:.0} logins/s per core |",
            l.rps,
            l.p50_ms,
            l.p99_ms,
            l.errors,
            r.login_per_core.unwrap_or_default()
        );
    }
    if let Some(l) = &r.sign_in_page {
        let _ = writeln!(
            md,
            "| `GET /ui/sign-in` (hosted page, first visit) | {:.0} | {:.2} | {:.2} | {} | target ≥ 5,000 pages/s |",
            l.rps, l.p50_ms, l.p99_ms, l.errors
        );
    }
    if let (Some(form), Some(before), Some(after)) = (&r.form_login, &r.login, &r.login_again) {
        let json = (before.rps + after.rps) / 2.0;
        let _ = writeln!(
            md,
            "| `POST /ui/sign-in` (the page's form, argon2id) | {:.0} | {:.2} | {:.2} | {} | {:.2}× the JSON login around it ({:.0} and {:.0} req/s; target ≥ 0.90×) |",
            form.rps,
            form.p50_ms,
            form.p99_ms,
            form.errors,
            form.rps / json,
            before.rps,
            after.rps
        );
    }
    if let Some(m) = &r.mixed {
        let _ = writeln!(
            md,
            "| mixed: 95 % `/me`, 4 % refresh, 1 % profile update | {:.0} | {:.2} | {:.2} | {} | hit ratio {} % (L1 {} %); {} of {} users' profiles stale after the run; {} Redis errors |",
            m.load.rps,
            m.load.p50_ms,
            m.load.p99_ms,
            m.load.errors,
            fmt_opt(m.overall_hit_ratio.map(|v| v * 100.0), 2),
            fmt_opt(m.l1_hit_ratio.map(|v| v * 100.0), 2),
            m.stale_profiles,
            m.users_checked,
            m.cache_errors
        );
    }
    if let Some(v) = &r.revocation {
        let _ = writeln!(
            md,
            "\nRevocation across instances: {} logouts on instance A, each followed by polling instance B (half through forward-auth, half through introspection) — A's `204` to B's first refusal: p50 {:.2} ms, **p99 {:.2} ms** (forward-auth {:.2} ms, introspection {:.2} ms), max {:.2} ms.",
            v.logouts, v.p50_ms, v.p99_ms, v.forward_auth_p99_ms, v.introspection_p99_ms, v.max_ms
        );
    }
    if let Some(p) = &r.provider {
        let userinfo = r.modes.iter().find(|m| m.mode == "userinfo");
        let _ = writeln!(
            md,
            "\nOpenID provider: `client_credentials` **{:.0} grants/s** (p99 {:.2} ms, {} errors); full authorization-code exchanges (code spent and client session opened in one statement, RS256 ID token, access and refresh tokens) **{:.0}/s** ({} codes, p50 {:.2} ms, p99 {:.2} ms); userinfo {} req/s ({}× the HS256 floor, {} DB queries per request); back-channel logout, a user's logout to the relying party's receipt of the logout token: p50 {:.1} ms, **p99 {:.1} ms**, max {:.1} ms ({} logouts at 100/s).",
            p.client_credentials.rps,
            p.client_credentials.p99_ms,
            p.client_credentials.errors,
            p.code_exchanges_per_s,
            p.code_exchanges,
            p.code_exchange_p50_ms,
            p.code_exchange_p99_ms,
            fmt_opt(userinfo.map(|m| m.load.rps), 0),
            fmt_opt(userinfo.and_then(|m| m.ratio_to_floor), 2),
            fmt_opt(userinfo.and_then(|m| m.db_queries_per_request), 3),
            p.backchannel_p50_ms,
            p.backchannel_p99_ms,
            p.backchannel_max_ms,
            p.backchannel_logouts
        );
    }
    if let Some(m) = &r.mfa {
        let _ = writeln!(
            md,
            "\nSecond factors: {} users enrolled through the API; `POST /auth/mfa/verify`, one at a time — TOTP code p50 {:.2} ms / **p99 {:.2} ms**, recovery code p50 {:.2} ms / p99 {:.2} ms; a passkey sign-in's `POST /auth/passkeys/login/finish` (WebAuthn verification, software passkey) p50 {:.2} ms / **p99 {:.2} ms**. `/me` (two-tier), run back to back: **{:.0} req/s** with TOTP on for every user, {:.0} just before without.",
            m.users,
            m.totp_p50_ms,
            m.totp_p99_ms,
            m.recovery_p50_ms,
            m.recovery_p99_ms,
            m.passkey_p50_ms,
            m.passkey_p99_ms,
            m.me_with_mfa_rps,
            m.me_without_rps
        );
    }
    if let Some(m) = &r.mail {
        let _ = writeln!(
            md,
            "\nMail outbox: one instance's sender delivered {} queued reset mails to an SMTP server (aiosmtpd) in {:.2} s: **{:.0} mails/s**. `POST /auth/password/forgot`, one at a time: known address p50 {:.2} ms / p99 {:.2} ms, unknown address p50 {:.2} ms / p99 {:.2} ms.",
            m.mails,
            m.seconds,
            m.per_second,
            m.forgot_known_p50_ms,
            m.forgot_known_p99_ms,
            m.forgot_unknown_p50_ms,
            m.forgot_unknown_p99_ms
        );
    }
    if let Some(l) = &r.l1_bytes_per_user {
        let _ = writeln!(
            md,
            "\nL1 memory: {} users cached → RSS {:.1} → {:.1} MB, **{:.0} bytes per user** ({} L1 entries: session, user, profile; plus the verified-token cache).",
            l.users, l.rss_before_mb, l.rss_after_mb, l.bytes_per_user, l.l1_entries
        );
    }
}

pub(super) fn chart(r: &Report, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(450);
    let max_rps = r.modes.iter().map(|m| m.load.rps).fold(1.0, f64::max) * 1.15;
    let max_p99 = r.modes.iter().map(|m| m.load.p99_ms).fold(1.0, f64::max) * 1.15;
    for (area, title, max, value, unit) in [
        (
            &left,
            "requests/s",
            max_rps,
            (|m: &ModeResult| m.load.rps) as fn(&ModeResult) -> f64,
            "",
        ),
        (
            &right,
            "p99 latency (ms)",
            max_p99,
            |m: &ModeResult| m.load.p99_ms,
            " ms",
        ),
    ] {
        let n = r.modes.len();
        let mut chart = ChartBuilder::on(area)
            .caption(format!("GET /me — {title}"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n as f64, 0f64..max)?;
        let names: Vec<String> = r.modes.iter().map(|m| m.mode.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| names.get(*x as usize).cloned().unwrap_or_default())
            .draw()?;
        for (i, m) in r.modes.iter().enumerate() {
            let color = if m.mode.starts_with("floor") {
                RGBColor(150, 150, 150)
            } else {
                RGBColor(46, 110, 190)
            };
            let v = value(m);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, v)],
                color.filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{v:.0}{unit}"),
                (i as f64 + 0.2, v + max * 0.02),
                ("sans-serif", 12),
            )))?;
        }
    }
    root.present()?;
    Ok(())
}
