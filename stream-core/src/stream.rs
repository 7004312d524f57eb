//! One stream's state: owner, tracks, GOP cache, timeline and subscribers, behind one
//! `std::sync::Mutex` whose critical sections are a few queue operations (DESIGN rule 2).
//! The orchestration (registry, events, timers) lives in `hub.rs`; this module is the data
//! and the operations on it that need nothing but the lock.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::gop::GopCache;
use crate::publisher::{PubShared, TrackChangeBudget};
use crate::queue::{Limits, Mark, Offer};
use crate::stats::{BitrateMeter, StreamState, SubscriberSnapshot};
use crate::subscriber::SubShared;
use crate::timeline::Timeline;
use crate::{EndReason, Frame, PeerInfo, StreamKey, StreamSnapshot, Track};

/// Life cycle phase (see the crate docs for the diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Subscribers wait; no publisher yet.
    Waiting,
    /// Owned by a publisher.
    Live,
    /// The publisher left; a new one may resume until `until`.
    Lingering { until: Instant },
    /// Removed from the registry; nothing may happen to it any more.
    Closed,
}

/// The current publisher.
#[derive(Debug)]
pub(crate) struct Owner {
    pub(crate) generation: u64,
    pub(crate) who: PeerInfo,
    pub(crate) since: SystemTime,
    pub(crate) last_media: Instant,
    pub(crate) shared: Arc<PubShared>,
    /// Recent track changes ([`crate::MAX_TRACK_CHANGES`]).
    pub(crate) track_changes: TrackChangeBudget,
}

/// One attached subscriber.
#[derive(Debug)]
pub(crate) struct SubSlot {
    pub(crate) id: u64,
    pub(crate) who: PeerInfo,
    pub(crate) since: SystemTime,
    pub(crate) shared: Arc<SubShared>,
}

impl SubSlot {
    /// Ends this subscriber and wakes it.
    pub(crate) fn end(&self, reason: EndReason, drain: bool) {
        self.shared.queue().end(reason, drain);
        self.shared.notify.notify_one();
    }
}

/// A stream entry of the registry.
#[derive(Debug)]
pub(crate) struct StreamShared {
    pub(crate) key: StreamKey,
    state: Mutex<StreamInner>,
}

impl StreamShared {
    pub(crate) fn new(key: StreamKey, inner: StreamInner) -> StreamShared {
        StreamShared {
            key,
            state: Mutex::new(inner),
        }
    }

    /// Locks the state; a poisoned lock is recovered (DESIGN rule 2: no cascade).
    pub(crate) fn lock(&self) -> MutexGuard<'_, StreamInner> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a push did, for the hub's counters and events.
#[derive(Debug, Default)]
pub(crate) struct PushOutcome {
    pub(crate) drops: u64,
    pub(crate) lagged: Vec<SubSlot>,
}

/// A stream deadline to wait for on a timer task: its instant, and the watch that tells
/// the task the deadline was withdrawn (or the stream is gone) before it came.
#[derive(Debug)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) withdrawn: watch::Receiver<u64>,
}

/// The mutable state of one stream.
#[derive(Debug)]
pub(crate) struct StreamInner {
    pub(crate) phase: Phase,
    pub(crate) owner: Option<Owner>,
    pub(crate) tracks: Arc<[Track]>,
    pub(crate) gop: GopCache,
    pub(crate) timeline: Timeline,
    pub(crate) subs: Vec<SubSlot>,
    /// Drop video until the current publisher's first keyframe (a new encoder's P-frames
    /// reference pictures nobody has).
    pub(crate) need_keyframe: bool,
    pub(crate) no_reader_at: Option<Instant>,
    /// Bumped whenever a scheduled deadline (no-reader, linger) is withdrawn or the stream
    /// closes. Each timer task watches it, so no timer outlives the deadline it serves:
    /// churn and flapping players leave no sleeping tasks behind.
    timers: watch::Sender<u64>,
    pub(crate) bytes_in: u64,
    pub(crate) frames_in: u64,
    /// A video frame was shown in another order than decoded (B-frames)
    /// since the tracks were last set.
    pub(crate) reordered: bool,
    pub(crate) drops: u64,
    pub(crate) meter: BitrateMeter,
}

