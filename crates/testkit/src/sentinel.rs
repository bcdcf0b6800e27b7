//! A real Redis Sentinel group on loopback: a master, a replica of it and
//! three sentinels watching them (quorum 2); stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{RedisServer, free_port, unique_name};

/// The name the sentinels know the master by.
pub const SENTINEL_SERVICE: &str = "mymaster";

pub struct RedisSentinel {
    master: RedisServer,
    replica: RedisServer,
    sentinels: Vec<(u16, Child)>,
    dir: PathBuf,
}

impl RedisSentinel {
    pub fn start() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(unique_name("czt-sentinel"));
        std::fs::create_dir_all(&dir)?;
        let master = RedisServer::start(&[])?;
        let master_port = master.port().to_string();
        let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &master_port])?;
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = free_port();
            let conf = dir.join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\n\
                     sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {SENTINEL_SERVICE} 2000\n\
                     sentinel failover-timeout {SENTINEL_SERVICE} 10000\n",
                    dir.display()
                ),
            )?;
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            sentinels.push((port, child));
        }
        let group = Self {
            master,
            replica,
            sentinels,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !group
            .sentinels
            .iter()
            .all(|(port, _)| group.knows_master(*port))
        {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(
                    "the sentinels did not find the master",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(group)
    }

    fn knows_master(&self, sentinel: u16) -> bool {
        Command::new("redis-cli")
            .args(["-p", &sentinel.to_string()])
            .args(["sentinel", "get-master-addr-by-name", SENTINEL_SERVICE])
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains(&self.master.port().to_string())
            })
    }

    /// The seed-list URL operators write:
    /// `redis-sentinel://s1,s2,s3/0?sentinelServiceName=mymaster`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .sentinels
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        format!(
            "redis-sentinel://{}/0?sentinelServiceName={SENTINEL_SERVICE}",
            nodes.join(",")
        )
    }

    /// The master's port, to look at what the service wrote.
    pub fn master_port(&self) -> u16 {
        self.master.port()
    }

    /// The replica's port: the node a failover promotes.
    pub fn replica_port(&self) -> u16 {
        self.replica.port()
    }

    /// SIGKILLs the master. The sentinels promote the replica once it has been
    /// down for `down-after-milliseconds` (2 s) and they have voted.
    pub fn kill_master(&mut self) {
        self.master.stop();
    }

    /// The replica's port once every sentinel names it as the master (the
    /// failover is done); one look, so an async test can poll it.
    pub fn promoted(&self) -> Option<u16> {
        let promoted = self.replica.port().to_string();
        self.sentinels
            .iter()
            .all(|(port, _)| {
                Command::new("redis-cli")
                    .args(["-p", &port.to_string()])
                    .args(["sentinel", "get-master-addr-by-name", SENTINEL_SERVICE])
                    .output()
                    .is_ok_and(|o| {
                        String::from_utf8_lossy(&o.stdout)
                            .lines()
                            .any(|line| line.trim() == promoted)
                    })
            })
            .then(|| self.replica.port())
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        for (_, child) in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
