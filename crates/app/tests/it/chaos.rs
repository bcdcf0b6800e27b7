//! Fault scenarios under one kind of load, measured one way, for each test's
//! pass criteria and for `cargo xtask chaos`, which runs them longer
//! (`CHAOS_SECONDS`) and collects what they report (`CHAOS_REPORT`, one JSON
//! line per scenario) into `target/chaos/`.
//!
//! The load: each client signs in a user of its own and loops over `/me`; every
//! tenth request registers a new user, every tenth (offset) logs the newest of
//! them out, and every tenth (offset again) reads `/me` with a token logged out
//! earlier, which must be refused. The integrity check afterwards: every
//! registration answered 201 exists, every logout answered 204 is revoked (in
//! PostgreSQL and on the API), and nothing else changed (no other user was
//! written, every other session of theirs is still active).

// Without the `cache` feature only the rolling restart and the pooler test
// drive the load.
#![cfg_attr(not(feature = "cache"), allow(dead_code))]

use api_types::paths;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, Tokens};

/// How long a scenario keeps its fault (and its load) at least: `CHAOS_SECONDS`,
/// or `ci` (the short variant the test suite runs).
pub(crate) fn hold(ci: Duration) -> Duration {
    std::env::var("CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(ci, Duration::from_secs_f64)
}

#[derive(Default)]
struct Shared {
    /// (during the fault, latency, what went wrong if anything, 5xx)
    samples: Vec<(bool, Duration, Option<String>, bool)>,
    /// Requests that needed the database, refused with 503 while it was down.
    refused: u64,
    registered: Vec<String>,
    revoked: Vec<String>,
    stale: u64,
}

pub(crate) struct Load {
    running: Arc<AtomicBool>,
    fault: Arc<AtomicBool>,
    database_down: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What one scenario's load saw.
pub(crate) struct Tally {
    pub(crate) requests: u64,
    pub(crate) refused: u64,
    pub(crate) errors: Vec<String>,
    pub(crate) server_errors: u64,
    pub(crate) p99_fault: Duration,
    pub(crate) stale: u64,
    registered: Vec<String>,
    revoked: Vec<String>,
}

impl Load {
    /// Starts `clients` clients against `app` (whose database the integrity
    /// check reads).
    pub(crate) async fn start(app: &TestApp, clients: usize) -> Self {
        Self::start_at(app, &app.address, app.client.clone(), clients).await
    }

    /// The same with requests sent to `base` (a load balancer in front of
    /// `app`'s service) by `client`.
    pub(crate) async fn start_at(
        app: &TestApp,
        base: &str,
        client: reqwest::Client,
        clients: usize,
    ) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let fault = Arc::new(AtomicBool::new(false));
        let database_down = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let own = app.register().await;
            let (client, base) = (client.clone(), base.to_owned());
            let (running, fault, shared) = (running.clone(), fault.clone(), shared.clone());
            let database_down = database_down.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine: Vec<Tokens> = Vec::new();
                let mut i = 0_u64;
                while running.load(Ordering::Relaxed) {
                    i += 1;
                    let during = fault.load(Ordering::Relaxed);
                    let started = Instant::now();
                    let (outcome, needs_database) = match i % 10 {
                        0 => (register(&client, &base, &shared, &mut mine).await, true),
                        5 => (logout(&client, &base, &shared, &mut mine).await, true),
                        7 => (revoked_me(&client, &base, &shared).await, true),
                        _ => (
                            expect(me(&client, &base, &own.access).await, StatusCode::OK, "me"),
                            false,
                        ),
                    };
                    let latency = started.elapsed();
                    let server_error = outcome.status.is_some_and(|s| s.is_server_error());
                    let mut shared = shared.lock().unwrap();
                    // A signed-in user's cached reads must keep answering;
                    // what needs the database may be refused while it is down.
                    if needs_database
                        && outcome.status == Some(StatusCode::SERVICE_UNAVAILABLE)
                        && database_down.load(Ordering::Relaxed)
                    {
                        shared.refused += 1;
                        shared.samples.push((during, latency, None, true));
                    } else {
                        shared
                            .samples
                            .push((during, latency, outcome.problem, server_error));
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        Self {
            running,
            fault,
            database_down,
            shared,
            tasks,
        }
    }

    pub(crate) fn fault_begins(&self) {
        self.fault.store(true, Ordering::Relaxed);
    }

    pub(crate) fn fault_ends(&self) {
        self.fault.store(false, Ordering::Relaxed);
    }

    /// While set, a 503 to a request that needs PostgreSQL is the designed
    /// answer (counted as refused), not an error.
    pub(crate) fn database_down(&self, down: bool) {
        self.database_down.store(down, Ordering::Relaxed);
    }

    pub(crate) async fn stop(self) -> Tally {
        self.running.store(false, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        let shared = std::mem::take(&mut *self.shared.lock().unwrap());
        let mut during: Vec<Duration> =
            shared.samples.iter().filter(|s| s.0).map(|s| s.1).collect();
        during.sort();
        let p99_fault = if during.is_empty() {
            Duration::ZERO
        } else {
            percentile(&during, 99)
        };
        Tally {
            requests: shared.samples.len() as u64,
            refused: shared.refused,
            errors: shared.samples.iter().filter_map(|s| s.2.clone()).collect(),
            server_errors: shared.samples.iter().filter(|s| s.3).count() as u64,
            p99_fault,
            stale: shared.stale,
            registered: shared.registered,
            revoked: shared.revoked,
        }
    }
}

/// What one request came to: what went wrong, if anything, and the status.
struct Outcome {
    problem: Option<String>,
    status: Option<StatusCode>,
}

const FINE: Outcome = Outcome {
    problem: None,
    status: None,
};

fn expect(response: reqwest::Result<reqwest::Response>, want: StatusCode, what: &str) -> Outcome {
    match response {
        Ok(r) if r.status() == want => FINE,
        Ok(r) => Outcome {
            problem: Some(format!("{what}: {}", r.status())),
            status: Some(r.status()),
        },
        Err(error) => Outcome {
            problem: Some(format!("{what}: {error}")),
            status: None,
        },
    }
}

async fn me(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> reqwest::Result<reqwest::Response> {
    client
        .get(format!("{base}{}", paths::ME))
        .bearer_auth(token)
        .send()
        .await
}

async fn register(
    client: &reqwest::Client,
    base: &str,
    shared: &Mutex<Shared>,
    mine: &mut Vec<Tokens>,
) -> Outcome {
    let email = format!("chaos-{}@example.com", Uuid::new_v4().simple());
    let response = client
        .post(format!("{base}{}", paths::REGISTER))
        .json(&json!({"email": email, "password": PASSWORD, "name": "Chaos"}))
        .send()
        .await;
    match response {
        Ok(r) if r.status() == StatusCode::CREATED => {
            let tokens = Tokens::from_body(r.json().await.unwrap());
            shared.lock().unwrap().registered.push(email);
            mine.push(tokens);
            FINE
        }
        other => expect(other, StatusCode::CREATED, "register"),
    }
}

async fn logout(
    client: &reqwest::Client,
    base: &str,
    shared: &Mutex<Shared>,
    mine: &mut Vec<Tokens>,
) -> Outcome {
    let Some(tokens) = mine.pop() else {
        return FINE;
    };
    let response = client
        .post(format!("{base}{}", paths::LOGOUT))
        .bearer_auth(&tokens.access)
        .send()
        .await;
    match response {
        Ok(r) if r.status() == StatusCode::NO_CONTENT => {
            shared.lock().unwrap().revoked.push(tokens.access);
            FINE
        }
        other => expect(other, StatusCode::NO_CONTENT, "logout"),
    }
}

async fn revoked_me(client: &reqwest::Client, base: &str, shared: &Mutex<Shared>) -> Outcome {
    let token = shared.lock().unwrap().revoked.last().cloned();
    let Some(token) = token else {
        return FINE;
    };
    let outcome = expect(
        me(client, base, &token).await,
        StatusCode::UNAUTHORIZED,
        "a logged-out session",
    );
    if outcome.status.is_some_and(|status| status.is_success()) {
        shared.lock().unwrap().stale += 1;
    }
    outcome
}

impl Tally {
    /// Every 201 registration exists, every 204 logout is revoked (in the
    /// database and on the API of `app`), and no other user was written.
    pub(crate) async fn integrity(&self, app: &TestApp) -> Result<(), String> {
        let registered = self.registered.len() as i64;
        // Of the registered, how many exist; of the load's addresses, how
        // many were written (a refused or unanswered registration must not be).
        let (found, written): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE email = ANY($1)),
                    count(*) FILTER (WHERE email LIKE 'chaos-%')
             FROM users",
        )
        .bind(&self.registered)
        .fetch_one(&app.pool)
        .await
        .map_err(|e| e.to_string())?;
        if found != registered || written != registered {
            return Err(format!(
                "{registered} registrations answered 201; {found} of them exist, {written} users written"
            ));
        }
        for token in &self.revoked {
            let status = app.me(token).await.status();
            if status != StatusCode::UNAUTHORIZED {
                return Err(format!("a logout answered 204 is served: {status}"));
            }
        }
        // Each registered user has its one session: revoked exactly when the
        // logout was answered 204, active otherwise (nothing else changed).
        let (revoked, active): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE s.revoked_at IS NOT NULL),
                    count(*) FILTER (WHERE s.revoked_at IS NULL)
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE u.email = ANY($1)",
        )
        .bind(&self.registered)
        .fetch_one(&app.pool)
        .await
        .map_err(|e| e.to_string())?;
        let logged_out = self.revoked.len() as i64;
        if (revoked, active) != (logged_out, registered - logged_out) {
            return Err(format!(
                "{logged_out} logouts answered 204 of {registered} sessions; {revoked} revoked, {active} active"
            ));
        }
        if self.stale > 0 {
            return Err(format!("{} reads served a logged-out session", self.stale));
        }
        Ok(())
    }

    /// Fails the test on any error, 5xx, stale read or integrity breach;
    /// reports the scenario to `CHAOS_REPORT` when set.
    pub(crate) async fn check(self, scenario: &str, app: &TestApp, recovered: Option<Duration>) {
        let integrity = self.integrity(app).await;
        let report = json!({
            "scenario": scenario,
            "requests": self.requests,
            "errors": self.errors.len(),
            "server_errors": self.server_errors,
            "refused_503": self.refused,
            "p99_fault_ms": self.p99_fault.as_secs_f64() * 1000.0,
            "recovered_ms": recovered.map(|d| d.as_secs_f64() * 1000.0),
            "registered": self.registered.len(),
            "revoked": self.revoked.len(),
            "integrity": integrity.as_ref().map_or_else(Clone::clone, |()| "ok".to_owned()),
        });
        append(&report);
        assert!(
            self.errors.is_empty(),
            "{scenario}: {} of {} requests failed: {:?}",
            self.errors.len(),
            self.requests,
            &self.errors[..self.errors.len().min(10)]
        );
        assert_eq!(integrity, Ok(()), "{scenario}: integrity");
        assert!(
            self.requests > 50,
            "{scenario}: only {} requests ran",
            self.requests
        );
    }
}

/// The `p`th percentile of `sorted` (nearest rank).
pub(crate) fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p).div_ceil(100).saturating_sub(1)]
}

/// Reports how long changes took to reach another instance (sorted samples)
/// to `CHAOS_REPORT`, as a row of the latency table.
pub(crate) fn report_latency(scenario: &str, sorted: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: usize| ms(percentile(sorted, p));
    let report = json!({
        "kind": "latency",
        "scenario": scenario,
        "changes": sorted.len(),
        "p50_ms": at(50),
        "p99_ms": at(99),
        "max_ms": sorted.last().map_or(0.0, |d| ms(*d)),
    });
    append(&report);
}

fn append(report: &serde_json::Value) {
    eprintln!("chaos: {report}");
    if let Ok(path) = std::env::var("CHAOS_REPORT") {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("CHAOS_REPORT is writable");
        writeln!(file, "{report}").unwrap();
    }
}
