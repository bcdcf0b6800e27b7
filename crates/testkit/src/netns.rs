//! A Redis on the far side of a real network link: a network namespace the
//! test creates, a veth pair into it, `redis-server` inside. Faults are the
//! kernel's (`tc` qdiscs on the host's end of the link: `netem` where the
//! kernel has it, `tbf` otherwise): a slow link, a silent partition. Everything is removed when dropped. Needs root (CI and `cargo
//! xtask test` run as root on the project's machines) and iproute2.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct NetnsRedis {
    namespace: String,
    host_link: String,
    address: String,
    /// Off loopback, Redis wants a password (protected mode), as in production.
    password: String,
    redis: Child,
}

fn ip(args: &[&str]) -> std::io::Result<()> {
    let status = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip {} failed: {status}",
            args.join(" ")
        )))
    }
}

impl NetnsRedis {
    /// A namespace with `redis-server` listening on its end of a veth pair.
    pub fn start() -> std::io::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        // Unique per process and per call: names are at most 15 bytes.
        let tag = (std::process::id() % 10_000) * 16 + NEXT.fetch_add(1, Ordering::Relaxed) % 16;
        let namespace = format!("czt-{tag}");
        let (host_link, ns_link) = (format!("czh{tag}"), format!("czn{tag}"));
        let subnet = format!("10.{}.{}", 100 + tag / 65_536 % 100, tag / 256 % 256);
        let last = (tag % 64) * 4;
        let (host_ip, ns_ip) = (
            format!("{subnet}.{}", last + 1),
            format!("{subnet}.{}", last + 2),
        );
        let _ = ip(&["netns", "del", &namespace]);
        ip(&["netns", "add", &namespace])?;
        let setup = || -> std::io::Result<()> {
            ip(&[
                "link", "add", &host_link, "type", "veth", "peer", "name", &ns_link,
            ])?;
            ip(&["link", "set", &ns_link, "netns", &namespace])?;
            ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link])?;
            ip(&["link", "set", &host_link, "up"])?;
            let inside = |args: &[&str]| {
                let mut all = vec!["netns", "exec", &namespace, "ip"];
                all.extend_from_slice(args);
                ip(&all)
            };
            inside(&["addr", "add", &format!("{ns_ip}/30"), "dev", &ns_link])?;
            inside(&["link", "set", &ns_link, "up"])?;
            inside(&["link", "set", "lo", "up"])
        };
        if let Err(error) = setup() {
            let _ = ip(&["link", "del", &host_link]);
            let _ = ip(&["netns", "del", &namespace]);
            return Err(error);
        }
        let password = crate::unique_name("czt");
        let redis = Command::new("ip")
            .args(["netns", "exec", &namespace, "redis-server"])
            .args(["--requirepass", &password])
            .args([
                "--bind",
                &ns_ip,
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg({
                let dir = std::env::temp_dir().join(&namespace);
                std::fs::create_dir_all(&dir)?;
                dir
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self {
            namespace,
            host_link,
            address: format!("{ns_ip}:6379"),
            password,
            redis,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect_timeout(
            &server.address.parse().expect("an address"),
            Duration::from_millis(200),
        )
        .is_err()
        {
            if started.elapsed() > Duration::from_secs(5) {
                return Err(std::io::Error::other(
                    "redis-server in the namespace did not start",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("redis://:{}@{}", self.password, self.address)
    }

    /// Slows the link: `netem delay 300ms` (beyond the service's 250 ms Redis
    /// timeout), or — on kernels built without `sch_netem`, like this project's
    /// CI machine — a token bucket at 16 kbit/s (`tbf`), which delays every
    /// exchange by its queue and large values by seconds. Returns which.
    pub fn slow(&self) -> std::io::Result<&'static str> {
        self.qdisc(&[
            ("netem delay 300ms", &["netem", "delay", "300ms"]),
            (
                "tbf rate 16kbit latency 1s",
                &["tbf", "rate", "16kbit", "burst", "1600", "latency", "1s"],
            ),
        ])
    }

    /// Cuts the link without telling either end (packets silently dropped, so
    /// connections hang rather than fail): `netem loss 100%`, or a token bucket
    /// whose burst no packet fits in (`tbf`). Returns which.
    pub fn partition(&self) -> std::io::Result<&'static str> {
        self.qdisc(&[
            ("netem loss 100%", &["netem", "loss", "100%"]),
            (
                "tbf burst 32 B (every packet dropped)",
                &["tbf", "rate", "8bit", "burst", "32", "limit", "32"],
            ),
        ])
    }

    /// The first of `choices` the kernel has, as the link's root qdisc.
    fn qdisc(&self, choices: &[(&'static str, &[&str])]) -> std::io::Result<&'static str> {
        for (name, args) in choices {
            let status = Command::new("tc")
                .args(["qdisc", "replace", "dev", &self.host_link, "root"])
                .args(*args)
                .stderr(Stdio::null())
                .status()?;
            if status.success() {
                return Ok(name);
            }
        }
        Err(std::io::Error::other("tc: no qdisc of these is available"))
    }

    /// Removes the fault.
    pub fn heal(&self) -> std::io::Result<()> {
        let status = Command::new("tc")
            .args(["qdisc", "del", "dev", &self.host_link, "root"])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other("tc qdisc del failed"))
        }
    }
}

impl Drop for NetnsRedis {
    fn drop(&mut self) {
        let _ = self.redis.kill();
        let _ = self.redis.wait();
        let _ = ip(&["link", "del", &self.host_link]);
        let _ = ip(&["netns", "del", &self.namespace]);
    }
}
