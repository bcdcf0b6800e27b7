//! The read-through / invalidate core shared by every cached repository.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{
    error::RepoError, ports::ApiClient, user::OAuthAccount, user::Profile, user::Session,
    user::User,
};
use moka::Expiry;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::codec::{self, CacheValue, Stored};
use crate::config::CacheConfig;
use crate::keys::{Entity, Key};
use crate::l2::{L2, Lookup};
use crate::metrics::{CacheMetrics, Op, Tier};

/// Invalidation generations, striped by key hash: a fill that started before an
/// invalidation of its stripe is not stored.
const STRIPES: usize = 1024;

/// Sessions and API clients decide whether a request is let in: they are
/// never served from a tier that may be missing an invalidation.
fn guarded(entity: Entity) -> bool {
    matches!(entity, Entity::Session | Entity::Client)
}

/// An L1 value, erased over the cached types.
#[derive(Clone, Debug)]
pub(crate) enum L1Value {
    User(Arc<User>),
    Session(Arc<Session>),
    Profile(Arc<Profile>),
    OAuth(Arc<OAuthAccount>),
    Client(Arc<ApiClient>),
    Absent,
}

#[derive(Clone, Debug)]
pub(crate) struct L1Entry {
    value: L1Value,
    ttl: Duration,
    /// When it was stored: while the invalidation channel is down, no entry
    /// older than the session L1 lifetime is served (invalidations may be
    /// missing), so every change is seen within that bound.
    filled: Instant,
}

struct PerEntryTtl;

impl Expiry<Key, L1Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &Key, entry: &L1Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A type the cache can hold in both tiers, with its lifetime policy.
pub(crate) trait Cacheable: CacheValue {
    fn wrap(value: Arc<Self>) -> L1Value;
    fn unwrap(value: &L1Value) -> Option<&Arc<Self>>;

    /// How long this value may live in a tier whose configured TTL is `ttl`.
    /// Sessions never outlive their remaining life.
    fn ttl(&self, ttl: Duration, _now: OffsetDateTime) -> Duration {
        ttl
    }
}

macro_rules! cacheable {
    ($ty:ty, $variant:ident) => {
        fn wrap(value: Arc<Self>) -> L1Value {
            L1Value::$variant(value)
        }
        fn unwrap(value: &L1Value) -> Option<&Arc<Self>> {
            match value {
                L1Value::$variant(v) => Some(v),
                _ => None,
            }
        }
    };
}

impl Cacheable for User {
    cacheable!(User, User);
}
impl Cacheable for Profile {
    cacheable!(Profile, Profile);
}
impl Cacheable for OAuthAccount {
    cacheable!(OAuthAccount, OAuth);
}
impl Cacheable for ApiClient {
    cacheable!(ApiClient, Client);
}
impl Cacheable for Session {
    cacheable!(Session, Session);

    fn ttl(&self, ttl: Duration, now: OffsetDateTime) -> Duration {
        if !self.is_active(now) {
            // Revoked or expired is final: safe to keep for the full TTL.
            return ttl;
        }
        let remaining = (self.expires_at - now).unsigned_abs();
        ttl.min(remaining)
    }
}

type Shared = Result<L1Value, Arc<RepoError>>;

/// Concurrent misses on one key share one load.
#[derive(Default)]
struct Flights {
    map: Mutex<HashMap<Key, Arc<OnceCell<Shared>>>>,
}

impl Flights {
    async fn run(
        &self,
        key: &Key,
        load: impl Future<Output = Result<L1Value, RepoError>>,
    ) -> Shared {
        let cell = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let result = cell
            .get_or_init(|| async { load.await.map_err(Arc::new) })
            .await
            .clone();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            map.remove(key);
        }
        result
    }
}

