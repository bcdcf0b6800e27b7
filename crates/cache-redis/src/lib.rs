//! The two-tier cache of codezest-auth: [`Cached<R>`] wraps any repository and
//! implements the same domain trait, serving reads from an in-process `moka`
//! cache (L1) in front of Redis via `fred` (L2) in front of the wrapped
//! repository, and invalidating both tiers, on every instance, after each write.
//!
//! - **Reads**: L1 → L2 → repository, filling back up. Concurrent misses on one
//!   key run one load. "Not found" is cached too, briefly.
//! - **Writes**: the wrapped repository commits; then the affected L2 keys are
//!   deleted and an invalidation is published on `{prefix}:invalidate`, which
//!   every instance (this one included) applies to its L1.
//! - **Stale sets**: L2 fills need a lease the write deletes; L1 fills need an
//!   invalidation generation that has not moved since the load began.
//! - **Failure**: every Redis call has a short timeout; errors are counted and
//!   the repository answers; a circuit breaker skips Redis while it is down and
//!   a background probe brings it back. While the invalidation channel is down,
//!   sessions bypass L1, and L1 is emptied when it comes back.
//! - **Secrets**: keys are ids and emails; values mirror `User`, `Session`,
//!   `Profile` and `OAuthAccount`, which hold no password hash, token or
//!   provider secret.
//!
//! `docs/caching.md` describes the protocol and how to operate it.

mod breaker;
mod codec;
mod config;
mod core;
mod keys;
mod l2;
mod metrics;
mod repos;
mod throttle;
mod verified;

use std::sync::{Arc, Weak};
use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::config::{Config as RedisConfig, ReconnectPolicy};
use tokio::task::JoinHandle;

pub use crate::codec::CacheValue;
pub use crate::config::{CacheConfig, Ttls, check_url, fred_url};
pub use crate::keys::{ENCODING_VERSION, Entity, Key};
pub use crate::metrics::CacheStats;
pub use crate::repos::Cached;
pub use crate::throttle::RedisThrottle;
pub use crate::verified::VerifiedTokenCache;

/// Whether the cache's Redis tier is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisStatus {
    Up,
    /// Unreachable (breaker open): the service runs on L1 and the database.
    Degraded,
    /// No Redis tier (L1 only).
    Disabled,
}

use crate::core::Core;
use crate::l2::L2;

/// The Redis URL is not one `fred` understands.
#[derive(Debug, thiserror::Error)]
#[error("invalid redis configuration: {0}")]
pub struct CacheError(String);

/// A handle on one cache instance (L1, the Redis connections, and the background
/// tasks that keep them honest). Cheap to clone; the last clone stops the tasks
/// and closes the connections.
#[derive(Clone)]
pub struct Cache {
    core: Arc<Core>,
    _tasks: Arc<Tasks>,
}

struct Tasks {
    handles: Vec<JoinHandle<()>>,
    pool: Pool,
    subscriber: SubscriberClient,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
        let pool = self.pool.clone();
        let subscriber = self.subscriber.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = pool.quit().await;
                let _ = subscriber.quit().await;
            });
        }
    }
}

