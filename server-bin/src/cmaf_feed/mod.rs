//! HLS with fMP4 (CMAF) segments and Low-Latency HLS: one
//! [`hls_seg::cmaf::CmafPackager`] per stream, serving the playlist
//! `hls.fmp4.m3u8`, `fmp4/init.mp4`, segments and partial segments
//! ([`crate::http_media`] answers the requests).
//!
//! Always on demand: the first fMP4-HLS request of a live stream starts the
//! feed, and it stops after `hls.idle_secs` without one (fMP4 segments are
//! never written to disk, so nothing needs them before a request). When the
//! stream ends the last segment is closed and the playlist, with
//! `EXT-X-ENDLIST`, stays readable for one window, as for TS
//! ([`crate::ts_feed::demand`] runs both kinds).
//!
//! Requests that block (a playlist reload with `_HLS_msn`, the
//! preload-hinted part) hold a place in [`CmafFeeds::blocked`], capped by
//! `hls.max_blocked_requests` and `hls.max_blocked_requests_per_ip`.

mod feed;
mod task;

use std::sync::Arc;

use stream_core::StreamKey;

pub use crate::media::fmp4_tracks::{COLLECT, COLLECT_FRAMES};
pub use feed::CmafFeed;
pub use task::input;

use crate::server::Shared;
use crate::ts_feed::demand::{self, FeedMap};

/// The live fMP4-HLS feeds, by stream, and the requests blocked on them.
#[derive(Debug, Default)]
pub struct CmafFeeds {
    /// The feeds.
    pub map: FeedMap<CmafFeed>,
    /// Blocked requests (the same bounded table as players waiting for a
    /// stream, with its own limits).
    pub blocked: crate::waiting::WaitingPlayers,
}

/// The feed of a live stream, started if needed; `None` when the stream is
/// not live (random names never make work).
pub fn ensure(shared: &Arc<Shared>, key: &StreamKey) -> Option<Arc<CmafFeed>> {
    demand::ensure(
        shared,
        |s| &s.cmaf_feeds.map,
        key,
        || CmafFeed::new(key.clone()),
        task::run,
    )
}
