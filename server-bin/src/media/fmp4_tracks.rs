//! Which of a stream's tracks an fMP4 output carries, shared by the fMP4
//! HLS packager ([`crate::cmaf_feed`]) and the recorder ([`crate::record`]).
//!
//! An init segment is made only with tracks that carry media: a configured
//! video track that never sends a frame would keep every segment (or
//! recorded file) from opening. So the first frames are held until every
//! carried track has sent one, or for [`COLLECT`] (wall or media time) or
//! [`COLLECT_FRAMES`] frames, whichever comes first; the output gets the
//! tracks seen by then. New tracks (a resumed publisher with other codecs)
//! do the same again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fmp4::TrackConfig;
use stream_core::{Frame, Track, TrackId};
use tokio::time::Instant;

use super::fmp4_egress::track_config;

/// Longest the first frames are held waiting for every track.
pub const COLLECT: Duration = Duration::from_secs(1);
/// Most frames held meanwhile.
pub const COLLECT_FRAMES: usize = 1000;

/// The stream's tracks as fMP4 carries them, and the first frames held
/// until the output can be made.
#[derive(Debug, Default)]
pub struct Fmp4Tracks {
    /// Every carried track: stream-core id → its fMP4 description.
    carried: Vec<(TrackId, TrackConfig)>,
    /// The running output's tracks.
    active: Vec<(TrackId, TrackConfig)>,
    /// Collecting the first frames for a new output.
    collecting: Option<Collecting>,
}

#[derive(Debug)]
struct Collecting {
    frames: Vec<Arc<Frame>>,
    seen: HashSet<TrackId>,
    since: Instant,
}

impl Fmp4Tracks {
    /// The stream's (new) tracks. The same descriptions keep the output
    /// (false); others (true) start collecting frames for a new one — the
    /// caller ends the running output.
    pub fn announce(&mut self, tracks: &[Track]) -> bool {
        let carried: Vec<_> = tracks
            .iter()
            .filter_map(|t| track_config(t).map(|c| (t.id, c)))
            .collect();
        let unchanged = !self.active.is_empty()
            && self.active.iter().all(|a| carried.contains(a))
            && carried.len() == self.active.len();
        self.carried = carried;
        if unchanged {
            return false;
        }
        self.collecting = (!self.carried.is_empty()).then(|| Collecting {
            frames: Vec::new(),
            seen: HashSet::new(),
            since: Instant::now(),
        });
        self.active.clear();
        true
    }

    /// No track of the last announcement can be carried.
    pub fn none_carried(&self) -> bool {
        self.carried.is_empty()
    }

    /// Holds `frame` while collecting (true), else false.
    pub fn collect(&mut self, frame: &Arc<Frame>) -> bool {
        let Some(c) = &mut self.collecting else {
            return false;
        };
        if self.carried.iter().any(|(id, _)| *id == frame.track) {
            if c.frames.is_empty() {
                c.since = Instant::now();
            }
            c.seen.insert(frame.track);
            c.frames.push(frame.clone());
        }
        true
    }

    /// Whether the output can be made now: every carried track sent a
    /// frame, or [`COLLECT`] passed since the first (wall time, or media
    /// time up to `last`), or [`COLLECT_FRAMES`] are held.
    pub fn collected(&self, last: Option<&Frame>) -> bool {
        let Some(c) = &self.collecting else {
            return false;
        };
        let Some(first) = c.frames.first() else {
            return false;
        };
        let media = last.map_or(0, |l| l.dts_us.saturating_sub(first.dts_us));
        c.seen.len() >= self.carried.len()
            || c.frames.len() >= COLLECT_FRAMES
            || c.since.elapsed() >= COLLECT
            || media >= COLLECT.as_micros() as i64
    }

    /// Ends collecting: the active tracks become those seen, and the held
    /// frames are given back (in order) to go to the new output. `None`
    /// when not collecting.
    pub fn start(&mut self) -> Option<Vec<Arc<Frame>>> {
        let c = self.collecting.take()?;
        self.active = self
            .carried
            .iter()
            .filter(|(id, _)| c.seen.contains(id))
            .cloned()
            .collect();
        Some(c.frames)
    }

    /// The running output's tracks (empty before [`Self::start`]).
    pub fn active(&self) -> &[(TrackId, TrackConfig)] {
        &self.active
    }

    /// Forgets the running output's tracks (it could not be made).
    pub fn clear_active(&mut self) {
        self.active.clear();
    }

    /// Carried tracks left out of the running output (no frame in time).
    pub fn skipped(&self) -> usize {
        self.carried.len() - self.active.len()
    }

    /// The description of `track` if the running output carries it.
    pub fn config(&self, track: TrackId) -> Option<&TrackConfig> {
        self.active
            .iter()
            .find(|(id, _)| *id == track)
            .map(|(_, c)| c)
    }
}
