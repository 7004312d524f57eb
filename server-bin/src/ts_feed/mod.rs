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
pub mod demand;
mod disk;
mod feed;
mod task;

use std::sync::Arc;

use stream_core::{HubEvent, StreamKey};

pub use convert::TsTracks;
pub use demand::Stop;
pub(crate) use feed::first_sequence;
pub use feed::{Chunk, Feed};

use crate::server::Shared;

/// The live feeds, by stream.
#[derive(Debug, Default)]
pub struct Feeds {
    map: demand::FeedMap<Feed>,
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
            map: demand::FeedMap::default(),
            disk,
        })
    }

    /// The running feed of `key`, if any (ended ones are still returned while
    /// their final playlist is kept).
    pub fn get(&self, key: &StreamKey) -> Option<Arc<Feed>> {
        self.map.get(key)
    }

    /// Feeds currently packaging.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no stream is packaged.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sum of the media bytes every feed holds.
    pub fn bytes_held(&self) -> usize {
        self.map.bytes_held()
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
    let disk = shared.feeds.disk.clone();
    demand::ensure(
        shared,
        |s| &s.feeds.map,
        key,
        || Feed::new(key.clone()),
        move |shared, feed| task::run(shared, feed, disk),
    )
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
