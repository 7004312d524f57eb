//! The public face of the hub: publish, subscribe, inspect, close, shut down. The state and
//! the arbitration live in `registry.rs`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::config::deadline;
use crate::registry::HubInner;
use crate::stream::Phase;
use crate::{
    EndReason, GatedError, HubConfig, HubEvent, HubStats, PeerInfo, PublishError, Publisher,
    StreamCloseReason, StreamKey, StreamSnapshot, SubscribeError, Subscriber,
};

/// The stream hub. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(HubConfig::default())
    }
}

impl Hub {
    /// Creates a hub. Needs no tokio runtime: timers are spawned on the runtime of whoever
    /// triggers them, and when there is none, due timers are applied on the next hub call.
    pub fn new(config: HubConfig) -> Hub {
        Hub {
            inner: Arc::new(HubInner::new(config)),
        }
    }

    /// The configuration the hub was built with.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Takes ownership of `key`: a fresh stream, a resume of a lingering one, or a takeover
    /// (kick policy, or the current publisher is stale). Under `Reject`, a live non-stale
    /// publisher keeps the stream and this returns `AlreadyPublishing`.
    pub fn publish(&self, key: StreamKey, who: PeerInfo) -> Result<Publisher, PublishError> {
        self.inner.publish(key, who, false)
    }

    /// Takes ownership of `key` whatever the conflict policy: a live
    /// publisher is taken over (its players stay and continue, as on a
    /// resume). For a server that knows better than the hub who owns the name
    /// (a cluster node whose own publisher replaces the relay that pulled the
    /// stream from another node).
    pub fn take_over(&self, key: StreamKey, who: PeerInfo) -> Result<Publisher, PublishError> {
        self.inner.publish(key, who, true)
    }

    /// Attaches to `key`. When nobody publishes it yet, waits up to `max_stream_wait` for a
    /// publisher (counted as a waiting subscriber meanwhile), then fails with `NotFound`.
    /// Cancel-safe: dropping the future detaches.
    pub async fn subscribe(
        &self,
        key: &StreamKey,
        who: PeerInfo,
    ) -> Result<Subscriber, SubscribeError> {
        let open = || Ok::<(), std::convert::Infallible>(());
        self.subscribe_gated(key, who, open)
            .await
            .map_err(|e| match e {
                GatedError::Subscribe(e) => e,
                GatedError::Gate(never) => match never {},
            })
    }

    /// Like [`subscribe`](Self::subscribe), but a subscriber that would have to wait (nobody
    /// publishes `key` yet) first asks `gate`: on `Err` it detaches at once and the error is
    /// returned; on `Ok` the permit is held for the whole wait and dropped when the wait ends
    /// (publisher arrived, deadline, close, or the future dropped). `gate` is not called when
    /// the stream is live or lingering. This is how callers bound the players waiting for
    /// streams that do not exist, without a race between a check and the wait.
    pub async fn subscribe_gated<P, E>(
        &self,
        key: &StreamKey,
        who: PeerInfo,
        gate: impl FnOnce() -> Result<P, E>,
    ) -> Result<Subscriber, GatedError<E>> {
        let wait_until = deadline(Instant::now(), self.inner.config.max_stream_wait);
        let sub = self.inner.attach(key, who)?;
        if let Some(ready) = wait_state(&sub) {
            return Ok(ready.map(|()| sub)?);
        }
        let _permit = gate().map_err(GatedError::Gate)?;
        Ok(wait(sub, key, wait_until).await?)
    }

