//! Cache metrics: Prometheus series through the `metrics` facade (names from the
//! metrics contract) and per-instance counters the hit-ratio check, `/readyz`,
//! tests and the benchmark read.
//!
//! Handles are registered once, when the cache is built, so a hit costs an
//! atomic increment and no registry lookup.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use crate::keys::Entity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    L1,
    L2,
}

/// L2 operations, as the `op` label names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Get,
    Fill,
    Del,
    Publish,
    Decode,
    Subscribe,
    Probe,
    /// A rate-limit or lockout script.
    Throttle,
}

impl Op {
    const ALL: [Op; 8] = [
        Op::Get,
        Op::Fill,
        Op::Del,
        Op::Publish,
        Op::Decode,
        Op::Subscribe,
        Op::Probe,
        Op::Throttle,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Fill => "fill",
            Op::Del => "del",
            Op::Publish => "publish",
            Op::Decode => "decode",
            Op::Subscribe => "subscribe",
            Op::Probe => "probe",
            Op::Throttle => "throttle",
        }
    }
}

struct TierCounters {
    hit: Counter,
    miss: Counter,
}

struct EntityMetrics {
    l1: TierCounters,
    l2: TierCounters,
    invalidations: Counter,
}

/// A point-in-time copy of this instance's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub l1_hits: u64,
    pub l1_misses: u64,
    pub l2_hits: u64,
    pub l2_misses: u64,
    /// Reads that reached the wrapped repository.
    pub loads: u64,
    /// Keys invalidated (locally written or received from another instance).
    pub invalidations: u64,
    /// Redis operations that failed or timed out.
    pub errors: u64,
    /// Fills discarded because a write invalidated the key while it loaded.
    pub stale_fills_rejected: u64,
}

impl CacheStats {
    /// Share of reads answered by either cache tier.
    pub fn hit_ratio(&self) -> Option<f64> {
        let hits = self.l1_hits + self.l2_hits;
        let total = hits + self.l2_misses;
        (total > 0).then(|| hits as f64 / total as f64)
    }
}

#[derive(Default)]
struct Counts {
    l1_hits: AtomicU64,
    l1_misses: AtomicU64,
    l2_hits: AtomicU64,
    l2_misses: AtomicU64,
    loads: AtomicU64,
    invalidations: AtomicU64,
    errors: AtomicU64,
    stale_fills_rejected: AtomicU64,
}

pub(crate) struct CacheMetrics {
    entities: [EntityMetrics; 5],
    errors_l2: Vec<Counter>,
    durations_l2: Vec<Histogram>,
    l1_entries: Gauge,
    redis_up: Gauge,
    counts: Counts,
}

impl CacheMetrics {
    pub(crate) fn new() -> Self {
        let tier = |entity: Entity, tier: &'static str| TierCounters {
            hit: counter!("cache_requests_total", "entity" => entity.as_str(), "tier" => tier, "outcome" => "hit"),
            miss: counter!("cache_requests_total", "entity" => entity.as_str(), "tier" => tier, "outcome" => "miss"),
        };
        let entities = Entity::ALL.map(|entity| EntityMetrics {
            l1: tier(entity, "l1"),
            l2: tier(entity, "l2"),
            invalidations: counter!("cache_invalidations_total", "entity" => entity.as_str()),
        });
        Self {
            entities,
            errors_l2: Op::ALL
                .iter()
                .map(|op| counter!("cache_errors_total", "tier" => "l2", "op" => op.as_str()))
                .collect(),
            durations_l2: Op::ALL
                .iter()
                .map(|op| {
                    histogram!("cache_operation_duration_seconds", "tier" => "l2", "op" => op.as_str())
                })
                .collect(),
            l1_entries: gauge!("cache_l1_entries"),
            redis_up: gauge!("cache_redis_up"),
            counts: Counts::default(),
        }
    }

    pub(crate) fn hit(&self, entity: Entity, tier: Tier) {
        let m = &self.entities[entity.index()];
        match tier {
            Tier::L1 => {
                m.l1.hit.increment(1);
                self.counts.l1_hits.fetch_add(1, Ordering::Relaxed);
            }
            Tier::L2 => {
                m.l2.hit.increment(1);
                self.counts.l2_hits.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn miss(&self, entity: Entity, tier: Tier) {
        let m = &self.entities[entity.index()];
        match tier {
            Tier::L1 => {
                m.l1.miss.increment(1);
                self.counts.l1_misses.fetch_add(1, Ordering::Relaxed);
            }
            Tier::L2 => {
                m.l2.miss.increment(1);
                self.counts.l2_misses.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn load(&self) {
        self.counts.loads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn invalidated(&self, entity: Entity) {
        self.entities[entity.index()].invalidations.increment(1);
        self.counts.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, op: Op) {
        self.errors_l2[op as usize].increment(1);
        self.counts.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn duration(&self, op: Op, elapsed: Duration) {
        self.durations_l2[op as usize].record(elapsed.as_secs_f64());
    }

    pub(crate) fn stale_fill_rejected(&self) {
        self.counts
            .stale_fills_rejected
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn l1_entries(&self, entries: u64) {
        self.l1_entries.set(entries as f64);
    }

    pub(crate) fn redis_up(&self, up: bool) {
        self.redis_up.set(if up { 1.0 } else { 0.0 });
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let c = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            l1_hits: get(&c.l1_hits),
            l1_misses: get(&c.l1_misses),
            l2_hits: get(&c.l2_hits),
            l2_misses: get(&c.l2_misses),
            loads: get(&c.loads),
            invalidations: get(&c.invalidations),
            errors: get(&c.errors),
            stale_fills_rejected: get(&c.stale_fills_rejected),
        }
    }
}
