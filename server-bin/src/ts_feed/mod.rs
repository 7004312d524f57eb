//! TS packaging: one in-order MPEG-TS muxer per stream feeding both HLS
//! (segments and playlists, in memory and optionally on disk) and HTTP-TS
//! viewers (the same chunks, shared).
//!
//! A feed exists while someone wants it: with `hls.on_demand` (the default)
//! the first HLS or HTTP-TS request of a live stream starts it, and it stops
//! after `hls.idle_secs` without HLS requests and HTTP-TS viewers; otherwise
//! every stream is packaged from its publish on. A feed never outlives its
//! stream: when the stream ends the packager closes the last segment, the
//! playlist gets EXT-X-ENDLIST and stays readable for one playlist window.

mod convert;
mod disk;
mod feed;
mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stream_core::{HubEvent, StreamKey};

pub use feed::{Chunk, Feed};
pub use task::Stop;

use crate::server::Shared;
use crate::session::lock;

/// The live feeds, by stream.
#[derive(Debug, Default)]
pub struct Feeds {
    map: Mutex<HashMap<StreamKey, Arc<Feed>>>,
    disk: Option<disk::DiskWriter>,
}

impl Feeds {
    /// The registry; with `hls.dir` set, also starts the disk writer.
    pub fn new(hls_dir: &str) -> std::io::Result<Feeds> {
        let disk = if hls_dir.is_empty() {
            None
        } else {
            Some(disk::DiskWriter::start(hls_dir)?)
        };
        Ok(Feeds {
            map: Mutex::default(),
            disk,
        })
    }

    /// The running feed of `key`, if any (ended ones are still returned while
    /// their final playlist is kept).
    pub fn get(&self, key: &StreamKey) -> Option<Arc<Feed>> {
        lock(&self.map).get(key).cloned()
    }

    /// Feeds currently packaging.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// True when no stream is packaged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the media bytes every feed holds.
    pub fn bytes_held(&self) -> usize {
        let feeds: Vec<_> = lock(&self.map).values().cloned().collect();
        feeds.iter().map(|f| f.bytes_held()).sum()
    }

    /// Disk operations dropped because the disk fell behind.
    pub fn disk_dropped(&self) -> u64 {
        self.disk.as_ref().map_or(0, disk::DiskWriter::dropped)
    }
}

/// The feed of a live stream, started if needed. `None` when the stream is
/// not live: a feed is never started for a name nobody publishes, so random
/// requests cannot make the server package anything.
pub fn ensure(shared: &Arc<Shared>, key: &StreamKey) -> Option<Arc<Feed>> {
    let live = shared
        .hub
        .stream(key)
        .is_some_and(|s| s.state != stream_core::StreamState::Waiting);
    let mut map = lock(&shared.feeds.map);
    if let Some(feed) = map.get(key) {
        if !feed.is_ended() || !live {
            return Some(feed.clone());
        }
    }
    if !live {
        return None;
    }
    let feed = Arc::new(Feed::new(key.clone()));
    map.insert(key.clone(), feed.clone());
    drop(map);
    let (shared2, feed2) = (shared.clone(), feed.clone());
    let disk = shared.feeds.disk.clone();
    shared.pool.pick().handle.spawn(async move {
        let stop = task::run(shared2.clone(), feed2.clone(), disk).await;
        feed2.end();
        if stop == Stop::StreamEnded {
            // Players finishing the stream still fetch the playlist with
            // EXT-X-ENDLIST and its last segments; a shutdown ends the wait
            // (this task holds the workers, which must stop).
            let cfg = &shared2.config.hls;
            let keep = Duration::from_secs_f64(cfg.segment_secs * cfg.segment_count as f64)
                .min(Duration::from_secs(60));
            let mut stopping = shared2.stopping.clone();
            let _ = tokio::time::timeout(keep, stopping.wait_for(|s| *s)).await;
        }
        let mut map = lock(&shared2.feeds.map);
        if map.get(feed2.key()).is_some_and(|f| Arc::ptr_eq(f, &feed2)) {
            map.remove(feed2.key());
        }
    });
    Some(feed)
}

/// With `hls.on_demand = false`: packages every stream from its publish on.
/// Runs on the control plane, reading the hub's lifecycle events.
pub async fn package_every_stream(shared: Arc<Shared>) {
    let mut events = shared.hub.events();
    loop {
        match events.recv().await {
            Ok(HubEvent::Published { key, .. }) => {
                let options = shared.hooks.stream_options(&key);
                if options.enable_hls || options.enable_ts {
                    ensure(&shared, &key);
                }
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "hls: hub events missed; packaging every live stream"
                );
                for stream in shared.hub.streams() {
                    ensure(&shared, &stream.key);
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
