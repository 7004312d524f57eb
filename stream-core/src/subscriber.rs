//! The subscriber handle: a player's end of the fan-out.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::queue::SubQueue;
use crate::registry::HubInner;
use crate::stream::StreamShared;
use crate::{Frame, StreamKey, Track};

/// What a subscriber receives, in order: `Tracks` (when known), the cached GOP, live frames,
/// and `Tracks` again whenever the tracks change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriberEvent {
    /// The stream's tracks: initially, and again whenever they change (e.g. on resume).
    Tracks(Arc<[Track]>),
    /// One frame; `Arc` so later layers can cache per-format wire bytes beside it.
    Frame(Arc<Frame>),
}

/// Why a subscriber ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The publisher left and did not come back within `continue_push`.
    StreamEnded,
    /// The subscriber fell further behind than `max_lag` and was disconnected.
    Lagged,
    /// The stream was closed through the API.
    Closed,
    /// The server is shutting down.
    Shutdown,
    /// No publisher appeared within `max_stream_wait`.
    NotFound,
}

impl EndReason {
    /// "stream-ended", "lagged", "closed", "shutdown" or "not-found".
    pub fn name(self) -> &'static str {
        match self {
            EndReason::StreamEnded => "stream-ended",
            EndReason::Lagged => "lagged",
            EndReason::Closed => "closed",
            EndReason::Shutdown => "shutdown",
            EndReason::NotFound => "not-found",
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The state a subscriber shares with its stream: the bounded queue and its wake-up.
#[derive(Debug, Default)]
pub(crate) struct SubShared {
    queue: Mutex<SubQueue>,
    /// `notify_one` stores a permit, so a push between "queue empty" and `.await` is not lost.
    pub(crate) notify: Notify,
}

impl SubShared {
    /// Locks the queue; a poisoned lock is recovered (DESIGN rule 2: no cascade).
    pub(crate) fn queue(&self) -> MutexGuard<'_, SubQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A player's handle on a stream. Dropping it detaches at once and frees its queue.
#[derive(Debug)]
pub struct Subscriber {
    pub(crate) id: u64,
    pub(crate) key: StreamKey,
    pub(crate) shared: Arc<SubShared>,
    pub(crate) stream: Arc<StreamShared>,
    pub(crate) hub: Arc<HubInner>,
}

impl Subscriber {
    /// The hub-wide id of this subscriber (matches [`crate::SubscriberSnapshot::id`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The stream.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// The next event. Cancel-safe: an event is only taken from the queue when returned.
    /// After `Err`, every later call returns the same `Err`.
    pub async fn recv(&mut self) -> Result<SubscriberEvent, EndReason> {
        loop {
            if let Some(r) = self.try_recv() {
                return r;
            }
            self.shared.notify.notified().await;
        }
    }

    /// The next event if one is queued, without waiting (for drivers that batch writes).
    pub fn try_recv(&mut self) -> Option<Result<SubscriberEvent, EndReason>> {
        let (r, bytes) = {
            let mut q = self.shared.queue();
            let before = q.bytes_out;
            let r = q.pop();
            (r, q.bytes_out.saturating_sub(before))
        };
        if bytes > 0 {
            self.hub.count_bytes_out(bytes);
        }
        r
    }

    /// Frames dropped for this subscriber so far.
    pub fn dropped_frames(&self) -> u64 {
        self.shared.queue().dropped
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.hub.detach(&self.stream, self.id);
    }
}
