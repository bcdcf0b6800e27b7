//! A throwaway PostgreSQL server of the test's own (Debian's binaries, a new
//! cluster in a temporary directory, trust auth), so a test can take the
//! database away for real — `pg_ctl stop -m immediate`, a crash without a
//! checkpoint — and bring it back. Run as the `postgres` user when the test
//! runs as root (initdb refuses root). Stopped and removed when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, unique_name};

pub struct PostgresServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The newest `/usr/lib/postgresql/*/bin` with `initdb`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .expect("PostgreSQL's server binaries (Debian: apt-get install postgresql)")
}

impl PostgresServer {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(unique_name("czt-pg"));
        std::fs::create_dir_all(&dir).expect("postgres directory");
        let server = Self {
            bin: bin_dir(),
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
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
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
