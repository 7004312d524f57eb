//! The API types of [`ClientSession`](super::ClientSession): its settings,
//! its deadlines and its events.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::handshake::HandshakeParams;
use crate::session::MediaKind;

/// Publish or play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    /// Send media.
    Publish,
    /// Receive media.
    Play,
}

/// Settings of a [`ClientSession`](super::ClientSession).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Application (`live` in `rtmp://host/live/stream`).
    pub app: String,
    /// The tcUrl (`rtmp://host/live`).
    pub tc_url: String,
    /// Stream name, may include `?query`.
    pub stream: String,
    /// Publish or play.
    pub mode: ClientMode,
    /// Outgoing chunk size, announced right after the handshake.
    pub chunk_size: u32,
    /// Handshake randomness.
    pub handshake: HandshakeParams,
    /// Use the digest ("complex") handshake, as ffmpeg does.
    pub digest: bool,
    /// The session's deadlines (see [`ClientTimeouts`]).
    pub timeouts: ClientTimeouts,
}

/// The deadlines a [`ClientSession`](super::ClientSession) keeps, reported
/// through [`poll_timeout`](super::ClientSession::poll_timeout).
///
/// A value too large to add to an `Instant` (e.g. `Duration::MAX`) means no
/// deadline: a huge value effectively disables the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// From the session's creation until publishing or playing: handshake,
    /// connect result, createStream result and NetStream.Publish.Start or
    /// NetStream.Play.Start (default 10 s).
    pub response: Duration,
    /// Play mode: no audio or video received for this long after
    /// NetStream.Play.Start (default 10 s). Metadata and statuses do not
    /// count.
    pub media_idle: Duration,
    /// Publish mode: when the server asked for acknowledgements (sent
    /// Window Acknowledgement Size), the session sends it the same window
    /// back on the connect result, so that the server acknowledges what it
    /// receives (RTMP spec 5.4.4: the sender of the window is the one
    /// acknowledged). Once more than that window has left through
    /// [`poll_transmit`](super::ClientSession::poll_transmit) beyond the
    /// server's last Acknowledgement, the next one must come within this
    /// long (default 10 s). The clock starts when the window is first
    /// exceeded (or at the publish start, if it already was then), and again
    /// at every Acknowledgement that leaves it exceeded. Not armed (and no
    /// window is sent) when the server sent no window, or when `ack` is too
    /// large to add to an `Instant`.
    pub ack: Duration,
}

impl ClientTimeouts {
    /// No deadlines at all, for callers that keep their own (and a client
    /// that does not watch acknowledgements does not ask for them).
    pub const NONE: ClientTimeouts = ClientTimeouts {
        response: Duration::MAX,
        media_idle: Duration::MAX,
        ack: Duration::MAX,
    };
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        ClientTimeouts {
            response: Duration::from_secs(10),
            media_idle: Duration::from_secs(10),
            ack: Duration::from_secs(10),
        }
    }
}

/// Which deadline of a [`ClientSession`](super::ClientSession) passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTimeout {
    /// Not publishing or playing within [`ClientTimeouts::response`].
    Response,
    /// No media within [`ClientTimeouts::media_idle`] while playing.
    MediaIdle,
    /// No Acknowledgement within [`ClientTimeouts::ack`] while publishing.
    Acknowledgement,
}

impl fmt::Display for ClientTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientTimeout::Response => "the server's response",
            ClientTimeout::MediaIdle => "media",
            ClientTimeout::Acknowledgement => "an acknowledgement",
        })
    }
}

/// What happened on a [`ClientSession`](super::ClientSession).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// connect was accepted.
    Connected,
    /// onStatus NetStream.Publish.Start: media may be sent.
    Publishing,
    /// onStatus NetStream.Play.Start: media will come.
    Playing,
    /// The server refused connect, createStream, publish or play.
    Rejected {
        /// Status code, e.g. `NetStream.Publish.BadName`.
        code: String,
        /// The server's description.
        description: String,
    },
    /// Any other onStatus.
    Status {
        /// Status code.
        code: String,
        /// The server's description.
        description: String,
    },
    /// An audio or video message.
    Media {
        /// Audio or video.
        kind: MediaKind,
        /// Timestamp in milliseconds.
        timestamp: u32,
        /// The FLV tag body.
        payload: Bytes,
    },
    /// An `onMetaData` data body (`@setDataFrame` stripped if present).
    Metadata {
        /// `"onMetaData", {…}` in AMF0.
        body: Bytes,
    },
    /// User control Stream EOF.
    StreamEof,
    /// onStatus NetStream.Play.UnpublishNotify.
    UnpublishNotify,
    /// A deadline passed ([`ClientSession::handle_timeout`](super::ClientSession::handle_timeout)):
    /// the session is closed.
    TimedOut {
        /// Which deadline.
        what: ClientTimeout,
    },
}
