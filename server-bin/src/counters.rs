//! Server-wide counters that no other component keeps, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Outcomes of publish attempts, and the waiting players' table.
#[derive(Debug, Default)]
pub struct Counters {
    publish_accepted: AtomicU64,
    publish_resumed: AtomicU64,
    publish_conflict: AtomicU64,
    publish_denied: AtomicU64,
    /// Players waiting for streams nobody publishes, and the refused
    /// (`strom_waiting_players_refused_total`: `waiting.refused()`).
    pub waiting: crate::waiting::WaitingPlayers,
}

/// How a publish attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// A new stream.
    Accepted,
    /// Resumed a lingering stream or took over a stale/kicked one.
    Resumed,
    /// Refused: another publisher is live (`publish_conflict = reject`).
    Conflict,
    /// Refused by a hook or a token.
    Denied,
}

impl Counters {
    /// Counts one publish attempt.
    pub fn publish(&self, outcome: PublishOutcome) {
        let c = match outcome {
            PublishOutcome::Accepted => &self.publish_accepted,
            PublishOutcome::Resumed => &self.publish_resumed,
            PublishOutcome::Conflict => &self.publish_conflict,
            PublishOutcome::Denied => &self.publish_denied,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// `(outcome label, count)` pairs.
    pub fn publishes(&self) -> [(&'static str, u64); 4] {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("accepted", l(&self.publish_accepted)),
            ("resumed", l(&self.publish_resumed)),
            ("conflict", l(&self.publish_conflict)),
            ("denied", l(&self.publish_denied)),
        ]
    }
}
