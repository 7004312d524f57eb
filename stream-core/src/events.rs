//! Lifecycle events, broadcast on a bounded channel ([`crate::Hub::events`]). Listeners that
//! fall behind lose the oldest events (`RecvError::Lagged`); the hub never waits for them.

use crate::{EndReason, PeerInfo, StreamKey};

/// Why a stream entry was removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamCloseReason {
    /// The publisher left and none came back within `continue_push`.
    LingerExpired,
    /// [`crate::Hub::close_stream`].
    Closed,
    /// [`crate::Hub::shutdown`].
    Shutdown,
    /// Nobody watched for `stream_none_reader_delay` and `close_on_no_reader` is set.
    NoReader,
}

/// Something happened to a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HubEvent {
    /// A publisher took the stream (`resumed`: it continued a lingering stream or took over one).
    Published {
        /// The stream.
        key: StreamKey,
        /// The new publisher.
        publisher: PeerInfo,
        /// True when subscribers may have stayed attached across the change of publisher.
        resumed: bool,
    },
    /// A publisher left (its guard dropped or it was taken over); the stream may linger.
    Unpublished {
        /// The stream.
        key: StreamKey,
        /// The publisher that left.
        publisher: PeerInfo,
    },
    /// The stream entry is gone; its subscribers have ended. Not sent when a waiting entry
    /// (subscribers, never a publisher) is dropped because its last subscriber gave up.
    StreamClosed {
        /// The stream.
        key: StreamKey,
        /// Why.
        reason: StreamCloseReason,
    },
    /// A subscriber attached (or started waiting for a publisher).
    SubscriberAdded {
        /// The stream.
        key: StreamKey,
        /// The subscriber.
        subscriber: PeerInfo,
    },
    /// A subscriber left. `reason` is `None` when it left on its own (dropped its handle).
    SubscriberRemoved {
        /// The stream.
        key: StreamKey,
        /// The subscriber.
        subscriber: PeerInfo,
        /// Why the hub removed it, if the hub did.
        reason: Option<EndReason>,
    },
    /// A live stream had no subscriber for `stream_none_reader_delay` (once per idle period).
    NoReader {
        /// The stream.
        key: StreamKey,
    },
}

impl HubEvent {
    /// The stream the event is about.
    pub fn key(&self) -> &StreamKey {
        match self {
            HubEvent::Published { key, .. }
            | HubEvent::Unpublished { key, .. }
            | HubEvent::StreamClosed { key, .. }
            | HubEvent::SubscriberAdded { key, .. }
            | HubEvent::SubscriberRemoved { key, .. }
            | HubEvent::NoReader { key } => key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_accessor_covers_every_variant() {
        let k = StreamKey::new("a", "b");
        let e = HubEvent::NoReader { key: k.clone() };
        assert_eq!(e.key(), &k);
        let e = HubEvent::StreamClosed {
            key: k.clone(),
            reason: StreamCloseReason::LingerExpired,
        };
        assert_eq!(e.key(), &k);
    }
}
