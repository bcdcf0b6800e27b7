//! The Redis tier: reads with leases, fills that only land while their lease
//! holds, invalidation (DEL + PUBLISH), and the health of the connection.
//!
//! ## Stale-set defence (leases)
//! A read that misses atomically plants a lease (`l{token}`, a few seconds) in
//! the empty key and returns "leased to you". Only the lease holder fills the
//! key, and only if the key still holds *its* lease (a compare-and-set in Lua).
//! A write deletes the key after its commit, taking any lease with it, so a
//! reader that loaded the old row before the commit finds its lease gone and
//! its late fill is dropped. Every script touches one key, so it is safe on a
//! Redis Cluster.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fred::bytes::Bytes;
use fred::clients::{Client, Pool};
use fred::prelude::*;
use fred::types::config::Options;
use fred::types::scripts::Script;

use crate::breaker::Breaker;
use crate::codec::LEASE_TAG;
use crate::metrics::{CacheMetrics, Op};

/// Returns the value; or plants the caller's lease in an empty key and returns
/// nil; or returns the lease another reader holds.
const GET_OR_LEASE: &str = r#"
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"#;

/// Stores ARGV[2] for ARGV[3] ms only if the key still holds lease ARGV[1].
const FILL_IF_LEASED: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"#;

/// Most keys a Redis outage may leave waiting for deletion; beyond it the
/// oldest are lost (and the L2 TTLs bound how long they stay stale).
const MAX_PENDING: usize = 100_000;

/// How far back invalidations are deleted again after an outage. A failover
/// promotes a replica that may lack the last writes its master acknowledged
/// (replication is asynchronous): a DEL answered just before the crash can be
/// undone, and the promoted node would serve the deleted value. Replaying what
/// was invalidated within this window covers any replication lag below it.
const RECENT: Duration = Duration::from_secs(10);

pub(crate) enum Lookup {
    Hit(Bytes),
    /// The key was empty; the caller holds this lease and should fill it.
    Leased(Bytes),
    /// The key was empty and another reader is loading it.
    Busy,
    /// Redis did not answer (or the breaker is open).
    Unavailable,
}

pub(crate) struct L2 {
    pool: Pool,
    options: Options,
    op_timeout: Duration,
    lease_ttl_ms: u64,
    channel: String,
    get_or_lease: Script,
    fill_if_leased: Script,
    pub(crate) breaker: Breaker,
    pending: Mutex<HashSet<String>>,
    /// Keys invalidated within [`RECENT`], oldest first.
    recent: Mutex<VecDeque<(Instant, String)>>,
}

impl L2 {
    pub(crate) fn new(
        pool: Pool,
        op_timeout: Duration,
        lease_ttl: Duration,
        channel: String,
        breaker_threshold: u32,
    ) -> Self {
        Self {
            pool,
            options: Options {
                timeout: Some(op_timeout),
                fail_fast: true,
                max_attempts: Some(1),
                ..Options::default()
            },
            op_timeout,
            lease_ttl_ms: lease_ttl.as_millis().max(1) as u64,
            channel,
            get_or_lease: Script::from_lua(GET_OR_LEASE),
            fill_if_leased: Script::from_lua(FILL_IF_LEASED),
            breaker: Breaker::new(breaker_threshold),
            pending: Mutex::new(HashSet::new()),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    fn client(&self) -> fred::clients::WithOptions<Client> {
        self.pool.next().with_options(&self.options)
    }

    /// Runs one Redis operation under the timeout, timing it and feeding the
    /// breaker. `None` on any failure (already counted).
    async fn call<T>(
        &self,
        metrics: &CacheMetrics,
        op: Op,
        fut: impl Future<Output = Result<T, Error>>,
    ) -> Option<T> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.op_timeout, fut).await;
        metrics.duration(op, started.elapsed());
        match result {
            Ok(Ok(value)) => {
                self.breaker.success();
                Some(value)
            }
            outcome => {
                metrics.error(op);
                match outcome {
                    Ok(Err(error)) => tracing::debug!(op = ?op, %error, "redis operation failed"),
                    _ => tracing::debug!(op = ?op, "redis operation timed out"),
                }
                if self.breaker.failure() {
                    metrics.redis_up(false);
                    tracing::warn!(
                        "redis is failing; serving from memory and the database until it answers again"
                    );
                }
                None
            }
        }
    }

    /// Runs a script on one key when the breaker allows; `None` when Redis is
    /// unusable (the caller falls back).
    pub(crate) async fn script<R: FromValue>(
        &self,
        metrics: &CacheMetrics,
        script: &Script,
        key: &str,
        args: Vec<Value>,
    ) -> Option<R> {
        if !self.breaker.allows() {
            return None;
        }
        self.call(metrics, Op::Throttle, self.eval(script, key, args))
            .await
    }

    /// EVALSHA, loading the script on a `NOSCRIPT` answer (a restarted Redis).
    async fn eval<R: FromValue>(
        &self,
        script: &Script,
        key: &str,
        args: Vec<Value>,
    ) -> Result<R, Error> {
        let client = self.client();
        match client
            .evalsha(script.sha1().clone(), key, args.clone())
            .await
        {
            Err(error) if error.details().contains("NOSCRIPT") => {
                let lua = script.lua().cloned().unwrap_or_default();
                client.eval(lua, key, args).await
            }
            other => other,
        }
    }

