//! Counters of hook calls, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Hook names in metric order.
pub const HOOKS: [&str; 7] = [
    "on_publish",
    "on_play",
    "on_stream_changed",
    "on_stream_none_reader",
    "on_stream_not_found",
    "on_server_started",
    "on_server_keepalive",
];

/// Upper bounds (seconds) of the call latency histogram buckets.
pub const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Call outcomes and latencies.
#[derive(Debug, Default)]
pub struct HookMetrics {
    ok: [AtomicU64; 7],
    failed: [AtomicU64; 7],
    buckets: [AtomicU64; 10],
    count: AtomicU64,
    sum_micros: AtomicU64,
    dropped: AtomicU64,
}

impl HookMetrics {
    /// Records one call.
    pub fn record(&self, hook: &str, ok: bool, took: Duration) {
        if let Some(i) = HOOKS.iter().position(|h| *h == hook) {
            let counter = if ok { &self.ok[i] } else { &self.failed[i] };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts a notification dropped because the queue was full.
    pub fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Notifications dropped so far.
    pub fn dropped_count(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// `(hook, ok, failed)` per hook.
    pub fn calls(&self) -> Vec<(&'static str, u64, u64)> {
        HOOKS
            .iter()
            .enumerate()
            .map(|(i, h)| {
                (
                    *h,
                    self.ok[i].load(Ordering::Relaxed),
                    self.failed[i].load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Cumulative bucket counts (`le` bound, count), then total count and sum in seconds.
    pub fn histogram(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let buckets = BUCKETS
            .iter()
            .enumerate()
            .map(|(i, b)| (*b, self.buckets[i].load(Ordering::Relaxed)))
            .collect();
        (
            buckets,
            self.count.load(Ordering::Relaxed),
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}
