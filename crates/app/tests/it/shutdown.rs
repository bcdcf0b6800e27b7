//! Shutdown: a rolling restart of one of two instances (the real binary,
//! stopped with SIGTERM) behind Debian's nginx, as shipped in
//! `deploy/nginx/load-balancer.conf`, loses no request.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{TestApp, Tokens, spawn_app};

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
    let app = spawn_app().await;
    let key_file = std::env::temp_dir().join(testkit::unique_name("czt-key"));
    std::fs::write(&key_file, &app.signing_pem).unwrap();
    let client = reqwest::Client::new();
    let ports = [testkit::free_port(), testkit::free_port()];
    let mut first = Instance::start(&app, &key_file, ports[0]);
    let mut second = Instance::start(&app, &key_file, ports[1]);
    first.wait_ready(&client).await;
    second.wait_ready(&client).await;
    let site = include_str!("../../../../deploy/nginx/load-balancer.conf")
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", ports[0]))
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", ports[1]));
    let nginx = Arc::new(testkit::Nginx::start(&site));
    let tokens: Vec<Tokens> = {
        let mut tokens = Vec::new();
        for _ in 0..4 {
            tokens.push(app.register().await);
        }
        tokens
    };

    // Eight clients read `/me` through nginx for as long as the restarts take.
    let running = Arc::new(AtomicBool::new(true));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for n in 0..8 {
        let (running, ok, failed) = (running.clone(), ok.clone(), failed.clone());
        let (nginx, token) = (nginx.clone(), tokens[n % tokens.len()].access.clone());
        let client = client.clone();
        load.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while running.load(Ordering::Relaxed) {
                let response = client
                    .get(nginx.url("/api/v1/auth/me"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                match response.map(|r| r.status()) {
                    Ok(StatusCode::OK) => ok.fetch_add(1, Ordering::Relaxed),
                    other => {
                        statuses.push(format!("{other:?}"));
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            statuses
        }));
    }
    let settle = Duration::from_millis(500);
    tokio::time::sleep(settle).await;
    // One instance at a time: stop it (SIGTERM), start it again, wait until it
    // is ready, then the other.
    first.stop().await;
    tokio::time::sleep(settle).await;
    let mut first = Instance::start(&app, &key_file, ports[0]);
    first.wait_ready(&client).await;
    // nginx tries an instance it saw fail again after `fail_timeout` (2 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    second.stop().await;
    tokio::time::sleep(settle).await;
    let mut second = Instance::start(&app, &key_file, ports[1]);
    second.wait_ready(&client).await;
    tokio::time::sleep(settle).await;
    running.store(false, Ordering::Relaxed);
    let mut statuses = Vec::new();
    for task in load {
        statuses.extend(task.await.unwrap());
    }
    let _ = std::fs::remove_file(&key_file);
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed: {statuses:?}\n{}",
        ok + failed,
        nginx.error_log()
    );
    assert!(ok > 100, "only {ok} requests ran");
    // Both instances serve again.
    for port in ports {
        let me = client
            .get(format!("http://127.0.0.1:{port}/api/v1/auth/me"))
            .bearer_auth(&tokens[0].access)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK);
    }
    drop((first, second));
}
