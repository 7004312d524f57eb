//! A target's queue: the push reads its source as an ordinary hub
//! subscriber, so it has stream-core's bounded per-subscriber queue that the
//! players have — when full, the oldest frames go and the target resumes at
//! the next keyframe; past `stream.max_lag_ms` behind, the hub ends the
//! subscription (`lagged`) and the supervisor reconnects. The stream and its
//! players never wait for a target.

use std::sync::Arc;

use stream_core::{EndReason, Frame, StreamKey, StreamState, Subscriber, SubscriberEvent};

use crate::drive::End;
use crate::server::Shared;
use crate::session::SessionInfo;

/// Events handled per wake before the loop flushes and looks at the socket
/// again (as the players do).
const BATCH: usize = 64;

/// The source, read by one target.
pub(super) struct Feed {
    subscriber: Subscriber,
}

impl Feed {
    /// Attaches to `key` as the session `info` if it is live (`None`
    /// otherwise: a push never waits as a subscriber for a missing stream).
    pub(super) async fn attach(
        shared: &Shared,
        key: &StreamKey,
        info: &SessionInfo,
    ) -> Option<Feed> {
        if !is_live(shared, key) {
            return None;
        }
        let subscriber = shared.hub.subscribe(key, info.peer_info()).await.ok()?;
        info.set_stream(key.clone(), None);
        Some(Feed { subscriber })
    }

    /// The next event (cancel-safe).
    pub(super) async fn recv(&mut self) -> Result<SubscriberEvent, EndReason> {
        self.subscriber.recv().await
    }

    /// Handles `first` and whatever else is queued already (bounded), so a
    /// burst (the GOP at start) leaves in few writes.
    pub(super) fn drain(
        &mut self,
        first: Result<SubscriberEvent, EndReason>,
        mut handle: impl FnMut(Event) -> Result<(), End>,
    ) -> Result<(), End> {
        let mut next = Some(first);
        let mut budget = BATCH;
        while let Some(event) = next.take() {
            match event {
                Ok(SubscriberEvent::Tracks(t)) => handle(Event::Tracks(t))?,
                Ok(SubscriberEvent::Frame(f)) => handle(Event::Frame(f))?,
                Err(reason) => return Err(End::PlayEnded(reason)),
            }
            budget -= 1;
            if budget > 0 {
                next = self.subscriber.try_recv();
            }
        }
        Ok(())
    }

    /// The subscriber, for the RTSP target's wait for tracks.
    pub(super) fn subscriber(&mut self) -> &mut Subscriber {
        &mut self.subscriber
    }
}

/// One event of the source.
pub(super) enum Event {
    /// The stream's tracks (first, and whenever they change).
    Tracks(Arc<[stream_core::Track]>),
    /// A frame.
    Frame(Arc<Frame>),
}

/// Whether a publisher feeds `key` now.
pub(super) fn is_live(shared: &Shared, key: &StreamKey) -> bool {
    shared
        .hub
        .stream(key)
        .is_some_and(|s| s.state == StreamState::Live)
}

/// Whether a push ended because its source did, or changed codec (then it
/// waits for the source again and reconnects at once, without backing off).
pub(super) fn source_ended(end: &End) -> bool {
    matches!(
        end,
        End::PlayEnded(EndReason::StreamEnded | EndReason::Closed | EndReason::NotFound)
            | End::CodecChanged(_)
    )
}
