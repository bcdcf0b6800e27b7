//! [`domain::ports::Throttle`] on Redis: rate limits and login lockouts shared by
//! every instance, one atomic Lua script per check (one key each, so they work
//! on a cluster too), timed by Redis's own clock. When Redis is unusable (an
//! error, a timeout, the breaker open) the fallback — the in-process
//! [`domain::throttle::MemoryThrottle`] — answers: a limit never lapses.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    ports::Attempt, ports::Decision, ports::LockoutPolicy, ports::Quota, ports::Throttle,
};
use fred::types::Value;
use fred::types::scripts::Script;

use crate::Cache;
use crate::keys::ENCODING_VERSION;

const NOW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"#;

/// GCRA: the key holds the theoretical arrival time in µs (a quota above 1,000
/// per second per key still has an exact interval). ARGV: interval µs, burst.
/// Returns {allowed, remaining, retry_after_ms}.
const GCRA: &str = r#"
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now_us then tat = now_us end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if allow_at > now_us then
  return {0, 0, math.ceil((allow_at - now_us) / 1000)}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now_us) / 1000))
return {1, math.floor((tolerance - (new_tat - now_us)) / interval), 0}
"#;

/// Counts an attempt in the hash at KEYS[1] before it is judged, unless the
/// key is locked; locks from the threshold on. ARGV: threshold, window ms,
/// base lock ms, max lock ms. Returns {1, lock ms started} when counted,
/// {0, ms left} when locked.
const ATTEMPT: &str = r#"
local until_ms = tonumber(redis.call('HGET', KEYS[1], 'until'))
if until_ms and until_ms > now then
  return {0, math.floor(until_ms - now)}
end
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
local threshold = tonumber(ARGV[1])
local lock = 0
if count >= threshold then
  local over = math.min(count - threshold, 20)
  lock = math.min(tonumber(ARGV[3]) * (2 ^ over), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'until', now + lock)
end
redis.call('PEXPIRE', KEYS[1], math.floor(math.max(tonumber(ARGV[2]), lock)))
return {1, math.floor(lock)}
"#;

const CLEAR: &str = "return redis.call('DEL', KEYS[1])";

pub struct RedisThrottle {
    cache: Cache,
    fallback: Arc<dyn Throttle>,
    gcra: Script,
    attempt: Script,
    clear: Script,
}

fn millis(duration: Duration) -> Value {
    Value::Integer(duration.as_millis().clamp(1, i64::MAX as u128) as i64)
}

fn micros(duration: Duration) -> Value {
    Value::Integer(duration.as_micros().clamp(1, i64::MAX as u128) as i64)
}

impl RedisThrottle {
    pub fn new(cache: Cache, fallback: Arc<dyn Throttle>) -> Self {
        let timed = |body: &str| Script::from_lua(format!("{NOW}{body}"));
        Self {
            cache,
            fallback,
            gcra: timed(GCRA),
            attempt: timed(ATTEMPT),
            clear: Script::from_lua(CLEAR),
        }
    }

    fn key(&self, kind: &str, key: &str) -> String {
        let prefix = &self.cache.core().config.prefix;
        format!("{prefix}:v{ENCODING_VERSION}:{kind}:{key}")
    }

    async fn run<R: fred::types::FromValue>(
        &self,
        script: &Script,
        key: &str,
        args: Vec<Value>,
    ) -> Option<R> {
        let core = self.cache.core();
        core.l2
            .as_ref()?
            .script(&core.metrics, script, key, args)
            .await
    }
}

#[async_trait]
impl Throttle for RedisThrottle {
    async fn acquire(&self, key: &str, quota: Quota) -> Decision {
        let args = vec![micros(quota.interval()), Value::Integer(quota.burst.into())];
        let answer: Option<Vec<i64>> = self.run(&self.gcra, &self.key("rate", key), args).await;
        match answer.as_deref() {
            Some(&[allowed, remaining, retry_ms]) => Decision {
                allowed: allowed == 1,
                limit: quota.burst,
                remaining: u32::try_from(remaining).unwrap_or(0),
                retry_after: Duration::from_millis(retry_ms.max(0) as u64),
            },
            _ => self.fallback.acquire(key, quota).await,
        }
    }

    async fn attempt(&self, key: &str, policy: LockoutPolicy) -> Attempt {
        let args = vec![
            Value::Integer(policy.threshold.into()),
            millis(policy.window),
            millis(policy.base_lock),
            millis(policy.max_lock),
        ];
        let answer: Option<Vec<i64>> = self
            .run(&self.attempt, &self.key("lockout", key), args)
            .await;
        let ms = |ms: i64| Duration::from_millis(ms.max(0) as u64);
        match answer.as_deref() {
            Some(&[0, left]) => Attempt::Locked(ms(left).max(Duration::from_millis(1))),
            Some(&[_, 0]) => Attempt::Allowed { lock: None },
            Some(&[_, lock]) => Attempt::Allowed {
                lock: Some(ms(lock)),
            },
            _ => self.fallback.attempt(key, policy).await,
        }
    }

    async fn clear_failures(&self, key: &str) {
        // Both: the fallback may have counted while Redis was away.
        let _: Option<i64> = self
            .run(&self.clear, &self.key("lockout", key), Vec::new())
            .await;
        self.fallback.clear_failures(key).await;
    }
}
