//! [`ServerSession`]: the server side of one RTMP connection, sans-IO.
//!
//! The session answers on its own everything real clients need that is not
//! policy (releaseStream, FCPublish, createStream, getStreamLength, pings,
//! acknowledgements, chunk sizes) and asks the application, through
//! [`ServerEvent`]s carrying a [`RequestId`], to accept or reject connect,
//! publish and play.
//!
//! Rules it enforces (each a fatal
//! [`Violation::OutOfOrder`](crate::error::Violation::OutOfOrder) unless noted):
//! - nothing but connect before connect is accepted; publish and play only
//!   on a message stream created by createStream;
//! - one publish or play at a time per connection: a second one is refused
//!   with an error `onStatus` (not fatal);
//! - media and metadata count only on an accepted publishing stream.
//!   Anything else is dropped and counted ([`ServerSession::ignored_messages`]),
//!   not an error: encoders keep sending for a moment after FCUnpublish and
//!   while a refusal is in flight, and closing them for it helps no one.
//!
//! Until the application accepts a publish or play, the peer has not been
//! vouched for: its messages are limited by [`ServerConfig::pre_accept`]
//! (64 KiB per message, 128 KiB in partial and held-back messages, 8 chunk
//! streams by default), refused as soon as a chunk header announces more;
//! the normal limits ([`ServerConfig::decoder`]) apply from the accept on.
//!
//! While the application decides on a request, later commands and media are
//! held back (up to [`MAX_PARKED_MESSAGES`] / [`MAX_PARKED_BYTES`]) and
//! processed after the answer, so a client that pipelines (sends publish
//! and its first frames without waiting) sees them in order. Protocol
//! control messages (chunk size, window, ping) are never held back.
//!
//! Time is part of the contract (DESIGN.md rule 10): the session takes `now`
//! with every input, reports its next deadline through
//! [`ServerSession::poll_timeout`] and closes itself with
//! [`ServerEvent::TimedOut`] when [`ServerSession::handle_timeout`] finds one
//! passed (the rules: [`ServerTimeouts`]).

mod answers;
mod commands;
mod deadlines;
mod receive;
mod types;

pub use types::{Decision, RequestId, ServerConfig, ServerEvent, ServerTimeouts, Timeout};

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::outbox::Outbox;
use super::shared::{encode_media_parts, MediaChannel};
use super::MediaKind;
use crate::chunk::ChunkDecoder;
use crate::error::Error;
use crate::handshake::{HandshakeKind, HandshakeStatus, ServerHandshake};
use crate::message::{AckTracker, Message};
use deadlines::Deadlines;

/// Most messages held back while a request is pending.
pub const MAX_PARKED_MESSAGES: usize = 1024;
/// Most payload bytes held back while a request is pending.
pub const MAX_PARKED_BYTES: usize = 16 * 1024 * 1024;
/// Most message streams one connection may create (real clients create one).
pub const MAX_STREAMS: usize = 8;

/// Received bytes, borrowed or owned.
enum Input<'a> {
    Slice(&'a [u8]),
    Owned(Bytes),
}

impl Input<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Input::Slice(s) => s,
            Input::Owned(b) => b,
        }
    }
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
///
/// The contract with the IO driver:
/// - after [`handle_input`](Self::handle_input), after every
///   [`respond`](Self::respond) and after
///   [`handle_timeout`](Self::handle_timeout), drain
///   [`poll_event`](Self::poll_event), then write everything
///   [`poll_transmit`](Self::poll_transmit) gives, in order;
/// - sleep no later than [`poll_timeout`](Self::poll_timeout), then call
///   [`handle_timeout`](Self::handle_timeout) with the current time;
/// - an `Err` from `handle_input`, or [`is_closed`](Self::is_closed)
///   becoming true, ends the connection (flush what is queued first: it may
///   hold the answer that explains why);
/// - the session never reads a clock: handshake and publisher-idle
///   deadlines are computed from the `now`s it is given; the player write
///   stall is the driver's (it alone sees the socket).
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
    deadlines: Deadlines,
    /// The latest `now` the session was given.
    last_now: Instant,
}

impl ServerSession {
    /// A session waiting for C0/C1, created at `now` (the handshake
    /// deadline counts from here).
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        ServerSession {
            deadlines: Deadlines::new(now, &config.timeouts),
            last_now: now,
            handshake: Some(ServerHandshake::new(config.handshake)),
            decoder: ChunkDecoder::new(config.pre_accept),
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

    /// Bytes read from the socket at `now`.
    ///
    /// It first calls [`handle_timeout`](Self::handle_timeout)`(now)`: input
    /// that arrives after a deadline passed does not revive the session, it
    /// gets [`Error::TimedOut`] (and the [`ServerEvent::TimedOut`] event).
    ///
    /// # Errors
    /// A fatal protocol error (malformed bytes, a violation, an unsupported
    /// feature) or a passed deadline: close the connection. The same error
    /// repeats on every later call.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), Error> {
        self.guarded(Input::Slice(data), now)
    }