    pub(crate) async fn get_or_lease(&self, metrics: &CacheMetrics, key: &str) -> Lookup {
        if !self.breaker.allows() {
            return Lookup::Unavailable;
        }
        let mut lease = Vec::with_capacity(17);
        lease.push(LEASE_TAG);
        lease.extend_from_slice(format!("{:016x}", rand::random::<u64>()).as_bytes());
        let lease = Bytes::from(lease);
        let args = vec![
            Value::Bytes(lease.clone()),
            Value::Integer(self.lease_ttl_ms as i64),
        ];
        match self
            .call(
                metrics,
                Op::Get,
                self.eval::<Option<Bytes>>(&self.get_or_lease, key, args),
            )
            .await
        {
            None => Lookup::Unavailable,
            Some(None) => Lookup::Leased(lease),
            Some(Some(bytes)) if bytes.first() == Some(&LEASE_TAG) => Lookup::Busy,
            Some(Some(bytes)) => Lookup::Hit(bytes),
        }
    }

    /// Fills a key the caller holds the lease on; a no-op once a write took it.
    /// `Some(true)` when stored.
    pub(crate) async fn fill(
        &self,
        metrics: &CacheMetrics,
        key: &str,
        lease: Bytes,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Option<bool> {
        if !self.breaker.allows() {
            return None;
        }
        let ttl_ms = ttl.as_millis().max(1) as i64;
        let args = vec![
            Value::Bytes(lease),
            Value::Bytes(value.into()),
            Value::Integer(ttl_ms),
        ];
        self.call(
            metrics,
            Op::Fill,
            self.eval::<i64>(&self.fill_if_leased, key, args),
        )
        .await
        .map(|stored| stored == 1)
    }

    /// Deletes the keys and tells every instance to drop them from L1. Keys
    /// Redis could not delete are remembered and deleted when it is back.
    pub(crate) async fn invalidate(&self, metrics: &CacheMetrics, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        self.note_recent(&keys);
        if !self.breaker.allows() || !self.delete_and_publish(metrics, &keys).await {
            self.remember(keys);
        }
    }

    fn note_recent(&self, keys: &[String]) {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        while recent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > RECENT || recent.len() >= MAX_PENDING)
        {
            recent.pop_front();
        }
        recent.extend(keys.iter().map(|key| (now, key.clone())));
    }

    /// The keys invalidated within [`RECENT`].
    fn recent_keys(&self) -> Vec<String> {
        let now = Instant::now();
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let keys: HashSet<&String> = recent
            .iter()
            .filter(|(at, _)| now.duration_since(*at) <= RECENT)
            .map(|(_, key)| key)
            .collect();
        keys.into_iter().cloned().collect()
    }

    /// Deletes (and broadcasts) again what was invalidated within [`RECENT`]:
    /// after the invalidation channel was lost, the node now answering may be a
    /// promoted replica that never saw those deletions. `false` when Redis
    /// failed (the keys then wait in the pending set).
    pub(crate) async fn replay_recent(&self, metrics: &CacheMetrics) -> bool {
        let keys = self.recent_keys();
        for chunk in keys.chunks(500) {
            if !self.delete_and_publish(metrics, chunk).await {
                self.remember(keys);
                return false;
            }
        }
        true
    }

    async fn delete_and_publish(&self, metrics: &CacheMetrics, keys: &[String]) -> bool {
        // One DEL per key: keys of one write may live in different cluster slots.
        let client = self.client();
        let deletes = futures::future::join_all(keys.iter().map(|key| {
            let client = client.clone();
            async move {
                self.call(metrics, Op::Del, client.del::<i64, _>(key.as_str()))
                    .await
            }
        }))
        .await;
        if deletes.iter().any(Option::is_none) {
            return false;
        }
        self.publish(metrics, &keys.join("\n")).await
    }

    /// Publishes `message` on the invalidation channel; `true` when Redis took it.
    pub(crate) async fn publish(&self, metrics: &CacheMetrics, message: &str) -> bool {
        let client = self.client();
        self.call(
            metrics,
            Op::Publish,
            client.publish::<i64, _, _>(self.channel.as_str(), message),
        )
        .await
        .is_some()
    }

    fn remember(&self, keys: Vec<String>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if pending.len() >= MAX_PENDING {
                tracing::error!(
                    "too many cache invalidations are waiting for redis; some are dropped (the L2 TTLs bound the staleness)"
                );
                break;
            }
            pending.insert(key);
        }
    }

    pub(crate) fn pending_len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Pings Redis and, if it answers, first replays the invalidations it
    /// missed, then closes the breaker. `true` when Redis is usable.
    pub(crate) async fn probe(&self, metrics: &CacheMetrics) -> bool {
        let ping = self.client();
        if self
            .call(metrics, Op::Probe, ping.ping::<String>(None))
            .await
            .is_none()
        {
            return false;
        }
        let mut pending: HashSet<String> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.drain().collect()
        };
        if self.breaker.is_open() {
            // Back after an outage, perhaps on a promoted replica: delete the
            // latest invalidations again before any reader uses Redis.
            pending.extend(self.recent_keys());
        }
        let pending: Vec<String> = pending.into_iter().collect();
        for chunk in pending.chunks(500) {
            if !self.delete_and_publish(metrics, chunk).await {
                self.remember(chunk.to_vec());
                return false;
            }
        }
        if self.breaker.close() {
            metrics.redis_up(true);
            tracing::info!(
                replayed = pending.len(),
                "redis is answering; the cache uses it again"
            );
        }
        true
    }
}
