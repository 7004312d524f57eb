//! The watchdog: turns the workers' heartbeats into a verdict per worker,
//! logs when a worker stalls and recovers, and feeds `/healthz` and `/metrics`.
//!
//! It runs on the control runtime, apart from media work, so a stalled media
//! worker can never silence it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::workers::{WorkerPool, HEARTBEAT};

/// One worker's health as last measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerHealth {
    /// `media-N`.
    pub name: String,
    /// Current event-loop lag in milliseconds: how late the worker's
    /// heartbeat is, or was the last time it ran.
    pub lag_ms: f64,
    /// Lag above `server.watchdog_stall_ms`.
    pub stalled: bool,
    /// Tasks alive on the worker (sessions, their helpers, the heartbeat): a
    /// count that keeps growing while sessions do not is a leak.
    pub tasks: usize,
}

/// Measures the workers of a pool against a stall limit.
#[derive(Debug, Clone)]
pub struct Watchdog {
    pool: Arc<WorkerPool>,
    stall: Duration,
}

impl Watchdog {
    /// A watchdog for `pool` that calls a worker stalled past `stall`.
    pub fn new(pool: Arc<WorkerPool>, stall: Duration) -> Watchdog {
        Watchdog { pool, stall }
    }

    /// Health of every worker, now.
    pub fn assess(&self) -> Vec<WorkerHealth> {
        let now = self.pool.now_ms();
        let heartbeat_ms = HEARTBEAT.as_millis() as u64;
        self.pool
            .workers()
            .iter()
            .map(|w| {
                let last = w.beat.last_ms.load(Ordering::Relaxed);
                // A worker stuck in one poll never runs its heartbeat again, so
                // the time since its last beat is the lag that is building up.
                let overdue_ms = now.saturating_sub(last).saturating_sub(heartbeat_ms);
                let reported_ms = w.beat.lag_us.load(Ordering::Relaxed) as f64 / 1000.0;
                let lag_ms = reported_ms.max(overdue_ms as f64);
                WorkerHealth {
                    name: w.name.clone(),
                    lag_ms,
                    stalled: lag_ms > self.stall.as_millis() as f64,
                    tasks: w.handle.metrics().num_alive_tasks(),
                }
            })
            .collect()
    }

    /// Checks every 100 ms and logs each transition into and out of a stall,
    /// naming the worker. Runs until the task is dropped.
    pub async fn run(self) {
        let mut was_stalled = vec![false; self.pool.workers().len()];
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (i, h) in self.assess().into_iter().enumerate() {
                let Some(was) = was_stalled.get_mut(i) else {
                    continue;
                };
                if h.stalled && !*was {
                    tracing::error!(
                        worker = %h.name,
                        lag_ms = h.lag_ms,
                        limit_ms = self.stall.as_millis() as u64,
                        "media worker stalled: its event loop has not run past the limit"
                    );
                } else if !h.stalled && *was {
                    tracing::warn!(worker = %h.name, "media worker recovered from stall");
                }
                *was = h.stalled;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_worker_is_named_and_recovers() {
        let pool = Arc::new(WorkerPool::start(2).unwrap());
        let dog = Watchdog::new(pool.clone(), Duration::from_millis(300));
        std::thread::sleep(Duration::from_millis(120));
        assert!(
            dog.assess().iter().all(|h| !h.stalled),
            "{:?}",
            dog.assess()
        );

        // Block worker 1 the way a careless session would: a synchronous sleep.
        pool.workers()[1]
            .handle
            .spawn(async { std::thread::sleep(Duration::from_millis(1200)) });
        std::thread::sleep(Duration::from_millis(700));
        let health = dog.assess();
        assert!(!health[0].stalled, "{health:?}");
        assert!(health[1].stalled, "{health:?}");
        assert_eq!(health[1].name, "media-1");

        std::thread::sleep(Duration::from_millis(1000));
        assert!(
            dog.assess().iter().all(|h| !h.stalled),
            "{:?}",
            dog.assess()
        );
        if let Ok(pool) = Arc::try_unwrap(pool) {
            pool.stop();
        }
    }
}
