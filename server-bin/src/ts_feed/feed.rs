//! One stream's TS output, shared by its HLS requests and HTTP-TS viewers.
//!
//! The packager task is the only writer: it pushes each frame into the
//! [`hls_seg::Packager`] under the feed's lock (a few microseconds, never
//! across an `.await`), remembers the chunks since the last keyframe for
//! viewers who join, and broadcasts the chunk to the viewers already here.
//! Joining takes the start chunks and subscribes under the same lock, so a
//! viewer sees every chunk after its start exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use hls_seg::{MuxerConfig, Packager, Segment, SegmenterConfig};
use stream_core::StreamKey;
use tokio::sync::{broadcast, watch};

use super::demand::{Demand, Packaged};
use crate::session::lock;

/// Chunks buffered for HTTP-TS viewers; a viewer this far behind is dropped.
pub const LIVE_CHUNKS: usize = 2048;
/// Most bytes kept for joining viewers (a GOP); past it they wait for the next keyframe.
const MAX_START_BYTES: usize = 32 * 1024 * 1024;

/// The TS bytes of one frame.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// 188-byte packets.
    pub ts: Bytes,
    /// Starts with PAT/PMT and a keyframe (or a segment, audio-only): a
    /// viewer may begin here.
    pub starts_gop: bool,
}

/// A stream's TS output.
#[derive(Debug)]
pub struct Feed {
    key: StreamKey,
    state: Mutex<State>,
    /// Segments closed so far (0 until the first is complete).
    segments: watch::Sender<u64>,
    /// When HLS was last asked for.
    demand: Demand,
    ended: AtomicBool,
}

#[derive(Debug)]
struct State {
    packager: Option<Packager>,
    /// Dropped when the feed ends, which ends every viewer's receiver.
    live: Option<broadcast::Sender<Chunk>>,
    start: Vec<Bytes>,
    start_bytes: usize,
    start_valid: bool,
}

impl Feed {
    /// A feed with no packager yet (it is made when the tracks are known).
    pub fn new(key: StreamKey) -> Feed {
        Feed {
            key,
            state: Mutex::new(State {
                packager: None,
                live: Some(broadcast::channel(LIVE_CHUNKS).0),
                start: Vec::new(),
                start_bytes: 0,
                start_valid: false,
            }),
            segments: watch::channel(0).0,
            demand: Demand::default(),
            ended: AtomicBool::new(false),
        }
    }

    /// The stream.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Makes the packager for the stream's tracks or, when tracks change
    /// (a resumed publisher), switches it to them: the open segment is
    /// closed (and returned) and the next one carries EXT-X-DISCONTINUITY.
    pub fn configure(&self, muxer: MuxerConfig, segments: SegmenterConfig) -> Option<Segment> {
        let mut state = lock(&self.state);
        state.start.clear();
        state.start_bytes = 0;
        state.start_valid = false;
        match state.packager.as_mut() {
            Some(p) => {
                let closed = p.reconfigure(muxer)?;
                p.segment(closed)
            }
            None => {
                state.packager =
                    Some(Packager::new(muxer, segments).with_first_sequence(first_sequence()));
                None
            }
        }
    }

    /// Runs `push` on the packager and shares the chunk it made. Returns the
    /// closed segment, if this frame closed one.
    pub fn push(
        &self,
        starts_gop: bool,
        push: impl FnOnce(&mut Packager) -> Option<hls_seg::Pushed>,
    ) -> Option<Segment> {
        let mut state = lock(&self.state);
        let pushed = push(state.packager.as_mut()?)?;
        let starts_gop = starts_gop || pushed.closed.is_some();
        if starts_gop {
            state.start.clear();
            state.start_bytes = 0;
            state.start_valid = true;
        }
        if state.start_valid {
            state.start_bytes += pushed.ts.len();
            state.start.push(pushed.ts.clone());
            if state.start_bytes > MAX_START_BYTES {
                state.start.clear();
                state.start_bytes = 0;
                state.start_valid = false;
            }
        }
        if let Some(live) = &state.live {
            // No receiver is not an error: HLS-only feeds have none.
            let _ = live.send(Chunk {
                ts: pushed.ts,
                starts_gop,
            });
        }
        let closed = pushed
            .closed
            .and_then(|seq| state.packager.as_ref()?.segment(seq));
        drop(state);
        if closed.is_some() {
            // Wakes requests waiting for the first segment.
            self.segments.send_modify(|n| *n += 1);
        }
        closed
    }

