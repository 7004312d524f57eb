//! [`ServerSession`]: the server side of one RTMP connection, sans-IO.
//!
//! The session answers on its own everything real clients need that is not
//! policy (releaseStream, FCPublish, createStream, getStreamLength, pings,
//! acknowledgements, chunk sizes) and asks the application, through
//! [`ServerEvent`]s carrying a [`RequestId`], to accept or reject connect,
//! publish and play.
//!
//! Rules it enforces (each a fatal [`Violation::OutOfOrder`] unless noted):
//! - nothing but connect before connect is accepted; publish and play only
//!   on a message stream created by createStream;
//! - one publish or play at a time per connection: a second one is refused
//!   with an error `onStatus` (not fatal);
//! - media and metadata count only on an accepted publishing stream.
//!   Anything else is dropped and counted ([`ServerSession::ignored_messages`]),
//!   not an error: encoders keep sending for a moment after FCUnpublish and
//!   while a refusal is in flight, and closing them for it helps no one.
//!
//! While the application decides on a request, later commands and media are
//! held back (up to [`MAX_PARKED_MESSAGES`] / [`MAX_PARKED_BYTES`]) and
//! processed after the answer, so a client that pipelines (sends publish
//! and its first frames without waiting) sees them in order. Protocol
//! control messages (chunk size, window, ping) are never held back.

mod answers;
mod commands;

use std::collections::VecDeque;

use bytes::Bytes;

use super::outbox::Outbox;
use super::shared::{encode_media, MediaChannel};
use super::{metadata, MediaKind};
use crate::chunk::{ChunkDecoder, ChunkDecoderConfig};
use crate::command::{Command, PublishType};
use crate::error::{Error, Violation};
use crate::handshake::{HandshakeKind, HandshakeParams, HandshakeStatus, ServerHandshake};
use crate::message::{
    split_aggregate, AckTracker, Message, MessageType, ProtocolControl, UserControl,
    AGGREGATE_MAX_SUB_MESSAGES,
};

/// Most messages held back while a request is pending.
pub const MAX_PARKED_MESSAGES: usize = 1024;
/// Most payload bytes held back while a request is pending.
pub const MAX_PARKED_BYTES: usize = 16 * 1024 * 1024;
/// Most message streams one connection may create (real clients create one).
pub const MAX_STREAMS: usize = 8;

/// Settings of a [`ServerSession`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Outgoing chunk size announced on accepting the connect (default 4096).
    /// Use the same value for every session so shared media bytes fit all.
    pub chunk_size: u32,
    /// Window Acknowledgement Size sent to the client (default 2 500 000).
    pub window_ack_size: u32,
    /// Set Peer Bandwidth sent to the client (default 2 500 000, dynamic).
    pub peer_bandwidth: u32,
    /// Limits on what the client sends.
    pub decoder: ChunkDecoderConfig,
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
pub struct RequestId(u64);

/// What happened on a [`ServerSession`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The handshake completed; `digest` if it was the digest ("complex") form.
    HandshakeDone {
        /// Whether the client used the digest handshake.
        digest: bool,
    },
    /// connect: answer with [`ServerSession::accept_connect`] or
    /// [`ServerSession::reject_connect`].
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
    /// publish: answer with [`ServerSession::accept_publish`] or
    /// [`ServerSession::reject_publish`].
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
    /// play: answer with [`ServerSession::accept_play`] or
    /// [`ServerSession::reject_play`].
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectState {
    Idle,
    Pending,
    Accepted,
    Rejected,
}

/// A publish or play, pending or accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    stream_id: u32,
    accepted: bool,
}

/// The decision the session waits for.
#[derive(Debug, Clone)]
enum Pending {
    Connect {
        transaction_id: f64,
        object_encoding: f64,
    },
    Publish {
        stream_id: u32,
        name: String,
    },
    Play {
        stream_id: u32,
        reset: bool,
    },
}

/// The server side of one RTMP connection. See the [module docs](self) for
/// the rules it enforces, and the crate docs for the drive loop.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    handshake: Option<ServerHandshake>,
    decoder: ChunkDecoder,
    acks: AckTracker,
    out: Outbox,
    events: VecDeque<ServerEvent>,
    next_req: u64,
    pending: Option<(RequestId, Pending)>,
    parked: VecDeque<Message>,
    parked_bytes: usize,
    connect: ConnectState,
    streams: Vec<u32>,
    next_stream_id: u32,
    publishing: Option<Active>,
    playing: Option<Active>,
    receive_audio: bool,
    receive_video: bool,
    ignored: u64,
    closed: bool,
    failed: Option<Error>,
}

