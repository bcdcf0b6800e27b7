//! A throwaway PostgreSQL server of the test's own (Debian's binaries, a new
//! cluster in a temporary directory, trust auth), so a test can take the
//! database away for real — `pg_ctl stop -m immediate`, a crash without a
//! checkpoint — and bring it back. Run as the `postgres` user when the test
//! runs as root (initdb refuses root). Stopped and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, unique_name};

pub struct PostgresServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Where PostgreSQL's server programs are: the PATH (an empty path) when
/// `initdb` and `pg_ctl` are on it, else the newest `/usr/lib/postgresql/*/bin`
/// (Debian keeps them off the PATH).
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let on_path = |program: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if on_path("initdb") && on_path("pg_ctl") {
        return Some(PathBuf::new());
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// `program` from `bin`, run as the `postgres` user when we are root (initdb
/// and postgres refuse root).
pub fn as_postgres(bin: &Path, program: &str) -> Command {
    let program = bin.join(program);
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

impl PostgresServer {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(unique_name("czt-pg"));
        std::fs::create_dir_all(&dir).expect("postgres directory");
        let server = Self {
            bin: postgres_bin_dir()
                .expect("PostgreSQL's server binaries (Debian: apt-get install postgresql)"),
            dir,
            port: free_port(),
        };
        if is_root() {
            let chown = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&server.dir)
                .status();
            assert!(chown.is_ok_and(|s| s.success()), "chown to postgres");
        }
        let data = server.dir.join("data");
        let initdb = server
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(initdb.is_ok_and(|s| s.success()), "initdb failed");
        server.resume();
        server
    }

    fn command(&self, program: &str) -> Command {
        as_postgres(&self.bin, program)
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        self.command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts (again) on the same port and waits until it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").display().to_string();
        assert!(
            self.pg_ctl(&["-l", &log, "-o", &options, "-w", "start"]),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Takes it away as a crash does: `pg_ctl stop -m immediate`.
    pub fn crash(&self) {
        assert!(
            self.pg_ctl(&["-m", "immediate", "stop"]),
            "pg_ctl stop failed"
        );
    }

    /// Its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
