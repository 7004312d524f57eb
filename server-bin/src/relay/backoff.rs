//! Waits between attempts to reach an upstream: exponential, jittered,
//! capped, reset after a stable run. A dead host costs one attempt per
//! `retry_max` at most, and many relays failing together do not retry in
//! step.

use std::time::Duration;

/// The waits of one relay.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// Starts at `min`, doubles per failure up to `max`; `seed` drives the jitter.
    pub fn new(min: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
            // Spread the seed over all bits (neighbouring seeds must not
            // share a sequence); xorshift needs a non-zero state.
            rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    /// The waits of one relay as `[relay]` sets them (`retry_min_ms`,
    /// `retry_max_ms`), seeded apart from every other relay's.
    pub fn for_relay(relay: &crate::config::RelayConfig) -> Backoff {
        use std::hash::{BuildHasher, Hasher};
        Backoff::new(
            Duration::from_millis(relay.retry_min_ms),
            Duration::from_millis(relay.retry_max_ms),
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
        )
    }

    /// The wait before the next attempt: uniformly in `[base / 2, base]`,
    /// `base` = `min` × 2^failures, capped at `max`.
    pub fn next_wait(&mut self) -> Duration {
        let base = self
            .min
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let half = base / 2;
        let span = (base - half).as_millis() as u64;
        half + Duration::from_millis(self.random() % (span + 1))
    }

    /// The upstream stayed live long enough: start again from `min`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// xorshift64*: jitter needs no more.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_jitter_up_to_the_cap_and_resets() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let mut b = Backoff::new(min, max, 42);
        let mut base = min;
        for _ in 0..12 {
            let w = b.next_wait();
            assert!(
                w >= base / 2 && w <= base,
                "{w:?} outside [{:?}, {base:?}]",
                base / 2
            );
            base = (base * 2).min(max);
        }
        assert!(b.next_wait() >= max / 2);
        b.reset();
        assert!(b.next_wait() <= min);
    }

    #[test]
    fn relays_failing_together_spread_out() {
        let waits: std::collections::HashSet<Duration> = (0..20)
            .map(|seed| {
                let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60), seed);
                b.next_wait();
                b.next_wait()
            })
            .collect();
        assert!(waits.len() > 10, "{waits:?}");
    }
}
