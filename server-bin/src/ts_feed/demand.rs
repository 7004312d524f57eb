//! What every on-demand packager of a stream shares, whatever it packages
//! (TS for HLS and HTTP-TS, fMP4 for HLS with fMP4 segments): when it was
//! last asked for, and its start and stop around its task.
//!
//! A packager is started only for a live stream (never for a name nobody
//! publishes, so random requests cannot make work) by the first request
//! that wants it, runs on a media worker, and once its task returns is
//! marked ended; after a stream end it stays readable for one playlist
//! window (players finishing the stream fetch the `EXT-X-ENDLIST` playlist
//! and its last segments), then leaves the registry.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stream_core::StreamKey;

use crate::server::Shared;
use crate::session::lock;

/// Why a packager stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The stream ended (or was never there).
    StreamEnded,
    /// On demand, and nobody asked for it for `hls.idle_secs`.
    Idle,
}

/// When a packager was last asked for.
#[derive(Debug)]
pub struct Demand {
    created: Instant,
    /// Milliseconds after `created` of the latest request.
    last_request_ms: AtomicU64,
    /// Some request came (a feed packaged from the publish on, with
    /// `hls.on_demand = false`, may have none).
    requested: AtomicBool,
}

impl Default for Demand {
    fn default() -> Self {
        Demand {
            created: Instant::now(),
            last_request_ms: AtomicU64::new(0),
            requested: AtomicBool::new(false),
        }
    }
}

impl Demand {
    /// Notes a request (keeps an on-demand packager alive).
    pub fn touch(&self) {
        let ms = self.created.elapsed().as_millis() as u64;
        self.last_request_ms.fetch_max(ms, Ordering::Relaxed);
        self.requested.store(true, Ordering::Relaxed);
    }

    /// Some request came.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// How long since the last request (or since the packager was made).
    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_request_ms.load(Ordering::Relaxed));
        self.created.elapsed().saturating_sub(last)
    }
}

/// A stream's packaged output as the registry sees it.
pub trait Packaged: Send + Sync + 'static {
    /// The stream.
    fn key(&self) -> &StreamKey;
    /// Marks it ended: requests for the stream start a new one.
    fn end(&self);
    /// True once its task has ended.
    fn is_ended(&self) -> bool;
    /// Bytes of media it holds.
    fn bytes_held(&self) -> usize;
}

/// The packager's hub subscriber for `key`; `None` (logged) when the
/// stream is gone.
pub async fn subscribe(shared: &Shared, key: &StreamKey) -> Option<stream_core::Subscriber> {
    match shared.hub.subscribe(key, crate::players::packager()).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::debug!(stream = %key, reason = %e, "nothing to package");
            None
        }
    }
}

/// The packagers of one kind, by stream.
#[derive(Debug)]
pub struct FeedMap<F>(Mutex<HashMap<StreamKey, Arc<F>>>);

impl<F> Default for FeedMap<F> {
    fn default() -> Self {
        FeedMap(Mutex::default())
    }
}

impl<F: Packaged> FeedMap<F> {
    /// The running packager of `key`, if any (ended ones are still returned
    /// while their final playlist is kept).
    pub fn get(&self, key: &StreamKey) -> Option<Arc<F>> {
        lock(&self.0).get(key).cloned()
    }

    /// Packagers running.
    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// True when no stream is packaged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the media bytes every packager holds.
    pub fn bytes_held(&self) -> usize {
        let feeds: Vec<_> = lock(&self.0).values().cloned().collect();
        feeds.iter().map(|f| f.bytes_held()).sum()
    }
}

/// The packager of a live stream in `map(shared)`, started if needed with
/// `make` and its task `run` on a media worker. `None` when the stream is
/// not live.
pub fn ensure<F, Fut>(
    shared: &Arc<Shared>,
    map: fn(&Shared) -> &FeedMap<F>,
    key: &StreamKey,
    make: impl FnOnce() -> F,
    run: impl FnOnce(Arc<Shared>, Arc<F>) -> Fut,
) -> Option<Arc<F>>
where
    F: Packaged,
    Fut: Future<Output = Stop> + Send + 'static,
{
    let live = shared
        .hub
        .stream(key)
        .is_some_and(|s| s.state != stream_core::StreamState::Waiting);
    let mut feeds = lock(&map(shared).0);
    if let Some(feed) = feeds.get(key) {
        if !feed.is_ended() || !live {
            return Some(feed.clone());
        }
    }
    if !live {
        return None;
    }
    let feed = Arc::new(make());
    feeds.insert(key.clone(), feed.clone());
    drop(feeds);
    let task = run(shared.clone(), feed.clone());
    let (shared, feed2) = (shared.clone(), feed.clone());
    let worker = shared.pool.pick().handle.clone();
    worker.spawn(async move {
        let stop = task.await;
        feed2.end();
        if stop == Stop::StreamEnded {
            // A shutdown ends the wait (this task holds the workers, which
            // must stop).
            let cfg = &shared.config.hls;
            let keep = Duration::from_secs_f64(cfg.segment_secs * cfg.segment_count as f64)
                .min(Duration::from_secs(60));
            let mut stopping = shared.stopping.clone();
            let _ = tokio::time::timeout(keep, stopping.wait_for(|s| *s)).await;
        }
        let mut feeds = lock(&map(&shared).0);
        if feeds
            .get(feed2.key())
            .is_some_and(|f| Arc::ptr_eq(f, &feed2))
        {
            feeds.remove(feed2.key());
        }
    });
    Some(feed)
}
