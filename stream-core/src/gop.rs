//! The GOP cache: what a subscriber that joins a live stream receives first, so that its
//! player can start decoding at once instead of waiting for the next keyframe.
//!
//! With a video track the cache holds everything (audio included) from the last video
//! keyframe. Both bounds (bytes, duration) are hard: when one is exceeded the cache is
//! emptied and stays empty until the next keyframe, because a GOP without its head is
//! undecodable. Audio-only streams have no GOP; the cache keeps a sliding tail within the
//! same bounds.
//!
//! The byte bound counts resident bytes ([`Frame::resident_bytes`]: payload plus the wire
//! forms players cached on the frames), re-measured with bounded work at every push and
//! exactly whenever the stream is measured ([`GopCache::measure`]); see `resident.rs`.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::resident::{Counted, Tally};
use crate::Frame;

/// One cached frame and the resident bytes last counted for it.
#[derive(Debug)]
struct Entry {
    frame: Arc<Frame>,
    counted: usize,
}

impl Counted for Entry {
    fn frame(&self) -> Option<&Frame> {
        Some(&self.frame)
    }

    fn counted(&mut self) -> &mut usize {
        &mut self.counted
    }
}

/// Bounded cache of the frames since the last keyframe.
#[derive(Debug)]
pub(crate) struct GopCache {
    frames: VecDeque<Entry>,
    tally: Tally,
    max_bytes: usize,
    max_duration_us: i64,
    /// Whether the last push was in video mode (how [`GopCache::measure`] applies the bound).
    video_mode: bool,
}

impl GopCache {
    pub(crate) fn new(max_bytes: usize, max_duration_us: i64) -> GopCache {
        GopCache {
            frames: VecDeque::new(),
            tally: Tally::default(),
            max_bytes,
            max_duration_us,
            video_mode: false,
        }
    }

    /// Adds a frame. `is_video` says whether its track is video, `video_mode` whether the
    /// stream has a video track at all.
    pub(crate) fn push(&mut self, frame: &Arc<Frame>, is_video: bool, video_mode: bool) {
        self.video_mode = video_mode;
        if video_mode {
            if is_video && frame.keyframe {
                self.clear();
            } else if self.frames.is_empty() {
                // Waiting for a keyframe: frames before it cannot be decoded by a newcomer.
                return;
            }
        }
        // Forms filled since the last push (by players, after admission) count from now on.
        self.tally.refresh(&mut self.frames);
        let counted = self.tally.admit(frame);
        self.frames.push_back(Entry {
            frame: Arc::clone(frame),
            counted,
        });
        self.enforce();
    }

    /// Applies both bounds to what is counted: with video the cache is emptied, without it
    /// the oldest frames go.
    fn enforce(&mut self) {
        if self.video_mode {
            if self.over() {
                self.clear();
            }
        } else {
            while !self.frames.is_empty() && self.over() {
                if let Some(e) = self.frames.pop_front() {
                    self.tally.remove(e.counted, true);
                }
            }
        }
    }

    fn over(&self) -> bool {
        self.tally.total() > self.max_bytes || self.span_us() > self.max_duration_us
    }

    fn span_us(&self) -> i64 {
        match (self.frames.front(), self.frames.back()) {
            (Some(a), Some(b)) => b.frame.dts_us.saturating_sub(a.frame.dts_us),
            _ => 0,
        }
    }

