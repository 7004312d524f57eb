//! The GOP cache: what a subscriber that joins a live stream receives first, so that its
//! player can start decoding at once instead of waiting for the next keyframe.
//!
//! With a video track the cache holds everything (audio included) from the last video
//! keyframe. Both bounds (bytes, duration) are hard: when one is exceeded the cache is
//! emptied and stays empty until the next keyframe, because a GOP without its head is
//! undecodable. Audio-only streams have no GOP; the cache keeps a sliding tail within the
//! same bounds.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::Frame;

/// Bounded cache of the frames since the last keyframe.
#[derive(Debug)]
pub(crate) struct GopCache {
    frames: VecDeque<Arc<Frame>>,
    bytes: usize,
    max_bytes: usize,
    max_duration_us: i64,
}

impl GopCache {
    pub(crate) fn new(max_bytes: usize, max_duration_us: i64) -> GopCache {
        GopCache {
            frames: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_duration_us,
        }
    }

    /// Adds a frame. `is_video` says whether its track is video, `video_mode` whether the
    /// stream has a video track at all.
    pub(crate) fn push(&mut self, frame: &Arc<Frame>, is_video: bool, video_mode: bool) {
        if video_mode {
            if is_video && frame.keyframe {
                self.clear();
            } else if self.frames.is_empty() {
                // Waiting for a keyframe: frames before it cannot be decoded by a newcomer.
                return;
            }
            self.append(frame);
            if self.bytes > self.max_bytes || self.span_us() > self.max_duration_us {
                self.clear();
            }
        } else {
            self.append(frame);
            while !self.frames.is_empty()
                && (self.bytes > self.max_bytes || self.span_us() > self.max_duration_us)
            {
                if let Some(f) = self.frames.pop_front() {
                    self.bytes = self.bytes.saturating_sub(f.len());
                }
            }
        }
    }

    fn append(&mut self, frame: &Arc<Frame>) {
        self.bytes = self.bytes.saturating_add(frame.len());
        self.frames.push_back(Arc::clone(frame));
    }

    fn span_us(&self) -> i64 {
        match (self.frames.front(), self.frames.back()) {
            (Some(a), Some(b)) => b.dts_us.saturating_sub(a.dts_us),
            _ => 0,
        }
    }

    /// Empties the cache (bound exceeded, tracks changed).
    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }

    /// The cached frames, oldest first.
    pub(crate) fn frames(&self) -> impl ExactSizeIterator<Item = &Arc<Frame>> {
        self.frames.iter()
    }

    /// Bytes of payload held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
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