impl Cache {
    /// Builds the cache and starts connecting to Redis in the background. Never
    /// waits for Redis: until it answers, reads go to L1 and the repository.
    /// Must be called inside a Tokio runtime.
    pub fn connect(redis_url: &str, config: CacheConfig) -> Result<Self, CacheError> {
        let redis = RedisConfig::from_url(&fred_url(redis_url))
            .map_err(|e| CacheError(e.details().to_owned()))?;
        let mut builder = Builder::from_config(redis);
        builder
            .with_config(|c| c.fail_fast = false)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
                c.max_command_attempts = 1;
                c.unresponsive.max_timeout = Some(Duration::from_secs(2));
                c.unresponsive.interval = Duration::from_millis(500);
            })
            .with_performance_config(|c| {
                c.default_command_timeout = config.op_timeout;
                c.broadcast_channel_capacity = 4096;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
        let pool = builder
            .build_pool(config.pool_size.max(1))
            .map_err(|e| CacheError(e.details().to_owned()))?;
        let subscriber = builder
            .build_subscriber_client()
            .map_err(|e| CacheError(e.details().to_owned()))?;
        pool.connect();
        subscriber.connect();

        let channel = format!("{}:invalidate", config.prefix);
        let l2 = L2::new(
            pool.clone(),
            config.op_timeout,
            config.lease_ttl,
            channel,
            config.breaker_threshold,
        );
        let core = Arc::new(Core::new(config, Some(l2)));
        core.metrics.redis_up(false);
        let handles = vec![
            tokio::spawn(tasks::probe(Arc::downgrade(&core), pool.clone())),
            tokio::spawn(tasks::subscribe(Arc::downgrade(&core), subscriber.clone())),
            tokio::spawn(tasks::watch_hit_ratio(Arc::downgrade(&core))),
        ];
        Ok(Self {
            core,
            _tasks: Arc::new(Tasks {
                handles,
                pool,
                subscriber,
            }),
        })
    }

    /// Wraps a repository in this cache.
    pub fn wrap<R>(&self, inner: R) -> Cached<R> {
        Cached::new(inner, self.clone())
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// This instance's counters.
    pub fn stats(&self) -> CacheStats {
        self.core.metrics.snapshot()
    }

    /// Entries in L1 now.
    pub fn l1_entries(&self) -> u64 {
        self.core.l1_entries()
    }

    /// `Up` while Redis answers; `Degraded` while the service runs without it.
    pub fn redis_status(&self) -> RedisStatus {
        match &self.core.l2 {
            Some(l2) if l2.breaker.is_open() => RedisStatus::Degraded,
            Some(_) => RedisStatus::Up,
            None => RedisStatus::Disabled,
        }
    }

    /// Invalidations waiting for Redis to come back.
    pub fn pending_invalidations(&self) -> usize {
        self.core.l2.as_ref().map_or(0, L2::pending_len)
    }

    /// Waits until Redis answers and the invalidation channel is subscribed (or
    /// the timeout passes); `true` when both are up. For start-up logs and tests.
    pub async fn wait_until_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.redis_status() == RedisStatus::Up && self.core.channel_is_up() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

mod tasks {
    use super::*;

    /// Probes Redis while the breaker is open; closes it (after replaying
    /// missed invalidations) when Redis answers.
    pub(super) async fn probe(core: Weak<Core>, pool: Pool) {
        // The first probe waits for the first connection rather than an interval.
        let _ = tokio::time::timeout(Duration::from_secs(2), pool.wait_for_connect()).await;
        loop {
            let interval = {
                let Some(core) = core.upgrade() else { return };
                if let Some(l2) = &core.l2
                    && (l2.breaker.is_open() || l2.pending_len() > 0)
                {
                    l2.probe(&core.metrics).await;
                }
                core.config.breaker_probe_interval
            };
            tokio::time::sleep(interval).await;
        }
    }

    /// How often a subscribed instance checks that its channel delivers, and
    /// how long it waits for its own heartbeat to come back.
    const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
    const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(1);

    /// Keeps this instance subscribed to the invalidation channel and applies
    /// what arrives.
    ///
    /// The channel counts as up only once a heartbeat this instance published
    /// on it has come back, and goes down when one does not within a second:
    /// a SUBSCRIBE the server refused (a Redis user without pub/sub
    /// permissions: fred reports it as a success) or a subscription that went
    /// quiet would otherwise leave L1 trusted while invalidations are lost.
    /// Whenever it comes (back) up, L1 is emptied — anything published while
    /// it was down was missed — and the latest invalidations are deleted from
    /// Redis once more (the node answering may be a promoted replica).
    pub(super) async fn subscribe(core: Weak<Core>, subscriber: SubscriberClient) {
        let mut messages = subscriber.message_rx();
        let mut errors = subscriber.error_rx();
        let mut reconnects = subscriber.reconnect_rx();
        let mut subscribed = false;
        let nonce = format!("{:016x}", rand::random::<u64>());
        let mut beats = 0_u64;
        // The heartbeat awaited, and until when.
        let mut awaited: Option<(String, tokio::time::Instant)> = None;
        let mut next_beat = tokio::time::Instant::now();
        let _ = tokio::time::timeout(Duration::from_secs(2), subscriber.wait_for_connect()).await;
        // The first connection is not a reconnection.
        while reconnects.try_recv().is_ok() {}
        loop {
            let (channel, prefix, interval) = {
                let Some(core) = core.upgrade() else { return };
                let l2 = core.l2.as_ref().expect("subscribe runs with redis");
                (
                    l2.channel().to_owned(),
                    core.config.prefix.clone(),
                    core.config.breaker_probe_interval,
                )
            };
            if !subscribed && subscriber.is_connected() {
                let Some(core) = core.upgrade() else { return };
                match tokio::time::timeout(
                    core.config.op_timeout * 4,
                    subscriber.subscribe(channel.as_str()),
                )
                .await
                {
                    Ok(Ok(())) => {
                        subscribed = true;
                        next_beat = tokio::time::Instant::now();
                    }
                    _ => core.metrics.error(metrics::Op::Subscribe),
                }
            }
            let now = tokio::time::Instant::now();
            if subscribed && awaited.is_none() && now >= next_beat {
                let Some(core) = core.upgrade() else { return };
                let l2 = core.l2.as_ref().expect("subscribe runs with redis");
                if l2.breaker.allows() {
                    beats += 1;
                    let beat = format!("{prefix}:heartbeat:{nonce}:{beats}");
                    // A failed publish is a heartbeat that does not come back.
                    l2.publish(&core.metrics, &beat).await;
                    awaited = Some((beat, tokio::time::Instant::now() + HEARTBEAT_TIMEOUT));
                } else {
                    // Redis is not answering yet (or any more): look again soon.
                    next_beat = now + Duration::from_millis(50);
                }
            }
            let timer = match &awaited {
                Some((_, deadline)) => *deadline,
                None if subscribed => next_beat,
                None => now + interval,
            };
            tokio::select! {
                message = messages.recv() => {
                    let Some(core) = core.upgrade() else { return };
                    match message {
                        Ok(message) => {
                            if let Some(text) = message.value.as_str() {
                                for raw in text.split('\n') {
                                    if awaited.as_ref().is_some_and(|(beat, _)| beat == raw) {
                                        awaited = None;
                                        next_beat = tokio::time::Instant::now() + HEARTBEAT_EVERY;
                                        if !core.channel_is_up() {
                                            channel_came_up(&core, &channel).await;
                                        }
                                    } else if let Some(key) = Key::parse(&prefix, raw) {
                                        core.drop_local(&key);
                                    }
                                }
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "invalidation messages were dropped; emptying L1");
                            core.clear_local();
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
                error = errors.recv() => {
                    subscribed = false;
                    awaited = None;
                    let Some(core) = core.upgrade() else { return };
                    if core.channel_is_up() {
                        if let Ok((error, _)) = error {
                            tracing::warn!(%error, "cache invalidation channel lost; sessions bypass the cache until it is back");
                        }
                        core.set_channel_up(false);
                    }
                }
                _ = reconnects.recv() => {
                    subscribed = false;
                    awaited = None;
                    if let Some(core) = core.upgrade() { core.set_channel_up(false) }
                }
                _ = tokio::time::sleep_until(timer) => {
                    if awaited.as_ref().is_some_and(|(_, deadline)| tokio::time::Instant::now() >= *deadline) {
                        // The heartbeat did not come back: subscribe again.
                        awaited = None;
                        subscribed = false;
                        let Some(core) = core.upgrade() else { return };
                        core.metrics.error(metrics::Op::Subscribe);
                        if core.channel_is_up() {
                            tracing::warn!(
                                %channel,
                                "cache invalidations are not arriving (check the Redis user's pub/sub permissions); sessions bypass the cache until they do"
                            );
                            core.set_channel_up(false);
                        }
                    }
                }
            }
        }
    }

    /// The channel delivers (again): L1 is emptied, the latest invalidations
    /// are deleted from Redis once more, and then it counts as up.
    async fn channel_came_up(core: &Core, channel: &str) {
        core.clear_local();
        let l2 = core.l2.as_ref().expect("subscribe runs with redis");
        if !l2.replay_recent(&core.metrics).await {
            core.metrics.error(metrics::Op::Subscribe);
        }
        core.set_channel_up(true);
        tracing::info!(%channel, "subscribed to cache invalidations");
    }

    /// Publishes the L1 size every 5 s and, every window, warns when fewer than
    /// 70 % of reads were answered by a cache tier (the seed's alert threshold).
    pub(super) async fn watch_hit_ratio(core: Weak<Core>) {
        const GAUGE_EVERY: Duration = Duration::from_secs(5);
        let mut last = CacheStats::default();
        let mut window_start = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(GAUGE_EVERY).await;
            let Some(core) = core.upgrade() else { return };
            core.metrics.l1_entries(core.l1_entries());
            if window_start.elapsed() < core.config.hit_ratio_window {
                continue;
            }
            window_start = tokio::time::Instant::now();
            let now = core.metrics.snapshot();
            let delta = CacheStats {
                l1_hits: now.l1_hits - last.l1_hits,
                l2_hits: now.l2_hits - last.l2_hits,
                l2_misses: now.l2_misses - last.l2_misses,
                ..CacheStats::default()
            };
            last = now;
            if let Some(ratio) = delta.hit_ratio() {
                let reads = delta.l1_hits + delta.l2_hits + delta.l2_misses;
                if ratio < 0.7 && reads >= 100 {
                    tracing::warn!(
                        hit_ratio = format!("{:.1}%", ratio * 100.0),
                        reads,
                        "low cache hit rate"
                    );
                }
            }
        }
    }
}
