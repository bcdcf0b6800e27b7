//! `cargo xtask chaos [--seconds N]`: the fault scenarios of the test suite
//! that run under [the chaos load] (Redis SIGKILLed and restarted, slowed and
//! partitioned by `tc`, a Sentinel and a Cluster master SIGKILLed, PostgreSQL
//! crashed, a rolling restart behind nginx, sustained load through PgBouncer in
//! transaction mode) and the invalidation-latency
//! measurements, one at a time with its fault (and its load) held `N` seconds (default
//! 20) instead of the suite's short variant, against servers the tests start
//! on loopback ports and stop (a Redis Cluster with replicas, a Sentinel
//! group, a `redis-server` to kill, …).
//!
//! [the chaos load]: ../../crates/app/tests/it/chaos.rs Each scenario reports one JSON line
//! (`CHAOS_REPORT`); they are collected into `target/chaos/chaos.json` and a
//! Markdown table, `target/chaos/chaos.md`, printed at the end. Fails when a
//! scenario fails its pass criteria (the test's assertions).

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::services::test_services;
use crate::{cargo, root, run};

/// The scenarios, as test names in `app`'s `it` binary.
const SCENARIOS: &[&str] = &[
    "cache::redis_dying_and_returning_mid_flight_costs_no_request",
    "faults::redis_slowed_and_partitioned_by_the_kernel_costs_no_request",
    "faults::a_sentinel_failover_under_load_costs_no_request",
    "faults::a_cluster_failover_under_load_costs_no_request",
    "cache::a_postgres_crash_fails_fast_keeps_cached_reads_and_recovers",
    "shutdown::a_rolling_restart_behind_nginx_loses_no_request",
    "pooler::the_service_works_behind_pgbouncer_in_transaction_mode",
    "faults::changes_on_one_instance_reach_another_through_the_channel",
    "faults::with_the_channel_broken_changes_are_seen_within_the_session_l1_bound",
];

pub(crate) fn chaos(args: &[String]) -> Result<()> {
    let seconds = match args {
        [] => 20.0,
        [flag, value] if flag == "--seconds" => value
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .context("--seconds takes a positive number")?,
        _ => bail!("usage: cargo xtask chaos [--seconds N]"),
    };
    let services = test_services()?;
    let dir = root().join("target/chaos");
    std::fs::create_dir_all(&dir)?;
    let report = dir.join("results.jsonl");
    let _ = std::fs::remove_file(&report);
    let mut test = cargo();
    test.args(["test", "--package", "app", "--test", "it", "--"])
        .args(SCENARIOS)
        .args(["--exact", "--test-threads=1"])
        .env("CHAOS_SECONDS", seconds.to_string())
        .env("CHAOS_REPORT", &report)
        .env("TEST_DATABASE_URL", &services.database_url)
        .env("TEST_REDIS_URL", &services.redis_url)
        .env("TEST_PYTHON", &services.python);
    let outcome = run(test);
    let rows: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    std::fs::write(
        dir.join("chaos.json"),
        serde_json::to_string_pretty(&Value::Array(rows.clone()))?,
    )?;
    let table = markdown(&rows, seconds);
    std::fs::write(dir.join("chaos.md"), &table)?;
    println!("{table}");
    println!("xtask: chaos: {} written", dir.display());
    outcome?;
    // Each scenario reports at least one row (the latency tests one per setup).
    if rows.len() < SCENARIOS.len() {
        bail!(
            "only {} reports from {} scenarios",
            rows.len(),
            SCENARIOS.len()
        );
    }
    Ok(())
}

fn markdown(rows: &[Value], seconds: f64) -> String {
    let ms = |row: &Value, key: &str| {
        row[key]
            .as_f64()
            .map_or_else(|| "–".to_owned(), |ms| format!("{ms:.1} ms"))
    };
    let mut out = format!(
        "Each fault held {seconds} s under load (4 clients, 8 behind nginx: `/me`, registrations, \
         logouts, reads of logged-out sessions).\n\n\
         | scenario | requests | errors | 5xx | p99 during the fault | time to recover | registered / logged out | integrity |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for row in rows.iter().filter(|row| row["kind"].is_null()) {
        let refused = row["refused_503"].as_u64().unwrap_or(0);
        let server_errors = if refused > 0 {
            format!(
                "{} ({refused} refused by design: 503)",
                row["server_errors"]
            )
        } else {
            row["server_errors"].to_string()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} / {} | {} |\n",
            row["scenario"].as_str().unwrap_or("?"),
            row["requests"],
            row["errors"],
            server_errors,
            ms(row, "p99_fault_ms"),
            ms(row, "recovered_ms"),
            row["registered"],
            row["revoked"],
            row["integrity"].as_str().unwrap_or("?"),
        ));
    }
    out.push_str(
        "\nA logout or profile change answered on one instance, until another answers accordingly:\n\n\
         | between two instances | changes | p50 | p99 | max |\n|---|---|---|---|---|\n",
    );
    for row in rows.iter().filter(|row| row["kind"] == "latency") {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            row["scenario"].as_str().unwrap_or("?"),
            row["changes"],
            ms(row, "p50_ms"),
            ms(row, "p99_ms"),
            ms(row, "max_ms"),
        ));
    }
    out
}
