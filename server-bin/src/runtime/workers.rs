//! The media workers: one single-threaded tokio runtime per thread.
//!
//! Why not one work-stealing multi-thread runtime: rule 6 of the design asks
//! to measure event-loop lag *per worker* and name the worker that stalled.
//! Stable tokio offers no way to place a probe on a given worker of a
//! work-stealing pool, and a task blocked in one poll stalls whatever sits in
//! that worker's local queue. With a worker per thread (the event-poller
//! model ZLMediaKit users know), a heartbeat task on each worker measures
//! exactly that worker's lag, sessions never migrate, and a stall is
//! attributable. Sessions are spread over the workers by the listeners.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// How often each worker's heartbeat task wakes up.
pub const HEARTBEAT: Duration = Duration::from_millis(50);

/// Liveness figures of one worker, written by its heartbeat task and read by
/// the watchdog. Times are milliseconds since the pool's epoch.
#[derive(Debug, Default)]
pub struct Beat {
    /// When the heartbeat last ran.
    pub last_ms: AtomicU64,
    /// How late the last heartbeat woke up, in microseconds.
    pub lag_us: AtomicU64,
}

/// One media worker.
#[derive(Debug)]
pub struct Worker {
    /// `media-N`, also the thread name.
    pub name: String,
    /// Spawn sessions here.
    pub handle: Handle,
    /// Heartbeat figures.
    pub beat: Arc<Beat>,
}

/// All media workers, and the threads that run them.
#[derive(Debug)]
pub struct WorkerPool {
    workers: Vec<Worker>,
    epoch: Instant,
    next: AtomicUsize,
    threads: Vec<(JoinHandle<()>, oneshot::Sender<()>)>,
}

impl WorkerPool {
    /// Starts `count` workers (at least one), each with its heartbeat running.
    pub fn start(count: usize) -> std::io::Result<WorkerPool> {
        let epoch = Instant::now();
        let mut workers = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let name = format!("media-{index}");
            let runtime = Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            let beat = Arc::new(Beat::default());
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let heartbeat = heartbeat(beat.clone(), epoch);
            let thread = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    runtime.spawn(heartbeat);
                    // The worker runs until told to stop; sessions are
                    // spawned onto it through its handle.
                    runtime.block_on(async {
                        let _ = stop_rx.await;
                    });
                    // Whatever is still running was given the grace period
                    // already; don't wait on it again.
                    runtime.shutdown_timeout(Duration::from_millis(100));
                })?;
            workers.push(Worker { name, handle, beat });
            threads.push((thread, stop_tx));
        }
        Ok(WorkerPool {
            workers,
            epoch,
            next: AtomicUsize::new(0),
            threads,
        })
    }

    /// The workers, in index order.
    pub fn workers(&self) -> &[Worker] {
        &self.workers
    }

    /// The next worker for a new session (round robin).
    pub fn pick(&self) -> &Worker {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        &self.workers[i]
    }

    /// Milliseconds since the pool started, on the clock the beats use.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Stops every worker and joins their threads.
    pub fn stop(self) {
        for (thread, stop) in self.threads {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

async fn heartbeat(beat: Arc<Beat>, epoch: Instant) {
    loop {
        let asked = Instant::now();
        tokio::time::sleep(HEARTBEAT).await;
        let late = asked.elapsed().saturating_sub(HEARTBEAT);
        beat.lag_us
            .store(late.as_micros() as u64, Ordering::Relaxed);
        beat.last_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_beat_and_round_robin() {
        let pool = WorkerPool::start(2).unwrap();
        assert_eq!(pool.workers().len(), 2);
        assert_eq!(pool.pick().name, "media-0");
        assert_eq!(pool.pick().name, "media-1");
        assert_eq!(pool.pick().name, "media-0");
        std::thread::sleep(Duration::from_millis(200));
        for w in pool.workers() {
            let last = w.beat.last_ms.load(Ordering::Relaxed);
            assert!(last > 0, "{} never beat", w.name);
            assert!(pool.now_ms() - last < 150, "{} is late", w.name);
        }
        pool.stop();
    }
}