    /// Empties the cache (bound exceeded, tracks changed).
    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.tally.reset();
    }

    /// The cached frames, oldest first.
    pub(crate) fn frames(&self) -> impl ExactSizeIterator<Item = &Arc<Frame>> {
        self.frames.iter().map(|e| &e.frame)
    }

    /// Re-measures every cached frame exactly (O(len): for snapshots, not per frame),
    /// applies the bounds to the result and returns the resident bytes held.
    pub(crate) fn measure(&mut self) -> usize {
        self.tally.refresh_all(&mut self.frames);
        self.enforce();
        self.tally.total()
    }

    /// Resident bytes counted so far.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.tally.total()
    }

    /// Number of frames held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn f(track: u8, dts_ms: i64, key: bool, size: usize) -> Arc<Frame> {
        Arc::new(Frame {
            track,
            dts_us: dts_ms * 1000,
            pts_us: dts_ms * 1000,
            keyframe: key,
            payload: Bytes::from(vec![0u8; size]),
            wire: Default::default(),
        })
    }

    #[test]
    fn starts_at_a_keyframe_and_restarts_at_the_next() {
        let mut g = GopCache::new(1 << 20, 10_000_000);
        g.push(&f(0, 0, false, 10), true, true);
        g.push(&f(1, 0, true, 10), false, true);
        assert_eq!(g.len(), 0, "nothing before the first video keyframe");
        g.push(&f(0, 40, true, 100), true, true);
        g.push(&f(1, 41, true, 10), false, true);
        g.push(&f(0, 80, false, 50), true, true);
        assert_eq!(g.len(), 3);
        assert_eq!(g.bytes(), 160);
        g.push(&f(0, 120, true, 70), true, true);
        assert_eq!(g.len(), 1);
        assert_eq!(g.frames().next().map(|x| x.dts_us), Some(120_000));
    }

    #[test]
    fn byte_bound_clears_until_next_keyframe() {
        let mut g = GopCache::new(250, 10_000_000);
        g.push(&f(0, 0, true, 100), true, true);
        g.push(&f(0, 40, false, 100), true, true);
        assert_eq!(g.len(), 2);
        g.push(&f(0, 80, false, 100), true, true);
        assert_eq!(g.len(), 0, "300 > 250 bytes clears the cache");
        g.push(&f(0, 120, false, 10), true, true);
        assert_eq!(g.len(), 0, "stays empty until a keyframe");
        g.push(&f(0, 160, true, 10), true, true);
        assert_eq!(g.len(), 1);
    }

    /// Fills every wire slot of `frame` with a form of `size` bytes (not a payload slice).
    fn fill(frame: &Frame, size: usize) {
        for slot in 0..crate::WireCache::SLOTS {
            frame
                .wire
                .get_or_init(slot, || crate::WireParts::with_extra(size));
        }
    }

    #[test]
    fn byte_bound_counts_wire_forms_filled_after_admission() {
        // 1,000 payload bytes with 4 filled 1,000-byte forms count 5,000.
        let mut g = GopCache::new(8_000, 10_000_000);
        let key = f(0, 0, true, 1000);
        g.push(&key, true, true);
        assert_eq!(g.bytes(), 1000, "admitted before any player encoded it");
        fill(&key, 1000);
        assert_eq!(g.measure(), 5000);
        let p = f(0, 40, false, 1000);
        g.push(&p, true, true);
        assert_eq!((g.len(), g.bytes()), (2, 6000));
        fill(&p, 1000);
        // The next push re-measures the newest frames: 10,000 + 1,000 > 8,000.
        g.push(&f(0, 80, false, 1000), true, true);
        assert_eq!(
            g.len(),
            0,
            "payload alone (3,000) would have stayed under the bound"
        );
        g.push(&f(0, 120, false, 10), true, true);
        assert_eq!(g.len(), 0, "stays empty until a keyframe");
    }

    #[test]
    fn forms_filled_on_old_frames_are_caught_by_the_cursor_or_a_measure() {
        let mut g = GopCache::new(20_000, 10_000_000);
        let frames: Vec<_> = (0..10).map(|i| f(0, i * 40, i == 0, 1000)).collect();
        for x in &frames {
            g.push(x, true, true);
        }
        assert_eq!(g.bytes(), 10_000);
        // A late joiner's burst fills the old frames' forms.
        for x in &frames[..2] {
            fill(x, 1000);
        }
        assert_eq!(g.measure(), 18_000, "a measure is exact");
        fill(&frames[2], 1000);
        assert_eq!(
            g.measure(),
            0,
            "22,000 > 20,000: a measure applies the bound too"
        );
        assert_eq!(g.len(), 0);
        let mut g = GopCache::new(20_000, 10_000_000);
        let frames: Vec<_> = (0..10).map(|i| f(0, i * 40, i == 0, 1000)).collect();
        for x in &frames {
            g.push(x, true, true);
        }
        for x in &frames[..3] {
            fill(x, 1000);
        }
        assert_eq!(g.bytes(), 10_000, "not seen yet");
        let mut pushes = 0;
        while g.len() > 0 && pushes < 10 {
            g.push(&f(0, 400 + pushes * 40, false, 1), true, true);
            pushes += 1;
        }
        assert!(pushes <= 5, "caught within ⌈10 / 2⌉ pushes, took {pushes}");
    }

    #[test]
    fn audio_only_tail_drops_the_oldest_by_resident_bytes() {
        let mut g = GopCache::new(5_000, 10_000_000);
        let a = f(1, 0, true, 1000);
        g.push(&a, false, false);
        fill(&a, 1000);
        g.push(&f(1, 20, true, 1000), false, false);
        assert_eq!(
            (g.len(), g.bytes()),
            (1, 1000),
            "5,000 + 1,000 > 5,000: the oldest goes"
        );
    }

    #[test]
    fn duration_bound_clears_until_next_keyframe() {
        let mut g = GopCache::new(1 << 20, 1_000_000);
        g.push(&f(0, 0, true, 1), true, true);
        g.push(&f(0, 1000, false, 1), true, true);
        assert_eq!(g.len(), 2, "exactly the bound is kept");
        g.push(&f(0, 1001, false, 1), true, true);
        assert_eq!(g.len(), 0);
    }

    #[test]
    fn audio_only_keeps_a_bounded_tail() {
        let mut g = GopCache::new(50, 100_000);
        for i in 0..20 {
            g.push(&f(1, i * 20, true, 10), false, false);
        }
        assert!(g.bytes() <= 50);
        assert_eq!(g.len(), 5);
        let first = g.frames().next().map(|x| x.dts_us);
        assert_eq!(first, Some(300_000));
        let mut g = GopCache::new(1 << 20, 100_000);
        for i in 0..20 {
            g.push(&f(1, i * 20, true, 10), false, false);
        }
        assert_eq!(g.len(), 6, "frames within 100 ms of the newest");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Both bounds always hold; with video the cache always starts at a video keyframe.
            #[test]
            fn bounds_hold_and_cache_starts_at_a_keyframe(
                video_mode in any::<bool>(),
                frames in proptest::collection::vec((any::<bool>(), any::<bool>(), 0usize..400, 0i64..300), 0..200)
            ) {
                let mut g = GopCache::new(2000, 1_000_000);
                let mut dts = 0;
                for (is_video, key, size, step) in frames {
                    let is_video = is_video && video_mode;
                    dts += step;
                    g.push(&f(u8::from(!is_video), dts, key || !is_video, size), is_video, video_mode);
                    prop_assert!(g.bytes() <= 2000);
                    let first = g.frames().next().map(|x| (x.track, x.keyframe, x.dts_us));
                    let last = g.frames().last().map(|x| x.dts_us);
                    if let (Some((track, keyframe, a)), Some(b)) = (first, last) {
                        prop_assert!(b - a <= 1_000_000);
                        if video_mode {
                            prop_assert!(track == 0 && keyframe);
                        }
                    }
                }
            }
        }
    }
}