    /// All streams (waiting, live, lingering), sorted by key.
    pub fn streams(&self) -> Vec<StreamSnapshot> {
        self.inner.sweep();
        let now = Instant::now();
        let streams: Vec<_> = self.inner.registry().values().cloned().collect();
        let mut out: Vec<_> = streams
            .iter()
            .filter_map(|s| s.lock().snapshot(&s.key, now))
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// One stream.
    pub fn stream(&self, key: &StreamKey) -> Option<StreamSnapshot> {
        self.inner.sweep();
        let s = self.inner.registry().get(key).cloned()?;
        let snap = s.lock().snapshot(&s.key, Instant::now());
        snap
    }

    /// Closes the stream now: the publisher is told to stop (`Publisher::closed` resolves
    /// with `CloseReason::Closed`), every subscriber ends with `EndReason::Closed`, the key is
    /// free at once. Returns false when there was no such stream.
    pub fn close_stream(&self, key: &StreamKey) -> bool {
        let mut events = Vec::new();
        let found = {
            let mut reg = self.inner.registry();
            match reg.get(key).cloned() {
                Some(s) => {
                    let mut st = s.lock();
                    self.inner.close_locked(
                        &mut reg,
                        &s,
                        &mut st,
                        StreamCloseReason::Closed,
                        &mut events,
                    );
                    true
                }
                None => false,
            }
        };
        self.inner.emit(events);
        found
    }

    /// Closes every stream with `CloseReason::Shutdown` / `EndReason::Shutdown`; later
    /// publishes and subscribes fail with `ShuttingDown`.
    pub fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let mut events = Vec::new();
        {
            let mut reg = self.inner.registry();
            let all: Vec<_> = reg.values().cloned().collect();
            for s in all {
                let mut st = s.lock();
                self.inner.close_locked(
                    &mut reg,
                    &s,
                    &mut st,
                    StreamCloseReason::Shutdown,
                    &mut events,
                );
            }
        }
        info!("hub shut down");
        self.inner.emit(events);
    }

    /// A receiver of lifecycle events from now on (bounded; slow receivers lose old events).
    pub fn events(&self) -> broadcast::Receiver<HubEvent> {
        self.inner.events.subscribe()
    }

    /// Totals: current streams, publishers and subscribers; counters since the hub started.
    pub fn stats(&self) -> HubStats {
        self.inner.sweep();
        let streams: Vec<_> = self.inner.registry().values().cloned().collect();
        let mut stats = HubStats {
            bytes_in: self.inner.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.inner.bytes_out.load(Ordering::Relaxed),
            frames_in: self.inner.frames_in.load(Ordering::Relaxed),
            drops: self.inner.drops.load(Ordering::Relaxed),
            ..HubStats::default()
        };
        for s in streams {
            let st = s.lock();
            if matches!(st.phase, Phase::Live | Phase::Lingering { .. }) {
                stats.streams += 1;
            }
            stats.publishers += usize::from(st.owner.is_some());
            stats.subscribers += st.subs.len();
        }
        stats
    }

    /// True when the registry holds no entry at all (leak checks).
    pub fn is_empty(&self) -> bool {
        self.inner.sweep();
        self.inner.registry().is_empty()
    }
}

/// Waits until `sub`'s stream has a publisher, goes away, or `until` passes (then the
/// subscriber ends with `NotFound`).
async fn wait(
    sub: Subscriber,
    key: &StreamKey,
    until: Instant,
) -> Result<Subscriber, SubscribeError> {
    loop {
        if let Some(ready) = wait_state(&sub) {
            return ready.map(|()| sub);
        }
        let woken = tokio::time::timeout_at(until, sub.shared.notify.notified()).await;
        if woken.is_err() {
            if let Some(ready) = wait_state(&sub) {
                return ready.map(|()| sub);
            }
            debug!(key = %key, subscriber = sub.id, "no publisher within max_stream_wait");
            sub.shared.queue().end(EndReason::NotFound, false);
            return Err(SubscribeError::NotFound(key.clone()));
        }
    }
}

/// `Some(Ok)` once the stream has a publisher (or lingers with media), `Some(Err)` when the
/// stream went away while waiting, `None` while still waiting.
fn wait_state(sub: &Subscriber) -> Option<Result<(), SubscribeError>> {
    let phase = sub.stream.lock().phase;
    match phase {
        Phase::Live | Phase::Lingering { .. } => Some(Ok(())),
        Phase::Waiting => None,
        Phase::Closed => Some(Err(match sub.shared.queue().ended() {
            Some(EndReason::Shutdown) => SubscribeError::ShuttingDown,
            _ => SubscribeError::NotFound(sub.key.clone()),
        })),
    }
}