impl ServerSession {
    /// A session waiting for C0/C1.
    pub fn new(config: ServerConfig) -> Self {
        ServerSession {
            handshake: Some(ServerHandshake::new(config.handshake)),
            decoder: ChunkDecoder::new(config.decoder),
            config,
            acks: AckTracker::new(),
            out: Outbox::default(),
            events: VecDeque::new(),
            next_req: 0,
            pending: None,
            parked: VecDeque::new(),
            parked_bytes: 0,
            connect: ConnectState::Idle,
            streams: Vec::new(),
            next_stream_id: 1,
            publishing: None,
            playing: None,
            receive_audio: true,
            receive_video: true,
            ignored: 0,
            closed: false,
            failed: None,
        }
    }

    /// Bytes read from the socket.
    ///
    /// # Errors
    /// A fatal protocol error (malformed bytes, a violation, an unsupported
    /// feature): close the connection. The same error repeats on every
    /// later call.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.input(data);
        if let Err(e) = &r {
            self.fail(e.clone());
        }
        r
    }

    fn fail(&mut self, e: Error) {
        self.failed = Some(e);
        self.closed = true;
        self.parked.clear();
        self.parked_bytes = 0;
    }

    fn input(&mut self, data: &[u8]) -> Result<(), Error> {
        // Spec 5.4.3: acknowledge every window of bytes received, counting
        // the handshake too, as librtmp and nginx-rtmp do.
        if let Some(ack) = self.acks.on_bytes(data.len()) {
            self.out.control(ack);
        }
        if let Some(hs) = &mut self.handshake {
            let status = hs.handle_input(data)?;
            if let Some(t) = hs.poll_transmit() {
                self.out.raw(t);
            }
            if status != HandshakeStatus::Done {
                return Ok(());
            }
            let digest = matches!(hs.kind(), Some(HandshakeKind::Digest(_)));
            let leftover = hs.take_leftover();
            self.handshake = None;
            self.events.push_back(ServerEvent::HandshakeDone { digest });
            self.decoder.push_bytes(leftover);
        } else {
            self.decoder.push(data);
        }
        while let Some(m) = self.decoder.poll_message()? {
            self.on_message(m)?;
        }
        Ok(())
    }

    fn on_message(&mut self, m: Message) -> Result<(), Error> {
        match m.message_type() {
            // Applied by the decoder already (5.4.1, 5.4.2).
            MessageType::SetChunkSize | MessageType::Abort => {}
            MessageType::Acknowledgement => {}
            MessageType::WindowAckSize => {
                if let Some(ProtocolControl::WindowAckSize(w)) =
                    ProtocolControl::decode(m.type_id, &m.payload)?
                {
                    self.acks.set_window(w);
                }
            }
            // The client limiting our output: strom's output is paced by
            // the socket, so it is only validated.
            MessageType::SetPeerBandwidth => {
                ProtocolControl::decode(m.type_id, &m.payload)?;
            }
            MessageType::UserControl => {
                // 7.1.7: "the server sends a ping request … the client
                // responds"; clients ping servers too (FMS compatibility).
                if let UserControl::PingRequest { timestamp } = UserControl::decode(&m.payload)? {
                    self.out
                        .user_control(UserControl::PingResponse { timestamp });
                }
            }
            MessageType::CommandAmf0
            | MessageType::CommandAmf3
            | MessageType::DataAmf0
            | MessageType::DataAmf3
            | MessageType::Audio
            | MessageType::Video
            | MessageType::Aggregate => return self.park_or_dispatch(m),
            _ => self.ignored += 1,
        }
        Ok(())
    }

    fn park_or_dispatch(&mut self, m: Message) -> Result<(), Error> {
        if self.pending.is_none() && self.parked.is_empty() {
            return self.dispatch(m);
        }
        if self.parked.len() >= MAX_PARKED_MESSAGES {
            return Err(Violation::TooManyParked {
                max: MAX_PARKED_MESSAGES,
            }
            .into());
        }
        self.parked_bytes += m.payload.len();
        if self.parked_bytes > MAX_PARKED_BYTES {
            return Err(Violation::TooManyParked {
                max: MAX_PARKED_BYTES,
            }
            .into());
        }
        self.parked.push_back(m);
        Ok(())
    }

    /// Processes held-back messages after a decision, until the next
    /// request (or the end). An error here is stored and returned by the
    /// next [`handle_input`](Self::handle_input).
    fn resume(&mut self) {
        while self.pending.is_none() && self.failed.is_none() {
            let Some(m) = self.parked.pop_front() else {
                break;
            };
            self.parked_bytes -= m.payload.len();
            if let Err(e) = self.dispatch(m) {
                self.fail(e);
            }
        }
    }

    fn dispatch(&mut self, m: Message) -> Result<(), Error> {
        if self.connect == ConnectState::Rejected {
            self.ignored += 1;
            return Ok(());
        }
        match m.message_type() {
            MessageType::CommandAmf0 | MessageType::CommandAmf3 => {
                let cmd = Command::decode_message(&m)?;
                self.on_command(m.stream_id, cmd)
            }
            MessageType::Aggregate => {
                for sub in split_aggregate(&m, AGGREGATE_MAX_SUB_MESSAGES)? {
                    if sub.message_type() == MessageType::Aggregate {
                        // No nesting (7.1.6 describes a flat run of tags).
                        self.ignored += 1;
                    } else {
                        self.dispatch(sub)?;
                    }
                }
                Ok(())
            }
            MessageType::Audio | MessageType::Video => {
                match (
                    MediaKind::from_type_id(m.type_id),
                    self.is_publishing(m.stream_id),
                ) {
                    (Some(kind), true) => self.events.push_back(ServerEvent::Media {
                        stream_id: m.stream_id,
                        kind,
                        timestamp: m.timestamp,
                        payload: m.payload,
                    }),
                    _ => self.ignored += 1,
                }
                Ok(())
            }
            MessageType::DataAmf0 | MessageType::DataAmf3 => {
                let mut body = m.payload.clone();
                // Type 15 bodies start with a format byte; 0 means AMF0
                // follows (as with type 17 commands).
                if m.message_type() == MessageType::DataAmf3 {
                    body = match body.first() {
                        Some(0) => body.slice(1..),
                        _ => {
                            self.ignored += 1;
                            return Ok(());
                        }
                    };
                }
                match metadata::metadata_for_players(&body) {
                    Some(body) if self.is_publishing(m.stream_id) => {
                        self.events.push_back(ServerEvent::Metadata {
                            stream_id: m.stream_id,
                            body,
                        })
                    }
                    _ => self.ignored += 1,
                }
                Ok(())
            }
            _ => {
                self.ignored += 1;
                Ok(())
            }
        }
    }

    fn is_publishing(&self, stream_id: u32) -> bool {
        self.publishing
            == Some(Active {
                stream_id,
                accepted: true,
            })
    }

    fn new_request(&mut self, p: Pending) -> RequestId {
        let req = RequestId(self.next_req);
        self.next_req += 1;
        self.pending = Some((req, p));
        req
    }

    /// The next event, if any. Drain after every call that takes input.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Bytes to write, in order; drain until `None`.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.poll()
    }

    /// Bytes queued for the socket and not yet taken by
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn queued_bytes(&self) -> usize {
        self.out.queued_bytes()
    }

    /// Queues chunk bytes produced by [`encode_media`] (at
    /// [`out_chunk_size`](Self::out_chunk_size)) for a player, unchanged.
    pub fn send_shared(&mut self, chunks: Bytes) {
        self.out.raw(chunks);
    }

    /// Encodes and queues one media message for a player; byte-identical to
    /// [`encode_media`] at this session's chunk size. Audio or video is
    /// dropped if the player turned it off (receiveAudio / receiveVideo).
    pub fn send_media(&mut self, stream_id: u32, kind: MediaKind, timestamp: u32, payload: Bytes) {
        let wanted = match kind {
            MediaKind::Audio => self.receive_audio,
            MediaKind::Video => self.receive_video,
        };
        if wanted {
            let b = encode_media(kind, stream_id, timestamp, &payload, self.out_chunk_size());
            self.out.raw(b);
        }
    }

    /// Queues an `onMetaData` body (as in [`ServerEvent::Metadata`]) for a
    /// player, on the shared data chunk stream.
    pub fn send_metadata(&mut self, stream_id: u32, body: Bytes) {
        let b = encode_media(
            MediaChannel::Data,
            stream_id,
            0,
            &body,
            self.out_chunk_size(),
        );
        self.out.raw(b);
    }

    /// The message stream of the accepted play, if any.
    pub fn play_stream_id(&self) -> Option<u32> {
        self.playing.filter(|a| a.accepted).map(|a| a.stream_id)
    }

    /// The message stream of the accepted publish, if any.
    pub fn publish_stream_id(&self) -> Option<u32> {
        self.publishing.filter(|a| a.accepted).map(|a| a.stream_id)
    }

    /// The outgoing chunk size the peer was told (128 until
    /// [`accept_connect`](Self::accept_connect), then the configured size).
    pub fn out_chunk_size(&self) -> u32 {
        self.out.chunk_size()
    }

    /// Bytes received on the connection, handshake included.
    pub fn bytes_received(&self) -> u64 {
        self.acks.received()
    }

    /// Audio/video messages and data messages dropped because they arrived
    /// outside an accepted publish, and messages of types strom ignores.
    pub fn ignored_messages(&self) -> u64 {
        self.ignored
    }

    /// Whether the player wants audio (receiveAudio, default true).
    pub fn receives_audio(&self) -> bool {
        self.receive_audio
    }

    /// Whether the player wants video (receiveVideo, default true).
    pub fn receives_video(&self) -> bool {
        self.receive_video
    }

    /// Whether the session is over: a fatal error, a rejected connect, or
    /// the client deleted its last stream. Flush pending bytes, then close.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}
