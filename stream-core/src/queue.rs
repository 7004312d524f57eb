//! One subscriber's bounded queue (DESIGN rule 3: every queue is bounded and says what
//! happens when full).
//!
//! * Bounded in frames and in bytes. The initial burst (tracks + GOP cache) is allowed on
//!   top of the bounds, since the GOP cache is itself bounded.
//! * When full, the queued frames are dropped and the subscriber skips to the next frame that
//!   starts a GOP (a video keyframe; any frame in an audio-only stream). Audio resumes with
//!   that keyframe. Every dropped frame is counted. `Tracks` events are never dropped.
//! * Lag: each queued frame carries a [`Mark`], the newest dts of the stream and the clock
//!   when it was queued; `behind_since` is the mark of the oldest frame not yet read, and it
//!   only moves forward when the subscriber reads (clearing a full queue does not move it, so
//!   skipping counts as being behind). A subscriber is disconnected (`EndReason::Lagged`)
//!   when it is more than `max_lag` behind both in stream time (dts) and on the clock: the
//!   dts test alone would disconnect healthy players on a camera's timestamp jump or on a
//!   publisher flushing a backlog, the clock test alone would miss a publisher pushing faster
//!   than real time. A subscriber that never reads is gone within `max_lag`, holding at most
//!   the bounded queue meanwhile.
//! * The byte bound counts resident bytes ([`Frame::resident_bytes`]: payload plus the wire
//!   forms cached on the frame, whoever filled them), re-measured with bounded work at every
//!   offer (see `resident.rs`). A frame shared with other queues and the GOP cache counts in
//!   each queue: the bound is on what this subscriber keeps alive.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::resident::{Counted, Tally};
use crate::{EndReason, Frame, SubscriberEvent};

/// Most `Tracks` events one subscriber may have pending.
pub(crate) const MAX_PENDING_TRACKS: usize = 8;

/// The bounds of one queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_frames: usize,
    pub(crate) max_bytes: usize,
    pub(crate) max_lag_us: i64,
    pub(crate) max_lag: Duration,
}

/// Where the stream was when a frame was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    /// The newest dts pushed on the stream.
    pub(crate) dts: i64,
    /// The clock.
    pub(crate) at: Instant,
}

impl Mark {
    /// True when `self` is more than the lag limit after `since`, in dts and on the clock.
    fn lags(self, since: Mark, limits: Limits) -> bool {
        self.dts.saturating_sub(since.dts) > limits.max_lag_us
            && self.at.saturating_duration_since(since.at) > limits.max_lag
    }
}

/// Events an emptied queue keeps room for (steady playback needs a few).
const IDLE_CAPACITY: usize = 8;

/// What happened to an offered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Queued.
    Queued,
    /// Queued or not, `n` frames were dropped (cleared from the queue or skipped).
    Dropped(u64),
    /// The subscriber is too far behind: disconnect it.
    Lagged,
}

#[derive(Debug)]
struct Item {
    event: SubscriberEvent,
    /// Newest stream dts when queued (frames only).
    mark: Option<Mark>,
    /// Resident bytes last counted for the frame (0 for `Tracks`).
    size: usize,
}

impl Counted for Item {
    fn frame(&self) -> Option<&Frame> {
        match &self.event {
            SubscriberEvent::Frame(f) => Some(f),
            SubscriberEvent::Tracks(_) => None,
        }
    }

    fn counted(&mut self) -> &mut usize {
        &mut self.size
    }
}

/// A bounded per-subscriber queue. Pure data: the stream drives it under its lock.
#[derive(Debug, Default)]
pub(crate) struct SubQueue {
    items: VecDeque<Item>,
    frames: usize,
    tally: Tally,
    allowance_frames: usize,
    allowance_bytes: usize,
    skipping: bool,
    behind_since: Option<Mark>,
    ended: Option<EndReason>,
    pub(crate) dropped: u64,
    pub(crate) frames_out: u64,
    pub(crate) bytes_out: u64,
}

