//! Debian's PgBouncer on a free loopback port, in **transaction** pooling
//! mode, in front of the tests' PostgreSQL: every database name is passed
//! through, trust authentication, and a server pool small enough that client
//! connections must share server connections (which is what breaks clients
//! that keep state across transactions). Run as the `postgres` user when the
//! test runs as root (PgBouncer refuses root). Stopped and removed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, is_root, unique_name, with_database};

pub struct PgBouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl PgBouncer {
    /// Starts one in front of the server of `upstream` (a `postgres://` URL)
    /// with `server_pool_size` server connections per database and user.
    pub fn start(upstream: &str, server_pool_size: u32) -> std::io::Result<Self> {
        let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists())
            .ok_or_else(|| {
                std::io::Error::other(
                    "pgbouncer is not installed (Debian/Ubuntu: `apt-get install pgbouncer`)",
                )
            })?;
        let (host, upstream_port) = host_port(upstream);
        let dir = std::env::temp_dir().join(unique_name("czt-pgbouncer"));
        std::fs::create_dir_all(&dir)?;
        let port = free_port();
        let ini = format!(
            "[databases]\n\
             * = host={host} port={upstream_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {dir}/userlist.txt\n\
             pool_mode = transaction\n\
             default_pool_size = {server_pool_size}\n\
             max_client_conn = 500\n\
             ignore_startup_parameters = extra_float_digits\n\
             logfile = {dir}/pgbouncer.log\n\
             pidfile = {dir}/pgbouncer.pid\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini)?;
        std::fs::write(dir.join("userlist.txt"), "\"postgres\" \"\"\n")?;
        let mut command = Command::new(&binary);
        if is_root() {
            // As the `postgres` user itself (not through `runuser`), so that
            // killing the child kills PgBouncer.
            use std::os::unix::process::CommandExt as _;
            Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()?;
            command.uid(id("-u")?).gid(id("-g")?);
        }
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut bouncer = Self { child, dir, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = bouncer.child.try_wait() {
                return Err(std::io::Error::other(format!(
                    "pgbouncer exited with {status}: {}",
                    bouncer.log()
                )));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(std::io::Error::other(format!(
                    "pgbouncer did not listen on {port}: {}",
                    bouncer.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(bouncer)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL to `database` through this PgBouncer.
    pub fn url(&self, database: &str) -> String {
        with_database(
            &format!("postgres://postgres@127.0.0.1:{}/", self.port),
            database,
        )
    }

    /// PgBouncer's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

/// The `postgres` user's uid (`-u`) or gid (`-g`).
fn id(which: &str) -> std::io::Result<u32> {
    let output = Command::new("id").args([which, "postgres"]).output()?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| std::io::Error::other("there is no `postgres` user"))
}

/// `host` and `port` of a `postgres://[user[:pass]@]host[:port][/db]` URL.
fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    match host_port.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().unwrap_or(5432)),
        None => (host_port.to_owned(), 5432),
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