impl StreamInner {
    pub(crate) fn new(now: Instant, gop_max_bytes: usize, gop_max_duration_us: i64) -> Self {
        StreamInner {
            phase: Phase::Waiting,
            owner: None,
            tracks: Arc::from(Vec::new()),
            gop: GopCache::new(gop_max_bytes, gop_max_duration_us),
            timeline: Timeline::default(),
            subs: Vec::new(),
            need_keyframe: true,
            no_reader_at: None,
            timers: watch::Sender::new(0),
            bytes_in: 0,
            frames_in: 0,
            reordered: false,
            drops: 0,
            meter: BitrateMeter::new(now),
        }
    }

    /// True when `generation` owns the stream.
    pub(crate) fn is_owner(&self, generation: u64) -> bool {
        self.owner
            .as_ref()
            .is_some_and(|o| o.generation == generation)
    }

    /// Installs a new owner (fresh, resumed or taking over); returns the previous one.
    /// A pending linger or no-reader deadline no longer applies.
    pub(crate) fn set_owner(&mut self, owner: Owner) -> Option<Owner> {
        self.phase = Phase::Live;
        self.timeline.new_publisher();
        self.gop.clear();
        self.need_keyframe = true;
        self.no_reader_at = None;
        self.withdraw_deadlines();
        self.owner.replace(owner)
    }