    /// Like [`handle_input`](Self::handle_input), taking ownership: when the
    /// session holds no partial chunk, the buffer is reused without a copy,
    /// so [`ServerEvent::Media`] payloads that came in one chunk are slices
    /// of it (pass `read_buf.split().freeze()`).
    ///
    /// # Errors
    /// As [`handle_input`](Self::handle_input).
    pub fn handle_input_bytes(&mut self, data: Bytes, now: Instant) -> Result<(), Error> {
        self.guarded(Input::Owned(data), now)
    }

    fn guarded(&mut self, data: Input<'_>, now: Instant) -> Result<(), Error> {
        self.handle_timeout(now);
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
        self.pending = None;
        self.parked.clear();
        self.parked_bytes = 0;
    }

    fn input(&mut self, data: Input<'_>) -> Result<(), Error> {
        // Spec 5.4.3: acknowledge every window of bytes received, counting
        // the handshake too, as librtmp and nginx-rtmp do.
        if let Some(ack) = self.acks.on_bytes(data.as_slice().len()) {
            self.out.control(ack);
        }
        if let Some(hs) = &mut self.handshake {
            let status = hs.handle_input(data.as_slice())?;
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
            match data {
                Input::Slice(s) => self.decoder.push(s),
                Input::Owned(b) => self.decoder.push_bytes(b),
            }
        }
        while let Some(m) = self.decoder.poll_message()? {
            self.on_message(m)?;
        }
        Ok(())
    }

    /// Lifts the pre-accept limits: called when a publish or play is
    /// accepted (the server vouched for the peer).
    fn lift_limits(&mut self) {
        self.decoder.set_config(self.config.decoder);
    }

    /// Most payload bytes held back while a request is pending: small until
    /// a publish or play is accepted.
    fn parked_limit(&self) -> usize {
        if self.publish_stream_id().is_some() || self.play_stream_id().is_some() {
            MAX_PARKED_BYTES
        } else {
            MAX_PARKED_BYTES.min(self.config.pre_accept.max_buffered_bytes)
        }
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
    ///
    /// [`encode_media`]: super::encode_media
    pub fn send_shared(&mut self, chunks: Bytes) {
        self.out.raw(chunks);
    }

    /// Queues the parts of a chunked message produced by
    /// [`encode_media_parts`] (at [`out_chunk_size`](Self::out_chunk_size))
    /// for a player, unchanged and in order: each comes out of
    /// [`poll_transmit`](Self::poll_transmit) as it is, for a vectored write.
    pub fn send_shared_parts<'a>(&mut self, parts: impl IntoIterator<Item = &'a Bytes>) {
        for p in parts {
            self.out.raw(p.clone());
        }
    }

    /// Encodes and queues one media message for a player; byte-identical to
    /// [`encode_media`](super::encode_media) at this session's chunk size,
    /// and `payload` is not copied. Audio or video is dropped if the player
    /// turned it off (receiveAudio / receiveVideo).
    pub fn send_media(&mut self, stream_id: u32, kind: MediaKind, timestamp: u32, payload: Bytes) {
        self.send_media_parts(stream_id, kind, timestamp, &[], &payload);
    }

    /// [`send_media`](Self::send_media) of the body `header` + `payload`
    /// (an FLV tag-body header and a frame), without joining them.
    pub fn send_media_parts(
        &mut self,
        stream_id: u32,
        kind: MediaKind,
        timestamp: u32,
        header: &[u8],
        payload: &Bytes,
    ) {
        let wanted = match kind {
            MediaKind::Audio => self.receive_audio,
            MediaKind::Video => self.receive_video,
        };
        if wanted {
            let chunk = self.out_chunk_size();
            for p in encode_media_parts(kind, stream_id, timestamp, header, payload, chunk) {
                self.out.raw(p);
            }
        }
    }

    /// Queues an `onMetaData` body (as in [`ServerEvent::Metadata`]) for a
    /// player, on the shared data chunk stream.
    pub fn send_metadata(&mut self, stream_id: u32, body: Bytes) {
        let chunk = self.out_chunk_size();
        for p in encode_media_parts(MediaChannel::Data, stream_id, 0, &[], &body, chunk) {
            self.out.raw(p);
        }
    }

    /// The message stream of the accepted play, if any.
    pub fn play_stream_id(&self) -> Option<u32> {
        self.playing.filter(|a| a.accepted).map(|a| a.stream_id)
    }

    /// The message stream of the accepted publish, if any.
    pub fn publish_stream_id(&self) -> Option<u32> {
        self.publishing.filter(|a| a.accepted).map(|a| a.stream_id)
    }

    /// The outgoing chunk size the peer was told (128 until the connect is
    /// accepted, then the configured size).
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

    /// Whether the session is over: a fatal error, a passed deadline, a
    /// rejected connect, or the client deleted its last stream. Flush pending bytes, then close.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}
