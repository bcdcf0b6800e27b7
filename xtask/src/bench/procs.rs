//! The processes a benchmark runs and reads: the service, its own
//! `redis-server`, and `/proc` and `/metrics` readings.

use super::*;

pub(super) struct Service {
    pub(super) child: Child,
    pub(super) base: String,
    pub(super) metrics: String,
}

impl Service {
    pub(super) async fn wait_ready(&self) -> Result<()> {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(response) = client.get(format!("{}/readyz", self.base)).send().await {
                let body: Value = response.json().await.unwrap_or_default();
                if body["postgres"] == "up" && body["redis"] != "degraded" {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the service at {} did not become ready", self.base)
    }

    pub(super) fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A benchmark that fails half-way must not leave its service running: an
/// orphan keeps sending the bench database's outbox (seen: it delivered the
/// next run's queued reset mails before the run could count them).
impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `redis-server` of the benchmark's own, so its command counts are ours.
pub(super) struct Redis {
    /// Killed when the benchmark ends.
    _server: testkit::RedisServer,
    pub(super) port: u16,
    pub(super) url: String,
}

impl Redis {
    pub(super) fn start() -> Result<Self> {
        let server = testkit::RedisServer::start(&[
            "--maxmemory",
            "256mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ])
        .context("the benchmark needs redis-server")?;
        Ok(Self {
            port: server.port(),
            url: server.url(),
            _server: server,
        })
    }

    pub(super) fn cli(&self, args: &[&str]) -> Result<String> {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .context("redis-cli")?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    pub(super) fn flush(&self) -> Result<()> {
        self.cli(&["FLUSHALL"])?;
        self.cli(&["CONFIG", "RESETSTAT"])?;
        Ok(())
    }

    /// Commands the service sent (a script counts once, not per command inside it).
    pub(super) fn commands(&self) -> Result<u64> {
        let stats = self.cli(&["INFO", "commandstats"])?;
        let mut total = 0;
        for line in stats.lines() {
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim_start_matches("cmdstat_");
            if matches!(
                name,
                "evalsha"
                    | "eval"
                    | "del"
                    | "publish"
                    | "subscribe"
                    | "ping"
                    | "hello"
                    | "client|setinfo"
                    | "script|load"
            ) {
                if name == "ping" || name.contains('|') || name == "hello" {
                    continue;
                }
                if let Some(calls) = rest
                    .strip_prefix("calls=")
                    .and_then(|r| r.split(',').next())
                {
                    total += calls.parse::<u64>().unwrap_or_default();
                }
            }
        }
        Ok(total)
    }
}

pub(super) async fn scrape(url: &str) -> Result<HashMap<String, f64>> {
    Ok(testkit::parse_metrics(
        &reqwest::get(url).await?.text().await?,
    ))
}

pub(super) fn proc_status(pid: u32, field: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{field} of {pid}"))?;
    Ok(kb / 1024.0)
}

pub(super) fn peak_rss_mb(pid: u32) -> Result<f64> {
    proc_status(pid, "VmHWM:")
}

pub(super) fn current_rss_mb(pid: u32) -> Result<f64> {
    proc_status(pid, "VmRSS:")
}

/// User + system CPU seconds of a process.
pub(super) fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat
        .rsplit_once(')')
        .map_or(stat.as_str(), |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of /proc/pid/stat (11 and 12 after the comm).
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}
