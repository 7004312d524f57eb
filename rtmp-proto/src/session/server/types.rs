//! The API types of [`ServerSession`](super::ServerSession): its settings,
//! its events and the ids of the requests it raises.

use bytes::Bytes;

use crate::chunk::ChunkDecoderConfig;
use crate::command::PublishType;
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
        }
    }
}

/// Identifies one pending decision; pass it back to the `accept_*` /
/// `reject_*` method. A stale id is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(super) u64);

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
    /// [`ServerSession::accept_connect`](super::ServerSession::accept_connect) or
    /// [`ServerSession::reject_connect`](super::ServerSession::reject_connect).
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
    /// [`ServerSession::accept_publish`](super::ServerSession::accept_publish) or
    /// [`ServerSession::reject_publish`](super::ServerSession::reject_publish).
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
    /// [`ServerSession::accept_play`](super::ServerSession::accept_play) or
    /// [`ServerSession::reject_play`](super::ServerSession::reject_play).
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
}
