//! A real Redis Cluster on loopback: `masters` `redis-server`s in cluster mode
//! on free ports (cluster bus ports chosen too), optionally one replica each,
//! joined by `redis-cli --cluster create`; stopped when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{RedisServer, free_port, unique_name};

pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts the nodes, creates the cluster (no replicas) and waits until it
    /// reports `cluster_state:ok` on every node.
    pub fn start(masters: usize) -> std::io::Result<Self> {
        Self::create(masters, 0)
    }

    /// `masters` masters with one replica each (`redis-cli` pairs them), for
    /// failover tests.
    pub fn start_with_replicas(masters: usize) -> std::io::Result<Self> {
        Self::create(masters, 1)
    }

    fn create(masters: usize, replicas: usize) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(unique_name("czt-cluster"));
        std::fs::create_dir_all(&dir)?;
        let mut nodes = Vec::new();
        for i in 0..masters * (1 + replicas) {
            let conf = dir.join(format!("nodes-{i}.conf"));
            let bus = free_port().to_string();
            nodes.push(RedisServer::start(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &conf.display().to_string(),
                "--cluster-port",
                &bus,
                "--cluster-node-timeout",
                "2000",
            ])?);
        }
        let cluster = Self { nodes, dir };
        let create = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(cluster.addresses())
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !create.success() {
            return Err(std::io::Error::other("redis-cli --cluster create failed"));
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while !cluster
            .nodes
            .iter()
            .all(|node| cluster_ok(node.port()) && role(node.port()).is_some())
            || (replicas > 0 && cluster.replica_of_master(0).is_none())
        {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(
                    "the cluster did not reach cluster_state:ok",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(cluster)
    }

    /// `host:port` of every node.
    pub fn addresses(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect()
    }

    /// The seed-list URL operators write: `redis-cluster://a:1,b:2,c:3`.
    pub fn url(&self) -> String {
        format!("redis-cluster://{}", self.addresses().join(","))
    }

    /// Keys matching `pattern` over all nodes.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|node| {
                let output = Command::new("redis-cli")
                    .args([
                        "-p",
                        &node.port().to_string(),
                        "--scan",
                        "--pattern",
                        pattern,
                    ])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                output.lines().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect()
    }
}

impl RedisCluster {
    /// The port of every node that is a master now.
    pub fn master_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .map(RedisServer::port)
            .filter(|port| role(*port).as_deref() == Some("master"))
            .collect()
    }

    /// The port of a node replicating the `index`-th master (by port order),
    /// once its link to the master is up.
    fn replica_of_master(&self, index: usize) -> Option<u16> {
        let master = *self.master_ports().get(index)?;
        self.nodes.iter().map(RedisServer::port).find(|port| {
            let info = info_replication(*port);
            info.contains("role:slave")
                && info.contains(&format!("master_port:{master}"))
                && info.contains("master_link_status:up")
        })
    }

    /// SIGKILLs the first master (by port order) and returns its replica's
    /// port: the node that must take over.
    pub fn kill_a_master(&mut self) -> u16 {
        let master = self.master_ports()[0];
        let replica = self
            .replica_of_master(0)
            .expect("the cluster was started with replicas");
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port() == master) {
            node.stop();
        }
        replica
    }

    /// Whether the node on `port` is a master (one look, for polling). Not
    /// `cluster_state`: the survivors keep reporting `ok` until the node
    /// timeout has passed, whether or not a replica took over.
    pub fn is_master(port: u16) -> bool {
        role(port).as_deref() == Some("master")
    }
}

fn info_replication(port: u16) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "replication"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn role(port: u16) -> Option<String> {
    info_replication(port)
        .lines()
        .find_map(|line| line.trim().strip_prefix("role:").map(str::to_owned))
}

fn cluster_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
