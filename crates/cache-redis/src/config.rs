//! Settings of the cache, read by `app` from `REDIS_*` / `CACHE_*`.

use std::time::Duration;

/// How long each kind of entry lives in Redis (L2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    pub user: Duration,
    pub session: Duration,
    pub oauth: Duration,
    pub profile: Duration,
}

impl Default for Ttls {
    fn default() -> Self {
        Self {
            user: Duration::from_secs(900),
            session: Duration::from_secs(300),
            oauth: Duration::from_secs(1800),
            profile: Duration::from_secs(900),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Every Redis key and the invalidation channel start with it (`REDIS_KEY_PREFIX`).
    pub prefix: String,
    pub ttl: Ttls,
    /// Bound of the in-process cache; `0` turns L1 off (every read goes to Redis).
    pub l1_max_entries: u64,
    /// L1 lifetime of users, profiles and OAuth links.
    pub l1_ttl: Duration,
    /// L1 lifetime of sessions: short, because revocation must win even when an
    /// invalidation message is lost.
    pub l1_session_ttl: Duration,
    /// Lifetime of a "not found" user or session (an id or email that came from
    /// outside): in L2, and capped by the L1 TTLs in L1. A missing profile or
    /// OAuth link is the normal state of most users and lives as long as a
    /// value; every kind of "not found" is invalidated when its row appears.
    pub negative_ttl: Duration,
    /// Upper bound on every Redis command.
    pub op_timeout: Duration,
    /// How long a reader's lease on a missing key lasts (it only needs to outlive
    /// one database read).
    pub lease_ttl: Duration,
    /// Consecutive Redis failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How often an open breaker probes Redis.
    pub breaker_probe_interval: Duration,
    /// Window of the hit-ratio check that warns under 70 %.
    pub hit_ratio_window: Duration,
    /// Size of the Redis connection pool.
    pub pool_size: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            prefix: "cz".to_owned(),
            ttl: Ttls::default(),
            l1_max_entries: 100_000,
            l1_ttl: Duration::from_secs(30),
            l1_session_ttl: Duration::from_secs(5),
            negative_ttl: Duration::from_secs(30),
            op_timeout: Duration::from_millis(250),
            lease_ttl: Duration::from_secs(5),
            breaker_threshold: 3,
            breaker_probe_interval: Duration::from_millis(500),
            hit_ratio_window: Duration::from_secs(60),
            pool_size: 4,
        }
    }
}

impl CacheConfig {
    /// The session L1 lifetime actually used: never above 5 s nor above `l1_ttl`.
    pub(crate) fn session_l1_ttl(&self) -> Duration {
        self.l1_session_ttl
            .min(self.l1_ttl)
            .min(Duration::from_secs(5))
    }

    pub(crate) fn l1_enabled(&self) -> bool {
        self.l1_max_entries > 0 && !self.l1_ttl.is_zero()
    }
}

/// `REDIS_URL` in the form fred reads. fred takes a cluster's or a sentinel
/// group's further nodes as `?node=host:port` parameters; operators (and every
/// other client) write them as a seed list,
/// `redis-cluster://[user:pass@]h1:p1,h2:p2,h3:p3[/db][?…]`. Both forms are
/// accepted: a seed list becomes fred's form, anything else passes unchanged.
pub fn fred_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    if !(scheme.ends_with("-cluster") || scheme.ends_with("-sentinel")) {
        return raw.to_owned();
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), authority),
    };
    let mut hosts = hosts.split(',').map(str::trim).filter(|h| !h.is_empty());
    let Some(first) = hosts.next() else {
        return raw.to_owned();
    };
    let nodes: Vec<String> = hosts.map(|host| format!("node={host}")).collect();
    if nodes.is_empty() {
        return raw.to_owned();
    }
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let query = if query.is_empty() {
        nodes.join("&")
    } else {
        format!("{query}&{}", nodes.join("&"))
    };
    format!("{scheme}://{userinfo}{first}{path}?{query}")
}

/// Whether fred can read `raw` (after [`fred_url`]); the reason when not. The
/// reason never repeats the URL, which may hold a password.
pub fn check_url(raw: &str) -> Result<(), String> {
    fred::types::config::Config::from_url(&fred_url(raw))
        .map(drop)
        .map_err(|error| error.details().to_owned())
}

#[cfg(test)]
mod tests {
    use super::{check_url, fred_url};
    use fred::types::config::{Config, ServerConfig};

    /// The servers fred will use, sorted (fred keeps its own order).
    fn hosts(url: &str) -> Vec<String> {
        let config = Config::from_url(&fred_url(url)).expect("fred reads it");
        let mut hosts = match config.server {
            ServerConfig::Clustered { hosts, .. } | ServerConfig::Sentinel { hosts, .. } => hosts
                .iter()
                .map(|h| format!("{}:{}", h.host, h.port))
                .collect(),
            ServerConfig::Centralized { server } => {
                vec![format!("{}:{}", server.host, server.port)]
            }
        };
        hosts.sort();
        hosts
    }

    #[test]
    fn seed_lists_become_freds_node_parameters() {
        let seeds = "redis-cluster://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103";
        assert_eq!(
            fred_url(seeds),
            "redis-cluster://127.0.0.1:7101?node=127.0.0.1:7102&node=127.0.0.1:7103"
        );
        assert_eq!(
            hosts(seeds),
            ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"]
        );
        // Credentials, a database and a query survive.
        assert_eq!(
            fred_url("rediss-cluster://u:p%40ss@a:1,b:2/0?x=y"),
            "rediss-cluster://u:p%40ss@a:1/0?x=y&node=b:2"
        );
        assert_eq!(
            hosts("redis-sentinel://s1:26379,s2:26379/0?sentinelServiceName=mymaster"),
            ["s1:26379", "s2:26379"]
        );
    }

    #[test]
    fn freds_own_forms_and_single_servers_pass_unchanged() {
        for url in [
            "redis://127.0.0.1:6379/0",
            "redis-cluster://a:1?node=b:2&node=c:3",
            "redis-sentinel://s1:26379/0?sentinelServiceName=m&node=s2:26379",
        ] {
            assert_eq!(fred_url(url), url);
        }
        assert_eq!(
            hosts("redis-cluster://a:1?node=b:2&node=c:3"),
            ["a:1", "b:2", "c:3"]
        );
        assert!(check_url("redis-cluster://a:1,b:notaport").is_err());
    }
}
