//! A circuit breaker in front of Redis: after a few consecutive failures every
//! L2 call is skipped (the database answers) until a background probe succeeds,
//! so a dead or hung Redis does not cost each request a timeout.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

pub(crate) struct Breaker {
    threshold: u32,
    failures: AtomicU32,
    open: AtomicBool,
}

impl Breaker {
    /// Starts open: nothing is sent to Redis before a probe has reached it.
    pub(crate) fn new(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            failures: AtomicU32::new(0),
            open: AtomicBool::new(true),
        }
    }

    pub(crate) fn allows(&self) -> bool {
        !self.open.load(Ordering::Acquire)
    }

    pub(crate) fn is_open(&self) -> bool {
        !self.allows()
    }

    pub(crate) fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a failure; `true` when this one opened the breaker.
    pub(crate) fn failure(&self) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        failures >= self.threshold && !self.open.swap(true, Ordering::AcqRel)
    }

    /// Closes the breaker after a successful probe; `true` when it was open.
    pub(crate) fn close(&self) -> bool {
        self.failures.store(0, Ordering::Relaxed);
        self.open.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_closes_on_probe() {
        let breaker = Breaker::new(3);
        assert!(!breaker.allows(), "starts open until a probe succeeds");
        assert!(breaker.close());
        assert!(breaker.allows());
        assert!(!breaker.failure());
        breaker.success();
        assert!(!breaker.failure());
        assert!(!breaker.failure());
        assert!(breaker.failure(), "third consecutive failure opens it");
        assert!(!breaker.failure(), "only the transition reports");
        assert!(breaker.is_open());
        assert!(breaker.close());
        assert!(!breaker.close());
    }
}
