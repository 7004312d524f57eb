//! Errors of the hub API. stream-core never sees wire bytes, so its errors are all of the
//! "policy / misuse" tier: a refused publish, a stream that is not there, a push after the
//! publisher lost the stream or for a track it never announced.

use std::time::SystemTime;

use crate::{CloseReason, PeerInfo, StreamKey, TrackId};

/// Why [`crate::Hub::publish`] refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The key has a live, non-stale publisher and the policy is `Reject` (DESIGN rule 5).
    #[error(
        "already publishing: {key} is published by session {} ({}) for {} s",
        current.session_id,
        current.protocol,
        since.elapsed().map(|d| d.as_secs()).unwrap_or(0)
    )]
    AlreadyPublishing {
        /// The contested key.
        key: StreamKey,
        /// The publisher that keeps the stream.
        current: PeerInfo,
        /// When it started publishing.
        since: SystemTime,
    },
    /// [`crate::Hub::shutdown`] was called.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Why [`crate::Hub::subscribe`] failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// No publisher appeared within `max_stream_wait` (or the stream was closed while waiting).
    #[error("stream {0} not found")]
    NotFound(StreamKey),
    /// [`crate::Hub::shutdown`] was called.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Why [`crate::Hub::subscribe_gated`] failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GatedError<E> {
    /// The gate refused the wait.
    #[error("{0}")]
    Gate(E),
    /// As for [`crate::Hub::subscribe`].
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
}

/// Why [`crate::Publisher::push`] refused a frame.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// This publisher no longer owns the stream; the session should end.
    #[error("the publisher was closed: {0}")]
    Closed(CloseReason),
    /// The frame names a track that `set_tracks` did not announce.
    #[error("frame for unknown track {0}")]
    UnknownTrack(TrackId),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;

    #[test]
    fn already_publishing_message_names_the_current_publisher() {
        let e = PublishError::AlreadyPublishing {
            key: StreamKey::new("live", "cam"),
            current: PeerInfo {
                session_id: 42,
                protocol: Protocol::Rtmp,
                peer: None,
            },
            since: SystemTime::UNIX_EPOCH,
        };
        let s = e.to_string();
        assert!(
            s.contains("live/cam") && s.contains("session 42") && s.contains("rtmp"),
            "{s}"
        );
        assert_eq!(
            PushError::UnknownTrack(3).to_string(),
            "frame for unknown track 3"
        );
    }
}
