//! The registry behind [`crate::Hub`]: which streams exist, who publishes them, who
//! watches. It arbitrates publishes (DESIGN rule 5), owns the timers (linger, no-reader),
//! keeps the totals and emits the events.
//!
//! Lock order is always registry, then one stream, then one subscriber queue; the registry
//! lock is never taken while a stream lock is held, and no lock is held across `.await`
//! (DESIGN rule 2). Events are sent after the locks are released.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::{deadline, micros};
use crate::publisher::PubShared;
use crate::queue::Limits;
use crate::stream::{Deadline, Owner, Phase, StreamInner, StreamShared, SubSlot};
use crate::subscriber::SubShared;
use crate::{
    CloseReason, ConflictPolicy, EndReason, Frame, HubConfig, HubEvent, PeerInfo, PublishError,
    Publisher, PushError, StreamCloseReason, StreamKey, SubscribeError, Subscriber, Track,
};

/// Upper bound on the event channel capacity (tokio's broadcast allocates it up front).
const MAX_EVENT_CAPACITY: usize = 1 << 16;

pub(crate) type Registry = HashMap<StreamKey, Arc<StreamShared>>;

/// The shared state behind [`Hub`].
pub(crate) struct HubInner {
    pub(crate) config: HubConfig,
    limits: Limits,
    registry: Mutex<Registry>,
    pub(crate) events: broadcast::Sender<HubEvent>,
    pub(crate) shutting_down: AtomicBool,
    next_id: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) drops: AtomicU64,
}

impl fmt::Debug for HubInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubInner")
            .field("config", &self.config)
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

impl HubInner {
    pub(crate) fn new(config: HubConfig) -> HubInner {
        let (events, _) = broadcast::channel(config.event_capacity.clamp(1, MAX_EVENT_CAPACITY));
        let limits = Limits {
            max_frames: config.subscriber_queue_frames,
            max_bytes: config.subscriber_queue_bytes,
            max_lag_us: micros(config.max_lag),
            max_lag: config.max_lag,
        };
        HubInner {
            config,
            limits,
            registry: Mutex::new(HashMap::new()),
            events,
            shutting_down: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            frames_in: AtomicU64::new(0),
            drops: AtomicU64::new(0),
        }
    }

    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn emit(&self, events: Vec<HubEvent>) {
        for e in events {
            // No receiver is fine: events are advisory.
            let _ = self.events.send(e);
        }
    }

    pub(crate) fn count_bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    fn new_stream(&self, key: &StreamKey, now: Instant) -> Arc<StreamShared> {
        Arc::new(StreamShared::new(
            key.clone(),
            StreamInner::new(
                now,
                self.config.gop_cache_max_bytes,
                micros(self.config.gop_cache_max_duration),
            ),
        ))
    }