impl SubQueue {
    /// Queues a `Tracks` event (not counted against the frame/byte bounds). Tracks events
    /// are bounded too: a publisher flapping its sequence headers at a stuck subscriber
    /// would otherwise grow its queue forever. Past [`MAX_PENDING_TRACKS`] the queue is
    /// collapsed to the newest tracks and skips to the next keyframe (drops counted).
    pub(crate) fn push_tracks(&mut self, tracks: Arc<[crate::Track]>) {
        if self.ended.is_none() {
            let pending = self.items.iter().filter(|i| i.mark.is_none()).count();
            if pending >= MAX_PENDING_TRACKS {
                let n = self.clear_frames();
                self.dropped += n;
                self.items.clear();
                self.skipping = true;
            }
            self.items.push_back(Item {
                event: SubscriberEvent::Tracks(tracks),
                mark: None,
                size: 0,
            });
        }
    }

    /// Queues the initial GOP burst, allowed on top of the bounds.
    pub(crate) fn push_burst<'a>(
        &mut self,
        frames: impl Iterator<Item = &'a Arc<Frame>>,
        mark: Mark,
    ) {
        for f in frames {
            self.allowance_frames += 1;
            let size = self.enqueue(f, mark);
            self.allowance_bytes = self.allowance_bytes.saturating_add(size);
        }
    }

    /// Queues a frame; returns the resident bytes counted for it.
    fn enqueue(&mut self, frame: &Arc<Frame>, mark: Mark) -> usize {
        let size = self.tally.admit(frame);
        self.frames += 1;
        if self.behind_since.is_none() {
            self.behind_since = Some(mark);
        }
        self.items.push_back(Item {
            event: SubscriberEvent::Frame(Arc::clone(frame)),
            mark: Some(mark),
            size,
        });
        size
    }

    /// Offers a live frame. `starts_gop`: a video keyframe, or any frame of an audio-only
    /// stream. `now` is the newest dts pushed on the stream (this frame included) and the clock.
    pub(crate) fn offer(
        &mut self,
        frame: &Arc<Frame>,
        starts_gop: bool,
        now: Mark,
        limits: Limits,
    ) -> Offer {
        if self.ended.is_some() {
            return Offer::Queued;
        }
        if let Some(since) = self.behind_since {
            if now.lags(since, limits) {
                return Offer::Lagged;
            }
        }
        let mut dropped = 0u64;
        // Forms players filled on queued frames since the last offer count from now on.
        self.tally.refresh(&mut self.items);
        if self.skipping {
            if !starts_gop {
                self.dropped += 1;
                return Offer::Dropped(1);
            }
            self.skipping = false;
        } else if self.frames > 0
            && (self.frames >= limits.max_frames.saturating_add(self.allowance_frames)
                || self.tally.total().saturating_add(frame.resident_bytes())
                    > limits.max_bytes.saturating_add(self.allowance_bytes))
        {
            dropped = self.clear_frames();
            if !starts_gop {
                self.skipping = true;
                dropped += 1;
                self.dropped += dropped;
                return Offer::Dropped(dropped);
            }
            self.dropped += dropped;
        }
        self.enqueue(frame, now);
        if dropped > 0 {
            Offer::Dropped(dropped)
        } else {
            Offer::Queued
        }
    }

    /// Drops every queued frame (keeps `Tracks`), returning how many were dropped. The lag
    /// mark stays: the subscriber has not read them.
    fn clear_frames(&mut self) -> u64 {
        let n = self.frames as u64;
        self.items.retain(|i| i.mark.is_none());
        self.frames = 0;
        self.tally.reset();
        self.allowance_frames = 0;
        self.allowance_bytes = 0;
        n
    }

    /// Takes the next event; `Err` once the queue is drained and the subscriber has ended.
    pub(crate) fn pop(&mut self) -> Option<Result<SubscriberEvent, EndReason>> {
        let Some(item) = self.items.pop_front() else {
            return self.ended.map(Err);
        };
        self.tally.remove(item.size, true);
        if item.mark.is_some() {
            self.frames = self.frames.saturating_sub(1);
            self.allowance_frames = self.allowance_frames.saturating_sub(1);
            self.allowance_bytes = self.allowance_bytes.saturating_sub(item.size);
            self.frames_out += 1;
            let payload = item.frame().map_or(0, Frame::len);
            self.bytes_out = self.bytes_out.saturating_add(payload as u64);
        }
        if !self.skipping {
            self.behind_since = self.items.iter().find_map(|i| i.mark);
        }
        // The GOP burst at start queues dozens of frames at once; an emptied
        // queue gives that room back rather than keep it per subscriber.
        if self.items.is_empty() && self.items.capacity() > 2 * IDLE_CAPACITY {
            self.items.shrink_to(IDLE_CAPACITY);
        }
        Some(Ok(item.event))
    }

    /// Ends the subscriber. With `drain`, queued events are still delivered before the
    /// reason; otherwise the queue is freed at once. The first reason wins.
    pub(crate) fn end(&mut self, reason: EndReason, drain: bool) {
        if self.ended.is_none() {
            self.ended = Some(reason);
        }
        if !drain {
            self.items.clear();
            self.frames = 0;
            self.tally.reset();
        }
    }

    /// The reason, once ended.
    pub(crate) fn ended(&self) -> Option<EndReason> {
        self.ended
    }

    /// Frames currently queued.
    #[cfg(test)]
    pub(crate) fn queued_frames(&self) -> usize {
        self.frames
    }

    /// Resident bytes of the queued frames, as counted so far.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.tally.total()
    }

    /// The queued frames, oldest first.
    pub(crate) fn queued(&self) -> impl Iterator<Item = &Arc<Frame>> {
        self.items.iter().filter_map(|i| match &i.event {
            SubscriberEvent::Frame(f) => Some(f),
            SubscriberEvent::Tracks(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const LIM: Limits = Limits {
        max_frames: 4,
        max_bytes: 1000,
        max_lag_us: 1_000_000,
        max_lag: Duration::from_secs(1),
    };

    /// A mark `us` microseconds into the stream, the clock advancing with it (real time).
    fn at(us: i64) -> Mark {
        Mark {
            dts: us,
            at: base() + Duration::from_micros(u64::try_from(us).unwrap_or(0)),
        }
    }

    fn base() -> Instant {
        use std::sync::OnceLock;
        static BASE: OnceLock<std::time::Instant> = OnceLock::new();
        Instant::from_std(*BASE.get_or_init(std::time::Instant::now))
    }

    fn f(dts_ms: i64, key: bool, size: usize) -> Arc<Frame> {
        Arc::new(Frame {
            track: 0,
            dts_us: dts_ms * 1000,
            pts_us: dts_ms * 1000,
            keyframe: key,
            payload: Bytes::from(vec![0u8; size]),
            wire: Default::default(),
        })
    }

    fn dts(ev: Option<Result<SubscriberEvent, EndReason>>) -> i64 {
        match ev {
            Some(Ok(SubscriberEvent::Frame(f))) => f.dts_us / 1000,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn full_queue_skips_to_next_keyframe_and_counts_drops() {
        let mut q = SubQueue::default();
        for i in 0..4 {
            assert_eq!(
                q.offer(&f(i, i == 0, 10), i == 0, at(i * 1000), LIM),
                Offer::Queued
            );
        }
        assert_eq!(
            q.offer(&f(4, false, 10), false, at(4000), LIM),
            Offer::Dropped(5)
        );
        assert_eq!(
            q.offer(&f(5, false, 10), false, at(5000), LIM),
            Offer::Dropped(1)
        );
        assert_eq!(q.queued_frames(), 0);
        assert_eq!(q.offer(&f(6, true, 10), true, at(6000), LIM), Offer::Queued);
        assert_eq!(q.dropped, 6);
        assert_eq!(dts(q.pop()), 6);
        assert!(q.pop().is_none());
    }

    #[test]
    fn keyframe_arriving_on_a_full_queue_is_kept() {
        let mut q = SubQueue::default();
        for i in 0..4 {
            q.offer(&f(i, false, 10), false, at(0), LIM);
        }
        assert_eq!(
            q.offer(&f(9, true, 10), true, at(0), LIM),
            Offer::Dropped(4)
        );
        assert_eq!(dts(q.pop()), 9);
    }

    #[test]
    fn byte_bound_applies() {
        let mut q = SubQueue::default();
        assert_eq!(q.offer(&f(0, true, 600), true, at(0), LIM), Offer::Queued);
        assert_eq!(
            q.offer(&f(1, false, 600), false, at(0), LIM),
            Offer::Dropped(2)
        );
        // A single oversized frame on an empty queue is still delivered.
        assert_eq!(q.offer(&f(2, true, 5000), true, at(0), LIM), Offer::Queued);
        assert_eq!(q.queued_bytes(), 5000);
    }

    #[test]
    fn byte_bound_counts_wire_forms_filled_while_queued() {
        let mut q = SubQueue::default();
        let lim = Limits {
            max_frames: 100,
            max_bytes: 7_500,
            ..LIM
        };
        let key = f(0, true, 1000);
        assert_eq!(q.offer(&key, true, at(0), lim), Offer::Queued);
        assert_eq!(q.queued_bytes(), 1000);
        // Faster players of every format encode the frame while it waits here.
        for slot in 0..crate::WireCache::SLOTS {
            key.wire
                .get_or_init(slot, || crate::WireParts::with_extra(1000));
        }
        assert_eq!(
            q.offer(&f(1, false, 1000), false, at(0), lim),
            Offer::Queued
        );
        assert_eq!(q.queued_bytes(), 6000, "1,000 + 4 × 1,000 forms + 1,000");
        assert_eq!(
            q.offer(&f(2, false, 1000), false, at(0), lim),
            Offer::Queued
        );
        assert_eq!(
            q.offer(&f(3, false, 1000), false, at(0), lim),
            Offer::Dropped(4),
            "8,000 > 7,500; by payload (4,000) it would have fitted"
        );
        assert_eq!(q.queued_bytes(), 0);
        assert_eq!(q.offer(&f(4, true, 10), true, at(0), lim), Offer::Queued);
        assert_eq!(dts(q.pop()), 4);
        assert_eq!(
            (q.queued_bytes(), q.bytes_out),
            (0, 10),
            "bytes_out counts payload"
        );
    }

    #[test]
    fn tracks_survive_a_clear_and_come_first() {
        let mut q = SubQueue::default();
        q.push_tracks(Arc::from(Vec::new()));
        for i in 0..5 {
            q.offer(&f(i, false, 1), false, at(0), LIM);
        }
        assert!(matches!(q.pop(), Some(Ok(SubscriberEvent::Tracks(_)))));
        assert!(q.pop().is_none());
    }

    #[test]
    fn flapping_tracks_are_bounded() {
        let mut q = SubQueue::default();
        q.offer(&f(0, true, 1), true, at(0), LIM);
        for i in 0..100 {
            q.push_tracks(Arc::from(vec![crate::Track::new(i, crate::Codec::Aac, 1)]));
        }
        assert!(q.items.len() <= MAX_PENDING_TRACKS);
        assert_eq!(q.dropped, 1);
        // Skipping until the next keyframe; the newest tracks come first.
        assert_eq!(
            q.offer(&f(1, false, 1), false, at(1000), LIM),
            Offer::Dropped(1)
        );
        assert_eq!(q.offer(&f(2, true, 1), true, at(2000), LIM), Offer::Queued);
        let mut last_tracks = None;
        while let Some(Ok(ev)) = q.pop() {
            match ev {
                SubscriberEvent::Tracks(t) => last_tracks = t.first().map(|t| t.id),
                SubscriberEvent::Frame(fr) => {
                    assert_eq!(last_tracks, Some(99));
                    assert_eq!(fr.dts_us, 2000);
                }
            }
        }
    }

    #[test]
    fn burst_may_exceed_the_frame_bound() {
        let mut q = SubQueue::default();
        let gop: Vec<_> = (0..10).map(|i| f(i, i == 0, 10)).collect();
        q.push_burst(gop.iter(), at(9000));
        assert_eq!(
            q.offer(&f(10, false, 10), false, at(10_000), LIM),
            Offer::Queued
        );
        assert_eq!(q.queued_frames(), 11);
    }

    #[test]
    fn never_reading_subscriber_lags_out() {
        let mut q = SubQueue::default();
        let mut outcome = Offer::Queued;
        for i in 0..100 {
            outcome = q.offer(
                &f(i * 40, i % 10 == 0, 10),
                i % 10 == 0,
                at(i * 40_000),
                LIM,
            );
            if outcome == Offer::Lagged {
                assert!(i * 40 > 1000 && i * 40 <= 1040, "lagged at {i}");
                break;
            }
        }
        assert_eq!(outcome, Offer::Lagged);
    }

    #[test]
    fn a_timestamp_jump_or_a_stalled_clock_alone_does_not_lag() {
        let mut q = SubQueue::default();
        q.offer(&f(0, true, 1), true, at(0), LIM);
        let jump = Mark {
            dts: 3_600_000_000,
            at: base() + Duration::from_millis(40),
        };
        assert_eq!(
            q.offer(&f(3_600_000, false, 1), false, jump, LIM),
            Offer::Queued
        );
        let late = Mark {
            dts: 80_000,
            at: base() + Duration::from_secs(60),
        };
        assert_eq!(q.offer(&f(80, false, 1), false, late, LIM), Offer::Queued);
        let both = Mark {
            dts: 3_600_000_000,
            at: base() + Duration::from_secs(60),
        };
        assert_eq!(q.offer(&f(81, false, 1), false, both, LIM), Offer::Lagged);
    }

    #[test]
    fn reading_subscriber_never_lags() {
        let mut q = SubQueue::default();
        for i in 0..1000 {
            assert_ne!(
                q.offer(&f(i * 40, true, 10), true, at(i * 40_000), LIM),
                Offer::Lagged
            );
            assert_eq!(dts(q.pop()), i * 40);
        }
        assert_eq!(q.frames_out, 1000);
        assert_eq!(q.bytes_out, 10_000);
    }

    #[test]
    fn end_drains_or_frees() {
        let mut q = SubQueue::default();
        q.offer(&f(0, true, 1), true, at(0), LIM);
        q.end(EndReason::StreamEnded, true);
        q.end(EndReason::Closed, false);
        assert_eq!(
            q.pop(),
            Some(Err(EndReason::StreamEnded)),
            "first reason wins"
        );
        let mut q = SubQueue::default();
        q.offer(&f(0, true, 1), true, at(0), LIM);
        q.end(EndReason::StreamEnded, true);
        assert!(matches!(q.pop(), Some(Ok(_))));
        assert_eq!(q.pop(), Some(Err(EndReason::StreamEnded)));
        assert_eq!(q.ended(), Some(EndReason::StreamEnded));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Offer {
                key: bool,
                size: usize,
                step_ms: i64,
            },
            Pop,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (any::<bool>(), 0usize..600, 0i64..100)
                    .prop_map(|(key, size, step_ms)| Op::Offer { key, size, step_ms }),
                1 => Just(Op::Pop),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Bounds always hold, and every offered frame is delivered, queued or counted as
            /// dropped, until the subscriber is disconnected for lag.
            #[test]
            fn bounded_and_conserving(ops in proptest::collection::vec(op(), 0..300)) {
                let mut q = SubQueue::default();
                let (mut now, mut offered) = (0i64, 0u64);
                for op in ops {
                    match op {
                        Op::Offer { key, size, step_ms } => {
                            now += step_ms * 1000;
                            let frame = f(now / 1000, key, size);
                            offered += 1;
                            if q.offer(&frame, key, at(now), LIM) == Offer::Lagged {
                                q.end(EndReason::Lagged, false);
                                prop_assert_eq!(q.pop(), Some(Err(EndReason::Lagged)));
                                return Ok(());
                            }
                        }
                        Op::Pop => {
                            let _ = q.pop();
                        }
                    }
                    prop_assert!(q.queued_frames() <= LIM.max_frames);
                    prop_assert!(q.queued_bytes() <= LIM.max_bytes || q.queued_frames() == 1);
                    prop_assert_eq!(q.frames_out + q.queued_frames() as u64 + q.dropped, offered);
                }
            }
        }
    }
}
