//! Snapshots for the HTTP API and metrics, and the bitrate meter behind them.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::{PeerInfo, StreamKey, Track};

/// Where a stream is in its life cycle (see the crate docs for the diagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamState {
    /// Subscribers wait for a publisher that has not arrived yet.
    Waiting,
    /// A publisher owns the stream.
    Live,
    /// The publisher left; the stream waits up to `continue_push` for one to resume it.
    Lingering,
}

impl StreamState {
    /// "waiting", "live" or "lingering".
    pub fn name(self) -> &'static str {
        match self {
            StreamState::Waiting => "waiting",
            StreamState::Live => "live",
            StreamState::Lingering => "lingering",
        }
    }
}

/// One subscriber as seen by the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberSnapshot {
    /// The subscriber id ([`crate::Subscriber::id`]).
    pub id: u64,
    /// Who it is.
    pub who: PeerInfo,
    /// When it subscribed.
    pub since: SystemTime,
    /// Frames it has taken from its queue.
    pub frames_out: u64,
    /// Payload bytes it has taken from its queue.
    pub bytes_out: u64,
    /// Frames dropped for it (queue full, skipped to keyframe).
    pub drops: u64,
    /// Resident bytes ([`crate::Frame::resident_bytes`]) of the frames in its queue, as its
    /// byte bound (`subscriber_queue_bytes`) counts them; frames it shares with other
    /// players and the GOP cache count here too.
    pub queued_bytes: u64,
}

/// One stream as seen by the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSnapshot {
    /// The stream.
    pub key: StreamKey,
    /// Life cycle state.
    pub state: StreamState,
    /// The current publisher, when live.
    pub publisher: Option<PeerInfo>,
    /// When the current publisher started, when live.
    pub publishing_since: Option<SystemTime>,
    /// How long the current publisher has sent no frame, when live (past
    /// `publisher_idle_timeout` it is stale: a newcomer takes over).
    pub publisher_idle: Option<Duration>,
    /// The announced tracks (kept while lingering).
    pub tracks: Vec<Track>,
    /// Payload bytes pushed since the stream entry was created.
    pub bytes_in: u64,
    /// Frames pushed since the stream entry was created.
    pub frames_in: u64,
    /// The video has frames shown in another order than decoded (B-frames),
    /// which some outputs (WebRTC) cannot carry.
    pub reordered_video: bool,
    /// Ingest bitrate over the last few seconds.
    pub bitrate_bps: u64,
    /// Attached (or waiting) subscribers, by id.
    pub subscribers: Vec<SubscriberSnapshot>,
    /// Frames dropped for all subscribers of this stream.
    pub drops: u64,
    /// Resident bytes of the GOP cache (what late joiners get), re-measured exactly: bounded
    /// by `gop_cache_max_bytes`.
    pub gop_bytes: u64,
    /// Resident media bytes the stream holds: every distinct frame in the GOP cache and the
    /// subscriber queues (a frame shared by several of them is one allocation, counted
    /// once), payload plus cached wire forms. Frames a player task took from its queue and
    /// is writing are not counted.
    pub resident_bytes: u64,
}

/// Totals of the whole hub. Counters are totals since the hub was created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Streams that are live or lingering.
    pub streams: usize,
    /// Live publishers.
    pub publishers: usize,
    /// Attached or waiting subscribers.
    pub subscribers: usize,
    /// Payload bytes pushed.
    pub bytes_in: u64,
    /// Payload bytes taken by subscribers.
    pub bytes_out: u64,
    /// Frames pushed.
    pub frames_in: u64,
    /// Frames dropped for lagging subscribers.
    pub drops: u64,
}

/// Window of the bitrate meter, in one-second buckets.
const WINDOW_SECS: u64 = 5;

/// Ingest bitrate over the last [`WINDOW_SECS`] complete seconds (the current, partial
/// second would bias it low), in one-second buckets.
#[derive(Debug)]
pub(crate) struct BitrateMeter {
    origin: Instant,
    first_sec: Option<u64>,
    buckets: VecDeque<(u64, u64)>,
}

impl BitrateMeter {
    pub(crate) fn new(origin: Instant) -> BitrateMeter {
        BitrateMeter {
            origin,
            first_sec: None,
            buckets: VecDeque::new(),
        }
    }

    fn sec(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs()
    }

    pub(crate) fn record(&mut self, now: Instant, bytes: usize) {
        let s = self.sec(now);
        self.first_sec.get_or_insert(s);
        match self.buckets.back_mut() {
            Some((sec, b)) if *sec == s => *b = b.saturating_add(bytes as u64),
            _ => self.buckets.push_back((s, bytes as u64)),
        }
        while self
            .buckets
            .front()
            .is_some_and(|(sec, _)| sec.saturating_add(WINDOW_SECS) < s)
        {
            self.buckets.pop_front();
        }
    }

    pub(crate) fn bps(&self, now: Instant) -> u64 {
        let s = self.sec(now);
        let Some(first) = self.first_sec else {
            return 0;
        };
        if s <= first {
            // Not one complete second yet: the bytes so far, per second.
            let b: u64 = self.buckets.iter().map(|(_, b)| *b).sum();
            return b.saturating_mul(8);
        }
        let from = s.saturating_sub(WINDOW_SECS);
        let total: u64 = self
            .buckets
            .iter()
            .filter(|(sec, _)| (from..s).contains(sec))
            .map(|(_, b)| *b)
            .sum();
        let span = s - from.max(first);
        total.saturating_mul(8) / span.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bitrate_over_the_window() {
        let t0 = Instant::now();
        let mut m = BitrateMeter::new(t0);
        assert_eq!(m.bps(t0), 0);
        for i in 0..100u64 {
            m.record(t0 + Duration::from_millis(i * 100), 12_500);
        }
        // 10 records per second of 12.5 kB = 1 Mbit/s.
        let now = t0 + Duration::from_millis(9_950);
        assert_eq!(m.bps(now), 1_000_000);
        assert_eq!(
            m.bps(t0 + Duration::from_secs(60)),
            0,
            "silence decays to zero"
        );
        assert_eq!(StreamState::Lingering.name(), "lingering");
    }
}
