//! Shutdown: a rolling restart of one of two instances (the real binary,
//! stopped with SIGTERM) behind Debian's nginx, as shipped in
//! `deploy/nginx/load-balancer.conf`, loses no request.

use api_types::paths;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_app_with};

/// An instance as an operator runs it: the binary, the service's environment
/// and signing key, on `port`.
struct Instance {
    port: u16,
    child: Child,
}

impl Instance {
    fn start(app: &TestApp, key_file: &std::path::Path, port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_codezest-auth"))
            .envs(&app.env)
            .env("JWT_PRIVATE_KEY_FILE", key_file)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "METRICS_ADDR",
                format!("127.0.0.1:{}", testkit::free_port()),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        Self { port, child }
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = format!("http://127.0.0.1:{}/readyz", self.port);
            if let Ok(response) = client.get(url).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the instance on {} exited: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "instance {} not ready",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait for it to finish what it had accepted and exit.
    async fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "stopped with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit 15 s after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_rolling_restart_behind_nginx_loses_no_request() {
    // The load registers faster than one address may.
    let app = spawn_app_with(&[("RATE_LIMIT_PER_IP", "1000000")]).await;
    let key_file = std::env::temp_dir().join(testkit::unique_name("czt-key"));
    std::fs::write(&key_file, &app.signing_pem).unwrap();
    let client = reqwest::Client::new();
    let ports = [testkit::free_port(), testkit::free_port()];
    let mut instances = vec![
        Instance::start(&app, &key_file, ports[0]),
        Instance::start(&app, &key_file, ports[1]),
    ];
    for instance in &mut instances {
        instance.wait_ready(&client).await;
    }
    let shipped = include_str!("../../../../deploy/nginx/load-balancer.conf")
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", ports[0]))
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", ports[1]));
    // The operator's step before stopping an instance: mark it `down` and
    // reload nginx, so that no request (above all no POST, which nginx never
    // retries once sent) reaches it while it closes its connections.
    let without = |port: u16| {
        let server = format!("server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;");
        assert!(
            shipped.contains(&server),
            "the shipped upstream lists {port}"
        );
        shipped.replace(
            &server,
            &format!("server 127.0.0.1:{port} max_fails=1 fail_timeout=2s down;"),
        )
    };
    let nginx = testkit::Nginx::start(&shipped);
    let probe = app.register().await;

    // Eight clients (reads, registrations, logouts) through nginx for as long
    // as the restarts take, a connection per request: a reload closes nginx's
    // idle client connections, which a browser retries and reqwest does not.
    let fresh_connections = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let load = crate::chaos::Load::start_at(&app, &nginx.url(""), fresh_connections, 8).await;
    let settle = Duration::from_millis(500);
    load.fault_begins();
    let started = Instant::now();
    // One instance at a time: take it out of nginx, stop it (SIGTERM), start
    // it again, wait until it is ready, put it back; then the other.
    let reload = async |site: &str| {
        let old = nginx.reload(site);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !nginx.exited(&old) {
            assert!(Instant::now() < deadline, "nginx's old worker did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    for (i, port) in ports.into_iter().enumerate() {
        reload(&without(port)).await;
        instances.remove(i).stop().await;
        tokio::time::sleep(settle).await;
        instances.insert(i, Instance::start(&app, &key_file, port));
        instances[i].wait_ready(&client).await;
        reload(&shipped).await;
        tokio::time::sleep(settle).await;
    }
    let restarted = started.elapsed();
    load.fault_ends();
    tokio::time::sleep(crate::chaos::hold(settle)).await;
    let tally = load.stop().await;
    let _ = std::fs::remove_file(&key_file);
    if !tally.errors.is_empty() {
        eprintln!("{}", nginx.error_log());
    }
    // Both instances serve again.
    for port in ports {
        let me = client
            .get(format!("http://127.0.0.1:{port}{}", paths::ME))
            .bearer_auth(&probe.access)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK);
    }
    eprintln!("both instances restarted in {restarted:?}");
    tally
        .check(
            "rolling restart (SIGTERM) of 2 instances behind nginx",
            &app,
            None,
        )
        .await;
    drop(instances);
}

/// A reset asked for just before the instance is told to stop is still
/// queued: the mail is queued after the `202` (so a known and an unknown
/// address are answered alike), and a graceful shutdown waits for that work
/// before it closes the pool.
#[tokio::test]
async fn a_reset_asked_for_just_before_sigterm_is_still_queued() {
    let app = spawn_app_with(&[]).await;
    let email = "stopping@example.com";
    app.register_as(email).await;
    let outbox = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM mail_outbox WHERE recipient = $1")
            .bind(email)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let before = outbox().await;
    let key_file = std::env::temp_dir().join(testkit::unique_name("czt-key"));
    std::fs::write(&key_file, &app.signing_pem).unwrap();
    let client = reqwest::Client::new();
    let mut instance = Instance::start(&app, &key_file, testkit::free_port());
    instance.wait_ready(&client).await;
    let asked = client
        .post(format!(
            "http://127.0.0.1:{}{}",
            instance.port,
            paths::PASSWORD_FORGOT
        ))
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    instance.stop().await;
    let _ = std::fs::remove_file(&key_file);
    assert_eq!(outbox().await, before + 1, "the reset mail was lost");
}