/// A storage error shared by every caller of one coalesced load.
#[derive(Debug)]
struct SharedError(Arc<RepoError>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

fn unshare(error: Arc<RepoError>) -> RepoError {
    match Arc::try_unwrap(error) {
        Ok(error) => error,
        Err(shared) => match &*shared {
            RepoError::Unavailable(_) => RepoError::Unavailable(Box::new(SharedError(shared))),
            _ => RepoError::Other(Box::new(SharedError(shared))),
        },
    }
}

pub(crate) struct Core {
    pub(crate) config: CacheConfig,
    l1: Option<moka::sync::Cache<Key, L1Entry>>,
    generations: Box<[AtomicU64]>,
    flights: Flights,
    pub(crate) l2: Option<L2>,
    pub(crate) metrics: CacheMetrics,
    /// Whether this instance is subscribed to the invalidation channel. While it
    /// is not, sessions are not served from L1 (revocations might be missed).
    channel_up: AtomicBool,
}

impl Core {
    pub(crate) fn new(config: CacheConfig, l2: Option<L2>) -> Self {
        let l1 = config.l1_enabled().then(|| {
            moka::sync::Cache::builder()
                .max_capacity(config.l1_max_entries)
                .expire_after(PerEntryTtl)
                .build()
        });
        Self {
            l1,
            generations: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            flights: Flights::default(),
            channel_up: AtomicBool::new(l2.is_none()),
            l2,
            metrics: CacheMetrics::new(),
            config,
        }
    }

    fn l1_for(&self, entity: Entity) -> Option<&moka::sync::Cache<Key, L1Entry>> {
        let l1 = self.l1.as_ref()?;
        // Their L1 copies are only used while invalidations are arriving.
        (!guarded(entity) || self.channel_up.load(Ordering::Acquire)).then_some(l1)
    }

    /// Whether Redis may answer for `entity`. Sessions and API clients let
    /// requests in, so they skip Redis while an invalidation could be missing
    /// there: one is waiting to be replayed (a reader's fill could otherwise
    /// land over a deletion that failed), or the invalidation channel is down
    /// (the node answering may be a promoted replica that lost the latest
    /// deletions; they are replayed before the channel counts as up again).
    fn l2_trusted(&self, entity: Entity, l2: &L2) -> bool {
        !guarded(entity) || (self.channel_up.load(Ordering::Acquire) && l2.pending_len() == 0)
    }

    pub(crate) fn channel_is_up(&self) -> bool {
        self.channel_up.load(Ordering::Acquire)
    }

    pub(crate) fn set_channel_up(&self, up: bool) {
        self.channel_up.store(up, Ordering::Release);
    }

    pub(crate) fn l1_entries(&self) -> u64 {
        self.l1.as_ref().map_or(0, |l1| {
            l1.run_pending_tasks();
            l1.entry_count()
        })
    }

    /// L1 → L2 → `load`, filling back up, one load per key at a time.
    pub(crate) async fn read<V, Fut>(
        &self,
        key: Key,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<V>, RepoError>
    where
        V: Cacheable,
        Fut: Future<Output = Result<Option<V>, RepoError>>,
    {
        let entity = key.entity();
        let l1 = self.l1_for(entity);
        if let Some(l1) = l1 {
            if let Some(entry) = l1.get(&key)
                && (self.channel_up.load(Ordering::Acquire)
                    || entry.filled.elapsed() <= self.config.session_l1_ttl())
            {
                self.metrics.hit(entity, Tier::L1);
                return Ok(V::unwrap(&entry.value).map(|v| V::clone(v)));
            }
            self.metrics.miss(entity, Tier::L1);
        }
        let value = self
            .flights
            .run(&key, self.load_through::<V, Fut>(&key, l1.is_some(), load))
            .await
            .map_err(unshare)?;
        Ok(V::unwrap(&value).map(|v| V::clone(v)))
    }

    async fn load_through<V, Fut>(
        &self,
        key: &Key,
        use_l1: bool,
        load: impl FnOnce() -> Fut,
    ) -> Result<L1Value, RepoError>
    where
        V: Cacheable,
        Fut: Future<Output = Result<Option<V>, RepoError>>,
    {
        let entity = key.entity();
        let stripe = key.stripe(STRIPES);
        let generation = self.generations[stripe].load(Ordering::Acquire);
        let mut lease = None;
        let redis_key = self
            .l2
            .as_ref()
            .filter(|l2| self.l2_trusted(entity, l2))
            .map(|_| key.redis_key(&self.config.prefix));
        if let (Some(l2), Some(redis_key)) = (&self.l2, &redis_key) {
            match l2.get_or_lease(&self.metrics, redis_key).await {
                Lookup::Hit(bytes) => match codec::decode::<V>(&bytes) {
                    Some(stored) => {
                        self.metrics.hit(entity, Tier::L2);
                        let value = match stored {
                            Stored::Value(v) => V::wrap(Arc::new(v)),
                            Stored::Absent => L1Value::Absent,
                        };
                        if use_l1 {
                            self.fill_l1(key, &value, stripe, generation);
                        }
                        return Ok(value);
                    }
                    None => {
                        self.metrics.error(Op::Decode);
                        self.metrics.miss(entity, Tier::L2);
                    }
                },
                Lookup::Leased(token) => {
                    self.metrics.miss(entity, Tier::L2);
                    lease = Some(token);
                }
                Lookup::Busy | Lookup::Unavailable => self.metrics.miss(entity, Tier::L2),
            }
        }
        self.metrics.load();
        let loaded = load().await?;
        if let (Some(l2), Some(redis_key), Some(lease)) = (&self.l2, &redis_key, lease) {
            let now = OffsetDateTime::now_utc();
            let ttl = match &loaded {
                Some(v) => v.ttl(self.l2_ttl(entity), now),
                None => self.absent_ttl(entity, self.l2_ttl(entity)),
            };
            if !ttl.is_zero() {
                let bytes = codec::encode(loaded.as_ref());
                if l2.fill(&self.metrics, redis_key, lease, bytes, ttl).await == Some(false) {
                    self.metrics.stale_fill_rejected();
                }
            }
        }
        let value = match loaded {
            Some(v) => V::wrap(Arc::new(v)),
            None => L1Value::Absent,
        };
        if use_l1 {
            self.fill_l1(key, &value, stripe, generation);
        }
        Ok(value)
    }

    fn l2_ttl(&self, entity: Entity) -> Duration {
        let ttl = &self.config.ttl;
        match entity {
            Entity::User => ttl.user,
            Entity::Session => ttl.session,
            Entity::OAuth => ttl.oauth,
            Entity::Profile => ttl.profile,
            // Rarely changed, read by every introspection: the user TTL.
            Entity::Client => ttl.user,
        }
    }

    /// How long a "not found" lives in a tier whose TTL for the entity is `ttl`.
    fn absent_ttl(&self, entity: Entity, ttl: Duration) -> Duration {
        match entity {
            Entity::User | Entity::Session | Entity::Client => ttl.min(self.config.negative_ttl),
            Entity::Profile | Entity::OAuth => ttl,
        }
    }

    fn l1_ttl(&self, key: &Key, value: &L1Value) -> Duration {
        let now = OffsetDateTime::now_utc();
        let base = match key.entity() {
            Entity::Session => self.config.session_l1_ttl(),
            _ => self.config.l1_ttl,
        };
        match value {
            L1Value::Session(session) => session.ttl(base, now),
            L1Value::Absent => self.absent_ttl(key.entity(), base),
            _ => base,
        }
    }

    /// Stores a loaded value in L1 unless its stripe was invalidated since the
    /// load began; re-checked after the insert to close the gap between the
    /// check and the insert.
    fn fill_l1(&self, key: &Key, value: &L1Value, stripe: usize, generation: u64) {
        let Some(l1) = &self.l1 else { return };
        let current = || self.generations[stripe].load(Ordering::Acquire);
        if current() != generation {
            self.metrics.stale_fill_rejected();
            return;
        }
        let ttl = self.l1_ttl(key, value);
        if ttl.is_zero() {
            return;
        }
        l1.insert(
            key.clone(),
            L1Entry {
                value: value.clone(),
                ttl,
                filled: Instant::now(),
            },
        );
        if current() != generation {
            l1.invalidate(key);
            self.metrics.stale_fill_rejected();
        }
    }

    /// Drops a key from this instance's L1 and fences in-flight fills of it
    /// (an invalidation received from another instance, or this one's own).
    pub(crate) fn drop_local(&self, key: &Key) {
        self.generations[key.stripe(STRIPES)].fetch_add(1, Ordering::AcqRel);
        if let Some(l1) = &self.l1 {
            l1.invalidate(key);
        }
    }

    /// Empties L1 and fences every in-flight fill (invalidations may have been
    /// missed).
    pub(crate) fn clear_local(&self) {
        for generation in self.generations.iter() {
            generation.fetch_add(1, Ordering::AcqRel);
        }
        if let Some(l1) = &self.l1 {
            l1.invalidate_all();
        }
    }

    /// After a committed write: drop the keys from this L1, delete them from
    /// L2, broadcast the invalidation to every instance, and drop them from
    /// this L1 once more. The second drop fences a local reader that missed L1
    /// between the first drop and the DEL and read the old L2 value: its fill
    /// carries an older generation and is discarded.
    pub(crate) async fn invalidate(&self, keys: &[Key]) {
        if keys.is_empty() {
            return;
        }
        for key in keys {
            self.drop_local(key);
            self.metrics.invalidated(key.entity());
        }
        if let Some(l2) = &self.l2 {
            let redis_keys = keys
                .iter()
                .map(|key| key.redis_key(&self.config.prefix))
                .collect();
            l2.invalidate(&self.metrics, redis_keys).await;
            for key in keys {
                self.drop_local(key);
            }
        }
    }
}
