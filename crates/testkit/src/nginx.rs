//! A real nginx (Debian's package), started in the foreground on a free
//! loopback port with a site configuration the test gives, in a directory of
//! its own; stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

pub struct Nginx {
    port: u16,
    dir: PathBuf,
    child: Child,
}

/// `nginx` on the PATH, or where Debian puts it.
fn binary() -> String {
    let on_path = Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if on_path { "nginx" } else { "/usr/sbin/nginx" }.to_owned()
}

impl Nginx {
    /// Starts nginx with `site` (the contents of an `http { }` block) after
    /// `listen 127.0.0.1:8000` in it is replaced by a free port.
    pub fn start(site: &str) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(crate::unique_name("czt-nginx"));
        std::fs::create_dir_all(&dir).expect("nginx directory");
        write_conf(&dir, port, site);
        let binary = binary();
        let child = Command::new(&binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {binary} ({e}): `cargo xtask test` installs nginx (Debian: `apt-get install nginx`)")
            });
        let mut nginx = Self { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited at start ({status}): {}", nginx.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                nginx.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    /// Replaces the site and reloads nginx as an operator would (`nginx -s
    /// reload`): new workers take the new configuration, the old ones finish
    /// the requests they hold and exit. Returns the old workers' pids, for
    /// [`Nginx::exited`] (polled, so that an async test keeps its own clients
    /// running meanwhile: an old worker waits for their half-sent requests).
    pub fn reload(&self, site: &str) -> Vec<String> {
        let old_workers = self.workers();
        write_conf(&self.dir, self.port, site);
        let status = Command::new(binary())
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .arg("-e")
            .arg(self.dir.join("error.log"))
            .args(["-s", "reload"])
            .status()
            .expect("nginx -s reload");
        assert!(status.success(), "nginx -s reload: {}", self.error_log());
        old_workers
    }

    /// Whether none of `workers` runs any more.
    pub fn exited(&self, workers: &[String]) -> bool {
        !self.workers().iter().any(|pid| workers.contains(pid))
    }

    /// The pids of the master's worker processes.
    fn workers(&self) -> Vec<String> {
        let output = Command::new("pgrep")
            .args(["-P", &self.child.id().to_string()])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

/// nginx.conf around `site` (its `listen 127.0.0.1:8000` moved to `port`): in
/// the foreground with a master process (so that it can reload), every file
/// under `dir`.
fn write_conf(dir: &std::path::Path, port: u16, site: &str) {
    let site = site.replace("listen 127.0.0.1:8000", &format!("listen 127.0.0.1:{port}"));
    let d = dir.display();
    let conf = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         {site}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers (a SIGKILL would orphan them).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
