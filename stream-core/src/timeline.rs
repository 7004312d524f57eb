//! Timestamp rebasing across publishers (DESIGN rule 5: "resume ... with timestamps kept
//! monotonic for the players who stayed").
//!
//! A resumed or new publisher starts its clock wherever its encoder likes (often at 0). The
//! first frame it pushes is mapped to just after the last dts delivered on any track (plus
//! that track's last frame interval), and every later frame of that publisher keeps the same
//! offset, which preserves its A/V sync. A per-track clamp then guarantees that dts never
//! goes backwards on a track; a step back of more than [`REANCHOR_US`] within one publisher
//! (an encoder restart on the same connection) re-anchors the offset like a new publisher.

use crate::TrackId;

/// Gap used after a track whose frame interval is unknown (one 50 fps frame).
const DEFAULT_INTERVAL_US: i64 = 20_000;
/// Largest interval carried over on resume; more is a pause, not a frame interval.
const MAX_INTERVAL_US: i64 = 1_000_000;
/// A backward step larger than this re-anchors the timeline instead of being clamped.
pub(crate) const REANCHOR_US: i64 = 1_000_000;

#[derive(Debug, Clone, Copy)]
struct TrackTime {
    track: TrackId,
    last_dts: i64,
    interval: i64,
}

/// Maps a publisher's timestamps onto the stream's timeline.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    offset: i64,
    pending_anchor: bool,
    tracks: Vec<TrackTime>,
}

impl Timeline {
    /// A new publisher takes the stream: its first frame will be anchored after the last one.
    pub(crate) fn new_publisher(&mut self) {
        self.pending_anchor = !self.tracks.is_empty();
    }

    /// The latest dts delivered on any track.
    pub(crate) fn newest_dts(&self) -> Option<i64> {
        self.tracks.iter().map(|t| t.last_dts).max()
    }

    fn anchor(&mut self, dts: i64) {
        let next = self
            .tracks
            .iter()
            .map(|t| {
                t.last_dts
                    .saturating_add(t.interval.clamp(1, MAX_INTERVAL_US))
            })
            .max();
        if let Some(next) = next {
            self.offset = next.saturating_sub(dts);
        }
        self.pending_anchor = false;
    }

    /// Maps one frame's (dts, pts) onto the stream timeline.
    pub(crate) fn map(&mut self, track: TrackId, dts: i64, pts: i64) -> (i64, i64) {
        if self.pending_anchor {
            self.anchor(dts);
        }
        let mut d = dts.saturating_add(self.offset);
        if let Some(t) = self.tracks.iter().find(|t| t.track == track) {
            if d.saturating_add(REANCHOR_US) < t.last_dts {
                self.anchor(dts);
                d = dts.saturating_add(self.offset);
            }
        }
        let mut shift = self.offset;
        let entry = match self.tracks.iter_mut().position(|t| t.track == track) {
            Some(i) => self.tracks.get_mut(i),
            None => {
                self.tracks.push(TrackTime {
                    track,
                    last_dts: d,
                    interval: DEFAULT_INTERVAL_US,
                });
                self.tracks.last_mut()
            }
        };
        if let Some(t) = entry {
            if d < t.last_dts {
                shift = shift.saturating_add(t.last_dts.saturating_sub(d));
                d = t.last_dts;
            } else if d > t.last_dts {
                t.interval = d.saturating_sub(t.last_dts);
            }
            t.last_dts = d;
        }
        (d, pts.saturating_add(shift))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_publisher_keeps_its_timestamps() {
        let mut t = Timeline::default();
        t.new_publisher();
        assert_eq!(t.map(0, 1000, 1500), (1000, 1500));
        assert_eq!(t.map(1, 900, 900), (900, 900));
        assert_eq!(t.newest_dts(), Some(1000));
    }

    #[test]
    fn resume_continues_one_interval_after_the_last_frame() {
        let mut t = Timeline::default();
        for i in 0..10 {
            t.map(0, i * 40_000, i * 40_000 + 80_000);
        }
        t.new_publisher();
        // The new encoder starts from zero again.
        assert_eq!(t.map(0, 0, 80_000), (400_000, 480_000));
        assert_eq!(t.map(0, 40_000, 120_000), (440_000, 520_000));
    }

    #[test]
    fn other_tracks_never_step_back_after_resume() {
        let mut t = Timeline::default();
        t.map(0, 1_000_000, 1_000_000);
        t.map(1, 1_010_000, 1_010_000);
        t.new_publisher();
        let (v, _) = t.map(0, 5_000_000, 5_000_000);
        assert_eq!(v, 1_030_000);
        // Audio of the new publisher slightly before its first video frame is clamped.
        let (a, _) = t.map(1, 4_990_000, 4_990_000);
        assert!(a >= 1_010_000);
    }

    #[test]
    fn large_backward_step_reanchors() {
        let mut t = Timeline::default();
        t.map(0, 10_000_000, 10_000_000);
        t.map(0, 10_040_000, 10_040_000);
        let (d, _) = t.map(0, 0, 0);
        assert_eq!(d, 10_080_000);
        let (d, _) = t.map(0, 40_000, 40_000);
        assert_eq!(d, 10_120_000);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut t = Timeline::default();
        t.map(0, i64::MAX, i64::MAX);
        t.map(0, i64::MIN, i64::MIN);
        t.new_publisher();
        t.map(1, i64::MIN, i64::MAX);
        assert!(t.newest_dts().is_some());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever publishers send, and however often they change, dts never goes back
            /// on a track, and nothing overflows.
            #[test]
            fn dts_never_decreases_per_track(
                frames in proptest::collection::vec((0u8..3, any::<i64>(), any::<i64>(), any::<bool>()), 0..200)
            ) {
                let mut t = Timeline::default();
                let mut last = [None::<i64>; 3];
                for (track, dts, pts, switch) in frames {
                    if switch {
                        t.new_publisher();
                    }
                    let (d, _) = t.map(track, dts, pts);
                    if let Some(prev) = last[usize::from(track)] {
                        prop_assert!(d >= prev, "track {} went from {} to {}", track, prev, d);
                    }
                    last[usize::from(track)] = Some(d);
                }
            }
        }
    }
}
