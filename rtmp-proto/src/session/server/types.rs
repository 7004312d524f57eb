//! The API types of [`ServerSession`](super::ServerSession): its settings,
//! its events and the ids of the requests it raises.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::chunk::ChunkDecoderConfig;
use crate::command::{PublishType, StatusCode};
use crate::handshake::HandshakeParams;
use crate::session::MediaKind;

/// Settings of a [`ServerSession`](super::ServerSession).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Outgoing chunk size announced on accepting the connect (default 4096).
    /// Use the same value for every session so shared media bytes fit all.
    pub chunk_size: u32,
    /// Window Acknowledgement Size sent to the client (default 2 500 000).
    pub window_ack_size: u32,
    /// Set Peer Bandwidth sent to the client (default 2 500 000, dynamic).
    pub peer_bandwidth: u32,
    /// Limits on what the client sends once a publish or play is accepted.
    pub decoder: ChunkDecoderConfig,
    /// Limits on what the client sends until then (default
    /// [`ChunkDecoderConfig::PRE_ACCEPT`]); messages held back while a
    /// request is pending are bounded by its `max_buffered_bytes` too.
    pub pre_accept: ChunkDecoderConfig,
    /// Handshake randomness. The default is a fixed seed, fine for tests;
    /// a server should fill `seed` from a RNG per connection.
    pub handshake: HandshakeParams,
    /// The session's deadlines (see [`ServerTimeouts`]).
    pub timeouts: ServerTimeouts,
}

/// The deadlines a [`ServerSession`](super::ServerSession) keeps, reported
/// through [`poll_timeout`](super::ServerSession::poll_timeout).
///
/// A value too large to add to an `Instant` (e.g. `Duration::MAX`) means no
/// deadline: a huge value effectively disables the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTimeouts {
    /// From the session's creation until a publish or play is accepted
    /// (handshake, connect, createStream and the request included; default
    /// 15 s). It is armed again, from that moment, when the accepted publish
    /// or play ends and the connection stays open.
    pub handshake: Duration,
    /// An accepted publish that sends no audio or video message for this
    /// long is closed (default 15 s). Pings, acknowledgements, metadata and
    /// other commands do not count: a peer sending only those would hold
    /// its players forever.
    pub publisher_idle: Duration,
}

impl Default for ServerTimeouts {
    fn default() -> Self {
        ServerTimeouts {
            handshake: Duration::from_secs(15),
            publisher_idle: Duration::from_secs(15),
        }
    }
}

/// Which deadline of a [`ServerSession`](super::ServerSession) passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// No publish or play was accepted within [`ServerTimeouts::handshake`].
    Handshake,
    /// The publisher sent no media for [`ServerTimeouts::publisher_idle`].
    PublisherIdle,
}

impl Timeout {
    /// What the deadline waited for: "handshake" or "publisher keep-alive"
    /// (also its `Display`).
    pub fn as_str(self) -> &'static str {
        match self {
            Timeout::Handshake => "handshake",
            Timeout::PublisherIdle => "publisher keep-alive",
        }
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The application's answer to a request, passed to
/// [`ServerSession::respond`](super::ServerSession::respond).
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Accept the connect, publish or play.
    Accept,
    /// Refuse it with an error status. For a connect, `code` is ignored:
    /// the answer is always `_error` NetConnection.Connect.Rejected carrying
    /// `description`.
    Reject {
        /// The onStatus code (e.g. [`StatusCode::PublishBadName`],
        /// [`StatusCode::PlayStreamNotFound`]).
        code: StatusCode,
        /// The human-readable reason sent to the client.
        description: String,
    },
}

impl Decision {
    /// A [`Decision::Reject`].
    pub fn reject(code: StatusCode, description: impl Into<String>) -> Self {
        Decision::Reject {
            code,
            description: description.into(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            decoder: ChunkDecoderConfig::default(),
            pre_accept: ChunkDecoderConfig::PRE_ACCEPT,
            handshake: HandshakeParams {
                epoch: 0,
                seed: [0; 32],
            },
            timeouts: ServerTimeouts::default(),
        }
    }
}

/// Identifies one pending decision; pass it back to
/// [`ServerSession::respond`](super::ServerSession::respond). A stale id is
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(super) u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What happened on a [`ServerSession`](super::ServerSession).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The handshake completed; `digest` if it was the digest ("complex") form.
    HandshakeDone {
        /// Whether the client used the digest handshake.
        digest: bool,
    },
    /// connect: answer with
    /// [`ServerSession::respond`](super::ServerSession::respond).
    ConnectRequested {
        /// The request to answer.
        req: RequestId,
        /// The application, without any `?query`.
        app: String,
        /// The tcUrl, if sent.
        tc_url: Option<String>,
        /// The query from `app` or, failing that, from `tcUrl`.
        query: Option<String>,
    },
    /// publish: answer with
    /// [`ServerSession::respond`](super::ServerSession::respond).
    PublishRequested {
        /// The request to answer.
        req: RequestId,
        /// Message stream the client publishes on.
        stream_id: u32,
        /// Stream name without the query.
        name: String,
        /// The query after `?` (stream keys, tokens).
        query: Option<String>,
        /// live / record / append.
        kind: PublishType,
    },
    /// play: answer with
    /// [`ServerSession::respond`](super::ServerSession::respond).
    PlayRequested {
        /// The request to answer.
        req: RequestId,
        /// Message stream to send the media on.
        stream_id: u32,
        /// Stream name without the query.
        name: String,
        /// The query after `?`.
        query: Option<String>,
        /// Start (-2 when not sent: live, else recorded).
        start: f64,
        /// Duration (-1 when not sent: to the end).
        duration: f64,
        /// The reset flag (false when not sent).
        reset: bool,
    },
    /// A media message on the accepted publishing stream.
    Media {
        /// Message stream id.
        stream_id: u32,
        /// Audio or video.
        kind: MediaKind,
        /// Timestamp in milliseconds.
        timestamp: u32,
        /// The FLV tag body (a zero-copy slice of the received bytes when it
        /// came in one chunk).
        payload: Bytes,
    },
    /// Metadata from the publisher, `@setDataFrame` stripped: an
    /// `onMetaData` data body ready for players.
    Metadata {
        /// Message stream id.
        stream_id: u32,
        /// `"onMetaData", {…}` in AMF0.
        body: Bytes,
    },
    /// The publisher stopped (FCUnpublish, closeStream or deleteStream of
    /// the publishing stream).
    Unpublished {
        /// Message stream id.
        stream_id: u32,
    },
    /// The player stopped (closeStream or deleteStream of the playing stream).
    PlayStopped {
        /// Message stream id.
        stream_id: u32,
    },
    /// The player paused or resumed.
    Paused {
        /// Message stream id.
        stream_id: u32,
        /// `true` for pause, `false` for resume.
        paused: bool,
    },
    /// The client deleted its last stream with nothing left active: it is
    /// done with the connection. Flush and close.
    Closed,
    /// A deadline passed ([`ServerSession::handle_timeout`](super::ServerSession::handle_timeout)):
    /// the session is closed. Flush and close.
    TimedOut {
        /// Which deadline.
        what: Timeout,
    },
}