    /// Runs `check_key` at the deadline on the current runtime, unless the deadline is
    /// withdrawn first (a reader came, a publisher resumed, the stream closed or was
    /// dropped): then the timer task ends at once, so timers never pile up behind churn.
    /// Without a runtime the deadline is still recorded in the stream and applied lazily
    /// by the next hub call (`sweep`).
    fn schedule(self: &Arc<Self>, key: StreamKey, deadline: Deadline) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let hub = Arc::downgrade(self);
                let Deadline { at, mut withdrawn } = deadline;
                handle.spawn(async move {
                    if tokio::time::timeout_at(at, withdrawn.changed())
                        .await
                        .is_ok()
                    {
                        return;
                    }
                    if let Some(hub) = hub.upgrade() {
                        hub.check_key(&key);
                    }
                });
            }
            Err(_) => debug!(key = %key, "no tokio runtime: timer applied on the next hub call"),
        }
    }

    /// Applies a due linger expiry or no-reader deadline of one stream.
    fn check_key(self: &Arc<Self>, key: &StreamKey) {
        let mut events = Vec::new();
        {
            let mut reg = self.registry();
            if let Some(s) = reg.get(key).cloned() {
                self.check_due(&mut reg, &s, Instant::now(), &mut events);
            }
        }
        self.emit(events);
    }

    /// Applies due deadlines of every stream (the fallback when timers could not be spawned).
    pub(crate) fn sweep(&self) {
        let mut events = Vec::new();
        {
            let mut reg = self.registry();
            let now = Instant::now();
            let all: Vec<_> = reg.values().cloned().collect();
            for s in all {
                self.check_due(&mut reg, &s, now, &mut events);
            }
        }
        self.emit(events);
    }

    fn check_due(
        &self,
        reg: &mut Registry,
        s: &Arc<StreamShared>,
        now: Instant,
        events: &mut Vec<HubEvent>,
    ) {
        let mut st = s.lock();
        match st.phase {
            Phase::Lingering { until } if now >= until => {
                info!(key = %s.key, "no publisher resumed within continue_push: stream ended");
                self.close_locked(reg, s, &mut st, StreamCloseReason::LingerExpired, events);
            }
            Phase::Live if st.subs.is_empty() && st.no_reader_at.is_some_and(|t| now >= t) => {
                st.no_reader_at = None;
                info!(key = %s.key, "no reader");
                events.push(HubEvent::NoReader { key: s.key.clone() });
                if self.config.close_on_no_reader {
                    self.close_locked(reg, s, &mut st, StreamCloseReason::NoReader, events);
                }
            }
            _ => {}
        }
    }

    /// Removes the stream from the registry and ends its publisher and subscribers.
    pub(crate) fn close_locked(
        &self,
        reg: &mut Registry,
        s: &Arc<StreamShared>,
        st: &mut StreamInner,
        reason: StreamCloseReason,
        events: &mut Vec<HubEvent>,
    ) {
        if reg.get(&s.key).is_some_and(|cur| Arc::ptr_eq(cur, s)) {
            reg.remove(&s.key);
        }
        st.phase = Phase::Closed;
        st.withdraw_deadlines();
        let (close, end, drain) = match reason {
            StreamCloseReason::LingerExpired => (CloseReason::Closed, EndReason::StreamEnded, true),
            StreamCloseReason::Closed => (CloseReason::Closed, EndReason::Closed, false),
            StreamCloseReason::Shutdown => (CloseReason::Shutdown, EndReason::Shutdown, false),
            StreamCloseReason::NoReader => (CloseReason::NoReader, EndReason::Closed, false),
        };
        if let Some(owner) = st.owner.take() {
            info!(key = %s.key, session = owner.who.session_id, reason = close.name(), "publisher told to stop");
            owner.shared.close(close);
            events.push(HubEvent::Unpublished {
                key: s.key.clone(),
                publisher: owner.who,
            });
        }
        for slot in st.end_all(end, drain) {
            events.push(HubEvent::SubscriberRemoved {
                key: s.key.clone(),
                subscriber: slot.who,
                reason: Some(end),
            });
        }
        st.gop.clear();
        events.push(HubEvent::StreamClosed {
            key: s.key.clone(),
            reason,
        });
    }

    pub(crate) fn publish(
        self: &Arc<Self>,
        key: StreamKey,
        who: PeerInfo,
        force: bool,
    ) -> Result<Publisher, PublishError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(PublishError::ShuttingDown);
        }
        let now = Instant::now();
        let generation = self.next_id();
        let shared = Arc::new(PubShared::new());
        let owner = Owner {
            generation,
            who: who.clone(),
            since: SystemTime::now(),
            last_media: now,
            shared: Arc::clone(&shared),
            track_changes: Default::default(),
        };
        let mut events = Vec::new();
        let mut timer = None;
        let result = (|| {
            let mut reg = self.registry();
            // Checked under the lock: shutdown() sets the flag before draining the registry.
            if self.shutting_down.load(Ordering::SeqCst) {
                return Err(PublishError::ShuttingDown);
            }
            if let Some(existing) = reg.get(&key).cloned() {
                self.check_due(&mut reg, &existing, now, &mut events);
            }
            let stream = Arc::clone(
                reg.entry(key.clone())
                    .or_insert_with(|| self.new_stream(&key, now)),
            );
            let mut st = stream.lock();
            let resumed = match (st.phase, st.owner.as_ref()) {
                (Phase::Live, Some(cur)) => {
                    let idle = now.saturating_duration_since(cur.last_media);
                    let stale = idle >= self.config.publisher_idle_timeout;
                    if !stale && !force && self.config.publish_conflict == ConflictPolicy::Reject {
                        info!(key = %key, session = who.session_id, current = cur.who.session_id, "publish rejected: already publishing");
                        return Err(PublishError::AlreadyPublishing {
                            key: key.clone(),
                            current: cur.who.clone(),
                            since: cur.since,
                        });
                    }
                    info!(key = %key, session = who.session_id, old = cur.who.session_id, stale, "publisher taken over");
                    true
                }
                (Phase::Lingering { .. }, _) => true,
                _ => false,
            };
            if let Some(old) = st.set_owner(owner) {
                old.shared.close(CloseReason::TakenOver);
                events.push(HubEvent::Unpublished {
                    key: key.clone(),
                    publisher: old.who,
                });
            }
            info!(key = %key, session = who.session_id, resumed, "publish");
            events.push(HubEvent::Published {
                key: key.clone(),
                publisher: who.clone(),
                resumed,
            });
            // Waiting subscribers return from subscribe() now.
            for s in &st.subs {
                s.shared.notify.notify_one();
            }
            timer = st.arm_no_reader(now, self.config.stream_none_reader_delay);
            drop(st);
            Ok((stream, resumed))
        })();
        self.emit(events);
        let (stream, resumed) = result?;
        if let Some(at) = timer {
            self.schedule(key.clone(), at);
        }
        Ok(Publisher {
            key,
            generation,
            resumed,
            shared,
            stream,
            hub: Arc::clone(self),
        })
    }

    /// The synchronous part of subscribe: find or create the entry and attach.
    pub(crate) fn attach(
        self: &Arc<Self>,
        key: &StreamKey,
        who: PeerInfo,
    ) -> Result<Subscriber, SubscribeError> {
        let now = Instant::now();
        let id = self.next_id();
        let shared = Arc::new(SubShared::default());
        let mut events = Vec::new();
        let stream = {
            let mut reg = self.registry();
            if self.shutting_down.load(Ordering::SeqCst) {
                return Err(SubscribeError::ShuttingDown);
            }
            if let Some(existing) = reg.get(key).cloned() {
                self.check_due(&mut reg, &existing, now, &mut events);
            }
            let stream = Arc::clone(
                reg.entry(key.clone())
                    .or_insert_with(|| self.new_stream(key, now)),
            );
            stream.lock().attach(
                SubSlot {
                    id,
                    who: who.clone(),
                    since: SystemTime::now(),
                    shared: Arc::clone(&shared),
                },
                now,
            );
            stream
        };
        debug!(key = %key, session = who.session_id, subscriber = id, "subscriber added");
        events.push(HubEvent::SubscriberAdded {
            key: key.clone(),
            subscriber: who,
        });
        self.emit(events);
        Ok(Subscriber {
            id,
            key: key.clone(),
            shared,
            stream,
            hub: Arc::clone(self),
        })
    }

    /// Subscriber drop: detach now; a waiting entry left without subscribers is removed.
    pub(crate) fn detach(self: &Arc<Self>, stream: &Arc<StreamShared>, id: u64) {
        let now = Instant::now();
        let mut events = Vec::new();
        let timer = {
            let mut reg = self.registry();
            let mut st = stream.lock();
            let Some(slot) = st.remove_sub(id) else {
                return;
            };
            let reason = slot.shared.queue().ended();
            debug!(key = %stream.key, session = slot.who.session_id, subscriber = id, "subscriber removed");
            events.push(HubEvent::SubscriberRemoved {
                key: stream.key.clone(),
                subscriber: slot.who,
                reason,
            });
            if st.phase == Phase::Waiting && st.subs.is_empty() {
                if reg
                    .get(&stream.key)
                    .is_some_and(|cur| Arc::ptr_eq(cur, stream))
                {
                    reg.remove(&stream.key);
                }
                st.phase = Phase::Closed;
                st.withdraw_deadlines();
            }
            st.arm_no_reader(now, self.config.stream_none_reader_delay)
        };
        self.emit(events);
        if let Some(at) = timer {
            self.schedule(stream.key.clone(), at);
        }
    }

    /// Publisher drop: the stream lingers for `continue_push`, subscribers stay attached.
    pub(crate) fn release(self: &Arc<Self>, p: &Publisher) {
        let now = Instant::now();
        let until = deadline(now, self.config.continue_push);
        let (who, linger) = {
            let mut st = p.stream.lock();
            if !st.is_owner(p.generation) {
                return;
            }
            st.phase = Phase::Lingering { until };
            st.no_reader_at = None;
            st.withdraw_deadlines();
            (st.owner.take().map(|o| o.who), st.deadline(until))
        };
        if let Some(who) = who {
            info!(key = %p.key, session = who.session_id, "unpublish: stream lingers for continue_push");
            self.emit(vec![HubEvent::Unpublished {
                key: p.key.clone(),
                publisher: who,
            }]);
        }
        self.schedule(p.key.clone(), linger);
    }

    pub(crate) fn is_owner(&self, p: &Publisher) -> bool {
        p.stream.lock().is_owner(p.generation)
    }

    pub(crate) fn set_tracks(&self, p: &Publisher, tracks: Vec<Track>) {
        let now = Instant::now();
        let mut st = p.stream.lock();
        if !st.is_owner(p.generation) || p.shared.reason().is_some() || *st.tracks == *tracks {
            return;
        }
        let over = st
            .owner
            .as_mut()
            .is_some_and(|o| !o.track_changes.allow(now));
        if over {
            warn!(key = %p.key, session = st.owner.as_ref().map_or(0, |o| o.who.session_id),
                max = crate::MAX_TRACK_CHANGES, window_secs = crate::TRACK_CHANGE_WINDOW.as_secs(),
                "publisher changes its tracks too often: told to stop");
            p.shared.close(CloseReason::TrackChanges);
            return;
        }
        st.set_tracks(tracks);
    }

    pub(crate) fn push(self: &Arc<Self>, p: &Publisher, frame: Frame) -> Result<(), PushError> {
        let now = Instant::now();
        let size = frame.len() as u64;
        let (out, timer) = {
            let mut guard = p.stream.lock();
            let st = &mut *guard;
            let Some(owner) = st.owner.as_mut().filter(|o| o.generation == p.generation) else {
                return Err(PushError::Closed(
                    p.shared.reason().unwrap_or(CloseReason::Closed),
                ));
            };
            owner.last_media = now;
            let Some(track) = st.tracks.iter().find(|t| t.id == frame.track) else {
                return Err(PushError::UnknownTrack(frame.track));
            };
            let is_video = track.codec.is_video();
            let out = st.push(frame, is_video, now, self.limits);
            let timer = if out.lagged.is_empty() {
                None
            } else {
                st.arm_no_reader(now, self.config.stream_none_reader_delay)
            };
            (out, timer)
        };
        self.bytes_in.fetch_add(size, Ordering::Relaxed);
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        if out.drops > 0 {
            self.drops.fetch_add(out.drops, Ordering::Relaxed);
        }
        if !out.lagged.is_empty() {
            let events = out
                .lagged
                .into_iter()
                .map(|slot| {
                    warn!(key = %p.key, session = slot.who.session_id, subscriber = slot.id, "lagging subscriber disconnected");
                    HubEvent::SubscriberRemoved {
                        key: p.key.clone(),
                        subscriber: slot.who,
                        reason: Some(EndReason::Lagged),
                    }
                })
                .collect();
            self.emit(events);
        }
        if let Some(at) = timer {
            self.schedule(p.key.clone(), at);
        }
        Ok(())
    }
}