    /// Ends every timer task scheduled for this stream so far (their deadlines no longer
    /// apply). Deadlines armed afterwards get timers that watch from the new value.
    pub(crate) fn withdraw_deadlines(&mut self) {
        self.timers.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A deadline at `at` for the registry to schedule, withdrawn with the next
    /// [`StreamInner::withdraw_deadlines`].
    pub(crate) fn deadline(&self, at: Instant) -> Deadline {
        Deadline {
            at,
            withdrawn: self.timers.subscribe(),
        }
    }

    /// Starts the no-reader countdown when the stream is live and nobody watches.
    /// Returns the deadline to schedule, if one was armed.
    pub(crate) fn arm_no_reader(
        &mut self,
        now: Instant,
        delay: std::time::Duration,
    ) -> Option<Deadline> {
        if self.phase == Phase::Live && self.subs.is_empty() && self.no_reader_at.is_none() {
            let at = crate::config::deadline(now, delay);
            self.no_reader_at = Some(at);
            Some(self.deadline(at))
        } else {
            None
        }
    }

    /// Attaches a subscriber: tracks and the GOP burst first when the stream has media.
    pub(crate) fn attach(&mut self, slot: SubSlot, now: Instant) {
        if matches!(self.phase, Phase::Live | Phase::Lingering { .. }) {
            let mut q = slot.shared.queue();
            if !self.tracks.is_empty() {
                q.push_tracks(Arc::clone(&self.tracks));
            }
            let mark = Mark {
                dts: self.timeline.newest_dts().unwrap_or(0),
                at: now,
            };
            q.push_burst(self.gop.frames(), mark);
        }
        slot.shared.notify.notify_one();
        if self.no_reader_at.take().is_some() {
            self.withdraw_deadlines();
        }
        self.subs.push(slot);
    }

    /// Removes a subscriber by id.
    pub(crate) fn remove_sub(&mut self, id: u64) -> Option<SubSlot> {
        let i = self.subs.iter().position(|s| s.id == id)?;
        Some(self.subs.swap_remove(i))
    }

    /// Replaces the tracks; subscribers hear about it only when they changed.
    pub(crate) fn set_tracks(&mut self, tracks: Vec<Track>) {
        if *self.tracks == *tracks {
            return;
        }
        self.tracks = Arc::from(tracks);
        self.reordered = false;
        // Cached frames belong to the old configuration.
        self.gop.clear();
        for s in &self.subs {
            s.shared.queue().push_tracks(Arc::clone(&self.tracks));
            s.shared.notify.notify_one();
        }
    }

    /// Rebases, caches and fans out one frame. The caller has checked ownership and the
    /// track. Lagging subscribers are removed and returned so the caller can report them.
    pub(crate) fn push(
        &mut self,
        mut frame: Frame,
        is_video: bool,
        now: Instant,
        limits: Limits,
    ) -> PushOutcome {
        let size = frame.len();
        self.bytes_in = self.bytes_in.saturating_add(size as u64);
        self.frames_in += 1;
        self.reordered |= is_video && frame.pts_us != frame.dts_us;
        self.meter.record(now, size);
        let video_mode = self.tracks.iter().any(|t| t.codec.is_video());
        if video_mode && is_video && self.need_keyframe {
            if !frame.keyframe {
                return PushOutcome::default();
            }
            self.need_keyframe = false;
        }
        let (dts, pts) = self.timeline.map(frame.track, frame.dts_us, frame.pts_us);
        frame.dts_us = dts;
        frame.pts_us = pts;
        let mark = Mark {
            dts: self.timeline.newest_dts().unwrap_or(dts),
            at: now,
        };
        let starts_gop = frame.keyframe && (is_video || !video_mode);
        let frame = Arc::new(frame);
        self.gop.push(&frame, is_video, video_mode);
        let mut out = PushOutcome::default();
        let mut i = 0;
        while let Some(slot) = self.subs.get(i) {
            let offer = slot.shared.queue().offer(&frame, starts_gop, mark, limits);
            match offer {
                Offer::Lagged => {
                    let slot = self.subs.swap_remove(i);
                    slot.end(EndReason::Lagged, false);
                    out.lagged.push(slot);
                    continue;
                }
                Offer::Dropped(n) => out.drops += n,
                Offer::Queued => {}
            }
            slot.shared.notify.notify_one();
            i += 1;
        }
        self.drops = self.drops.saturating_add(out.drops);
        out
    }

    /// Ends every subscriber with `reason` and detaches them all.
    pub(crate) fn end_all(&mut self, reason: EndReason, drain: bool) -> Vec<SubSlot> {
        let subs = std::mem::take(&mut self.subs);
        for s in &subs {
            s.end(reason, drain);
        }
        subs
    }

    /// Resident bytes of the GOP cache (re-measured exactly, its bound applied) and of the
    /// distinct frames in the GOP cache and the queues together. O(frames held): for
    /// snapshots, not per frame.
    fn resident(&mut self) -> (usize, usize) {
        let gop = self.gop.measure();
        let mut seen: HashSet<*const Frame> = self.gop.frames().map(Arc::as_ptr).collect();
        let mut total = gop;
        for s in &self.subs {
            for f in s.shared.queue().queued() {
                if seen.insert(Arc::as_ptr(f)) {
                    total = total.saturating_add(f.resident_bytes());
                }
            }
        }
        (gop, total)
    }

    /// The API view of this stream, or `None` once closed.
    pub(crate) fn snapshot(&mut self, key: &StreamKey, now: Instant) -> Option<StreamSnapshot> {
        let state = match self.phase {
            Phase::Waiting => StreamState::Waiting,
            Phase::Live => StreamState::Live,
            Phase::Lingering { .. } => StreamState::Lingering,
            Phase::Closed => return None,
        };
        let (gop_bytes, resident_bytes) = self.resident();
        let mut subscribers: Vec<SubscriberSnapshot> = self
            .subs
            .iter()
            .map(|s| {
                let q = s.shared.queue();
                SubscriberSnapshot {
                    id: s.id,
                    who: s.who.clone(),
                    since: s.since,
                    frames_out: q.frames_out,
                    bytes_out: q.bytes_out,
                    drops: q.dropped,
                    queued_bytes: q.queued_bytes() as u64,
                }
            })
            .collect();
        subscribers.sort_by_key(|s| s.id);
        Some(StreamSnapshot {
            key: key.clone(),
            state,
            publisher: self.owner.as_ref().map(|o| o.who.clone()),
            publishing_since: self.owner.as_ref().map(|o| o.since),
            publisher_idle: self
                .owner
                .as_ref()
                .map(|o| now.saturating_duration_since(o.last_media)),
            tracks: self.tracks.to_vec(),
            bytes_in: self.bytes_in,
            frames_in: self.frames_in,
            reordered_video: self.reordered,
            bitrate_bps: self.meter.bps(now),
            subscribers,
            drops: self.drops,
            gop_bytes: gop_bytes as u64,
            resident_bytes: resident_bytes as u64,
        })
    }
}
