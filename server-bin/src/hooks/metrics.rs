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

/// How a hook call ended, the `outcome` label of `strom_hook_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The hook server answered (allow or deny alike).
    Answered,
    /// Timeout, refused connection, bad status or garbage: `hook.on_failure`
    /// decides.
    Failed,
    /// No free slot of `hook.max_concurrent` within the deadline: local
    /// overload, a decision is denied whatever `hook.on_failure` says.
    Overloaded,
    /// Not called: the client's address already had
    /// `hook.max_pending_per_ip` decisions pending; denied.
    PeerLimit,
}

impl Outcome {
    /// Every outcome, in metric order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Answered,
        Outcome::Failed,
        Outcome::Overloaded,
        Outcome::PeerLimit,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Failed => "failed",
            Outcome::Overloaded => "overloaded",
            Outcome::PeerLimit => "peer_limit",
        }
    }
}

/// Call outcomes and latencies.
#[derive(Debug, Default)]
pub struct HookMetrics {
    outcomes: [[AtomicU64; 4]; 7],
    buckets: [AtomicU64; 10],
    count: AtomicU64,
    sum_micros: AtomicU64,
    dropped: [AtomicU64; 7],
}

fn index(hook: &str) -> Option<usize> {
    HOOKS.iter().position(|h| *h == hook)
}

impl HookMetrics {
    /// Records one call that was made (or waited for a slot) for `took`.
    pub fn record(&self, hook: &str, outcome: Outcome, took: Duration) {
        self.count_outcome(hook, outcome);
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

    /// Counts an outcome without a latency (a call refused before it began).
    pub fn count_outcome(&self, hook: &str, outcome: Outcome) {
        if let Some(i) = index(hook) {
            let o = Outcome::ALL.iter().position(|x| *x == outcome).unwrap_or(0);
            self.outcomes[i][o].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Calls of `hook` that ended with `outcome` so far.
    pub fn outcome_count(&self, hook: &str, outcome: Outcome) -> u64 {
        let o = Outcome::ALL.iter().position(|x| *x == outcome).unwrap_or(0);
        index(hook).map_or(0, |i| self.outcomes[i][o].load(Ordering::Relaxed))
    }

    /// Counts a notification of `hook` dropped because its queue was full.
    pub fn dropped(&self, hook: &str) {
        if let Some(i) = index(hook) {
            self.dropped[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notifications dropped so far, all kinds together.
    pub fn dropped_count(&self) -> u64 {
        self.dropped.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    /// `(hook, dropped)` per notification hook.
    pub fn dropped_by_hook(&self) -> Vec<(&'static str, u64)> {
        HOOKS
            .iter()
            .zip(&self.dropped)
            .skip(2) // decisions are never queued
            .map(|(h, d)| (*h, d.load(Ordering::Relaxed)))
            .collect()
    }

    /// `(hook, outcome, calls)` for every hook and outcome.
    pub fn calls(&self) -> Vec<(&'static str, &'static str, u64)> {
        HOOKS
            .iter()
            .zip(&self.outcomes)
            .flat_map(|(h, counts)| {
                Outcome::ALL
                    .iter()
                    .zip(counts)
                    .map(|(o, c)| (*h, o.name(), c.load(Ordering::Relaxed)))
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
