//! HLS on an edge is the owner's HLS: playlists and segments are fetched
//! from the node that owns the stream and kept briefly, so every node
//! serves the same segment names with the same bytes and one HTTP cache in
//! front of all nodes may keep them. (An edge packaging the stream itself
//! would number its segments from its own start: two nodes, two contents
//! under one name.)
//!
//! One fetch per stream at a time (the others wait for it, then read the
//! copy: single flight); a playlist is reused for half a target duration,
//! like the `Cache-Control` it is served with; the last
//! [`SEGMENTS_KEPT`] segments per stream are kept; streams nobody asked for
//! during [`IDLE`] are dropped, and at most [`MAX_STREAMS`] are held.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use stream_core::StreamKey;
use tokio::time::Instant;

use crate::http_media::request::HlsTarget;
use crate::relay::{PullUrl, Scheme};
use crate::server::Shared;
use crate::session::lock;

/// Segments kept per stream.
pub const SEGMENTS_KEPT: usize = 16;
/// Streams held at once.
pub const MAX_STREAMS: usize = 1000;
/// A stream nobody asked for this long is dropped.
pub const IDLE: Duration = Duration::from_secs(60);
/// Largest playlist fetched.
const MAX_PLAYLIST: usize = 1 << 20;
/// Largest segment fetched.
const MAX_SEGMENT: usize = 64 << 20;

#[derive(Default)]
struct Copy {
    /// The owner's HTTP address the copy came from.
    owner: String,
    playlist: Option<(Instant, Bytes)>,
    segments: VecDeque<(u64, Bytes)>,
    used: Option<Instant>,
}

#[derive(Default)]
struct Stream {
    /// Held while fetching: the single flight.
    fetching: tokio::sync::Mutex<()>,
    copy: Mutex<Copy>,
}

/// The HLS copies of an edge.
#[derive(Default)]
pub struct OwnerHls {
    streams: Mutex<HashMap<StreamKey, Arc<Stream>>>,
}

/// Why the owner's HLS could not be served.
#[derive(Debug, thiserror::Error)]
pub enum OwnerHlsError {
    /// Too many streams held.
    #[error("too many HLS streams relayed from other nodes at once")]
    Full,
    /// The fetch from the owner failed.
    #[error("from the owner node: {0}")]
    Fetch(String),
}

impl OwnerHls {
    /// `target` of `key`, whose owner serves HTTP at `owner` (`host:port`):
    /// from the copy when fresh, else fetched once for every asker, with
    /// `query` (the edge's epoch and signature) on the request.
    ///
    /// # Errors
    /// [`OwnerHlsError`]: the table is full, or the owner did not answer.
    pub async fn get(
        &self,
        shared: &Shared,
        key: &StreamKey,
        target: &HlsTarget,
        owner: &str,
        query: &str,
    ) -> Result<Bytes, OwnerHlsError> {
        let stream = self.stream(key)?;
        let fresh = crate::http_media::hls::playlist_max_age(shared);
        if let Some(hit) = stream.cached(target, owner, fresh) {
            return Ok(hit);
        }
        let deadline = Duration::from_secs(shared.config.relay.connect_secs);
        let _flight = tokio::time::timeout(deadline, stream.fetching.lock())
            .await
            .map_err(|_| OwnerHlsError::Fetch("another fetch of this stream is stuck".into()))?;
        // Another asker may have fetched it while this one waited.
        if let Some(hit) = stream.cached(target, owner, fresh) {
            return Ok(hit);
        }
        let (path, limit) = match target {
            HlsTarget::Playlist => (
                format!("/{}/{}/hls.m3u8?{query}", key.app, key.stream),
                MAX_PLAYLIST,
            ),
            HlsTarget::Segment(n) => (
                format!("/{}/{}/{n}.ts?{query}", key.app, key.stream),
                MAX_SEGMENT,
            ),
            HlsTarget::Fmp4(_) => {
                return Err(OwnerHlsError::Fetch("fMP4 HLS is not relayed".into()))
            }
        };
        let body = fetch(shared, owner, &path, limit, deadline).await?;
        stream.store(target, owner, body.clone());
        Ok(body)
    }

    fn stream(&self, key: &StreamKey) -> Result<Arc<Stream>, OwnerHlsError> {
        let mut streams = lock(&self.streams);
        if let Some(s) = streams.get(key) {
            return Ok(s.clone());
        }
        if streams.len() >= MAX_STREAMS {
            let now = Instant::now();
            streams.retain(|_, s| {
                lock(&s.copy)
                    .used
                    .is_some_and(|u| now.saturating_duration_since(u) < IDLE)
            });
            if streams.len() >= MAX_STREAMS {
                return Err(OwnerHlsError::Full);
            }
        }
        let s = Arc::new(Stream::default());
        streams.insert(key.clone(), s.clone());
        Ok(s)
    }

    /// Streams held (for tests and the API).
    pub fn len(&self) -> usize {
        lock(&self.streams).len()
    }

    /// Whether no stream is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Stream {
    fn cached(&self, target: &HlsTarget, owner: &str, fresh: Duration) -> Option<Bytes> {
        let mut copy = lock(&self.copy);
        copy.used = Some(Instant::now());
        if copy.owner != owner {
            return None; // a new owner: its numbers, its bytes
        }
        match target {
            HlsTarget::Playlist => copy
                .playlist
                .as_ref()
                .filter(|(at, _)| at.elapsed() < fresh)
                .map(|(_, b)| b.clone()),
            HlsTarget::Segment(n) => copy
                .segments
                .iter()
                .find(|(s, _)| s == n)
                .map(|(_, b)| b.clone()),
            HlsTarget::Fmp4(_) => None,
        }
    }

    fn store(&self, target: &HlsTarget, owner: &str, body: Bytes) {
        let mut copy = lock(&self.copy);
        if copy.owner != owner {
            *copy = Copy {
                owner: owner.to_string(),
                ..Copy::default()
            };
        }
        match target {
            HlsTarget::Playlist => copy.playlist = Some((Instant::now(), body)),
            HlsTarget::Segment(n) => {
                if copy.segments.len() >= SEGMENTS_KEPT {
                    copy.segments.pop_front();
                }
                copy.segments.push_back((*n, body));
            }
            HlsTarget::Fmp4(_) => {}
        }
    }
}

/// One GET to the owner on a new connection.
async fn fetch(
    shared: &Shared,
    owner: &str,
    path: &str,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, OwnerHlsError> {
    let (host, port) = owner
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse().ok()?,
            ))
        })
        .ok_or_else(|| OwnerHlsError::Fetch(format!("bad owner address {owner:?}")))?;
    let url = PullUrl {
        scheme: Scheme::Hls,
        raw: format!("http://{owner}{path}"),
        host: host.to_string(),
        port,
        app: String::new(),
        stream: path.to_string(),
    };
    let dial = crate::relay::TcpDial {
        send_buffer: shared.config.server.socket_send_buffer,
    };
    let mut fetcher = crate::relay::hls_fetcher(&dial, deadline);
    fetcher
        .get(&url, limit)
        .await
        .map_err(|e| OwnerHlsError::Fetch(e.to_string()))
}