    /// For a joining HTTP-TS viewer: the chunks from the last keyframe (empty
    /// if none is buffered: wait for `starts_gop`) and the live chunks after them.
    pub fn join(&self) -> Option<(Vec<Bytes>, broadcast::Receiver<Chunk>)> {
        let state = lock(&self.state);
        let live = state.live.as_ref()?.subscribe();
        let start = if state.start_valid {
            state.start.clone()
        } else {
            Vec::new()
        };
        Some((start, live))
    }

    /// The live playlist, once a segment exists.
    pub fn playlist(&self) -> Option<String> {
        let state = lock(&self.state);
        let packager = state.packager.as_ref()?;
        packager.segments().next()?;
        Some(packager.playlist())
    }

    /// A segment still held (in the playlist or retained).
    pub fn segment(&self, sequence: u64) -> Option<Segment> {
        lock(&self.state).packager.as_ref()?.segment(sequence)
    }

    /// Bytes of media held by the packager.
    pub fn bytes_held(&self) -> usize {
        lock(&self.state)
            .packager
            .as_ref()
            .map_or(0, Packager::bytes_held)
    }

    /// Closes the open segment; the playlist ends with EXT-X-ENDLIST.
    pub fn finish(&self) -> Option<Segment> {
        let mut state = lock(&self.state);
        let packager = state.packager.as_mut()?;
        let before = packager.segments().last().map(|s| s.sequence);
        packager.finish();
        let last = packager.segments().last().cloned();
        drop(state);
        let closed = last.filter(|s| Some(s.sequence) != before);
        if closed.is_some() {
            self.segments.send_modify(|n| *n += 1);
        }
        closed
    }

    /// Waits until the first segment exists, at most `limit`. True when it does.
    pub async fn wait_first_segment(&self, limit: Duration) -> bool {
        let mut rx = self.segments.subscribe();
        let wait = rx.wait_for(|n| *n > 0 || self.is_ended());
        let _ = tokio::time::timeout(limit, wait).await;
        self.playlist().is_some()
    }

    /// Notes an HLS request (keeps an on-demand feed alive).
    pub fn touch(&self) {
        self.demand.touch();
    }

    /// Someone watches: an HTTP-TS viewer is attached, or an HLS request
    /// came within `within` (an on-demand proxy stays up for them).
    pub fn watched(&self, within: Duration) -> bool {
        self.viewers() > 0 || (self.demand.requested() && self.idle_for() < within)
    }

    /// How long since the last HLS request (or since the feed was made).
    pub fn idle_for(&self) -> Duration {
        self.demand.idle_for()
    }

    /// HTTP-TS viewers attached.
    pub fn viewers(&self) -> usize {
        lock(&self.state)
            .live
            .as_ref()
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Marks the feed ended: no new viewer joins; requests for it start a new one.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
        lock(&self.state).live = None;
        // Wakes requests waiting for a first segment that will never come.
        self.segments.send_modify(|_| {});
    }

    /// True once the packager task has ended.
    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
}

/// The first segment number of a new packager: tenths of a second since the
/// Unix epoch. Segments last at least `hls.segment_secs` ≥ 0.1 s, so an
/// earlier packager of the name (before a restart of the stream, or on the
/// node that owned it before) never reached this number: a segment URI
/// names one content for good, on every node whose clock is in sync, and a
/// shared cache may keep segments (`max-age=3600`).
pub(crate) fn first_sequence() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_millis() / 100) as u64)
        .unwrap_or(0)
}

impl Packaged for Feed {
    fn key(&self) -> &StreamKey {
        &self.key
    }

    fn end(&self) {
        Feed::end(self);
    }

    fn is_ended(&self) -> bool {
        Feed::is_ended(self)
    }

    fn bytes_held(&self) -> usize {
        Feed::bytes_held(self)
    }
}
