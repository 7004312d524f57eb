//! The server side of one RTSP connection, sans-IO (RFC 2326 §A.2 server state machine).
//!
//! Bytes in ([`ServerSession::handle_input`], zero-copy
//! [`ServerSession::handle_input_bytes`]), events out ([`ServerSession::poll_event`]),
//! bytes to send out ([`ServerSession::poll_transmit`]), time in and out
//! ([`ServerSession::poll_timeout`], [`ServerSession::handle_timeout`]; the rules are in
//! `timers.rs`). Requests that need policy (DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD,
//! PAUSE) become events carrying a [`RequestId`]; the caller answers each with
//! [`ServerSession::respond`] — any of them with 401 after checking
//! [`ServerSession::request`]'s `Authorization` header. OPTIONS, GET_PARAMETER,
//! SET_PARAMETER and TEARDOWN the session answers itself.

#[cfg(test)]
mod deadline_tests;
mod handle;
mod input;
mod reply;
#[cfg(test)]
mod tests;
mod timers;

pub use reply::{content_base, Reply};
pub use timers::Timeout;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::error::SessionError;
use super::framing::encode_interleaved;
use super::message::{Limits, Request, Response};
use super::range::Range;
use super::sdp::Sdp;
use super::transport::Transport;
use super::url::RtspUrl;

/// Methods listed in the `Public` header of the OPTIONS answer (RFC 2326 §12.28).
pub const PUBLIC_METHODS: &str =
    "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, PAUSE, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

/// Requests held back while an earlier one waits for the caller; more is an error.
pub(crate) const MAX_DEFERRED: usize = 16;

/// Configuration of a [`ServerSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Seconds without a request, RTCP or [`ServerSession::note_activity`] before a
    /// session that is neither in its handshake nor recording is closed (players, playing
    /// or paused); sent as `Session: id;timeout=N` (RFC 2326 §12.37).
    pub session_timeout_secs: u32,
    /// From the session's creation until a PLAY or RECORD is answered 2xx; requests do not
    /// extend it ([`Timeout::Handshake`]).
    pub handshake_timeout: Duration,
    /// A recording session with no RTP on a recorded track for this long is closed
    /// ([`Timeout::PublisherIdle`]); requests and RTCP do not count, interleaved RTP on a
    /// set-up RTP channel and [`ServerSession::note_media`] do.
    pub record_idle_timeout: Duration,
    /// `Server` header value.
    pub server_name: String,
    /// Largest interleaved frame accepted from the peer, bytes (at most 65535).
    pub max_interleaved: usize,
    /// Message size limits.
    pub limits: Limits,
    /// Whether SETUP may choose RTP over UDP (`RTP/AVP;unicast;client_port=`); when false
    /// only `RTP/AVP/TCP` interleaved is offered to the caller, others get 461.
    pub allow_udp: bool,
    /// Malformed requests in a row tolerated (each answered 400) before giving up.
    pub max_malformed: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            session_timeout_secs: 60,
            handshake_timeout: Duration::from_secs(15),
            record_idle_timeout: Duration::from_secs(15),
            server_name: "strom".into(),
            max_interleaved: 65535,
            limits: Limits::default(),
            allow_udp: true,
            max_malformed: 8,
        }
    }
}

/// Session state (RFC 2326 §A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No track set up.
    Init,
    /// At least one track set up; not playing or recording.
    Ready,
    /// PLAY accepted.
    Playing,
    /// RECORD accepted.
    Recording,
}

/// Names one request waiting for the caller's [`ServerSession::respond`]; unique within a
/// session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u32);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A track the client SETUP and the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupTrack {
    /// The SETUP Request-URI (for `RTP-Info`).
    pub url: String,
    /// The control suffix (`trackID=0`, `streamid=1`), if the URL had one.
    pub control: Option<String>,
    /// The transport as answered.
    pub transport: Transport,
}

/// What the session tells the caller.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// DESCRIBE: answer with [`Reply::describe`] or e.g. 404.
    Describe {
        /// Answer with this id.
        request_id: RequestId,
        /// The presentation URL.
        url: RtspUrl,
    },
    /// ANNOUNCE with a parsed SDP: the client wants to publish. Answer 200 or e.g. 403.
    Announce {
        /// Answer with this id.
        request_id: RequestId,
        /// The presentation URL.
        url: RtspUrl,
        /// The announced description.
        sdp: Sdp,
    },
    /// SETUP of a track with a transport strom supports (others were answered 461).
    /// Answer with [`Reply::setup`] (for UDP: with `server_port` filled in; `ssrc` if
    /// known) or [`Reply::ok`] (echo the client's spec).
    Setup {
        /// Answer with this id.
        request_id: RequestId,
        /// The track URL.
        url: RtspUrl,
        /// The control suffix (`trackID=0`), also in `url.track`.
        track: Option<String>,
        /// The client's chosen spec; for TCP without `interleaved=`, the session filled in
        /// the next free channel pair.
        transport: Transport,
    },
    /// PLAY: answer with [`Reply::play`]; media may flow after the answer is sent.
    Play {
        /// Answer with this id.
        request_id: RequestId,
        /// The presentation (or track) URL.
        url: RtspUrl,
        /// The requested range, if any.
        range: Option<Range>,
    },
    /// RECORD: answer 200 to start accepting media.
    Record {
        /// Answer with this id.
        request_id: RequestId,
        /// The presentation URL.
        url: RtspUrl,
    },
    /// PAUSE while playing or recording.
    Pause {
        /// Answer with this id.
        request_id: RequestId,
    },
    /// TEARDOWN, already answered 200; the tracks are released and the state is Init.
    Teardown,
    /// Interleaved data from the client (RTP/RTCP; see [`ServerSession::track_for_channel`]).
    Interleaved {
        /// Channel.
        channel: u8,
        /// The packet (a zero-copy slice of the input).
        data: Bytes,
    },
    /// A deadline passed ([`ServerSession::handle_timeout`]): the session is closed; the
    /// caller closes the connection.
    TimedOut {
        /// Which deadline.
        what: Timeout,
    },
    /// A response from the client (e.g. to a server request); informational.
    ClientResponse(Response),
    /// A request that was answered with an error by the session itself (400, 454, 455,
    /// 457, 461, 501...), for logs and counters.
    Rejected {
        /// The status sent.
        status: u16,
        /// Why.
        reason: String,
    },
}

/// One RTSP connection's server state machine: bytes and instants in, events and
/// replies out (see [`Event`] and [`Reply`]).
#[derive(Debug)]
pub struct ServerSession {
    config: SessionConfig,
    session_id: String,
    state: SessionState,
    inbuf: BytesMut,
    scan: HeadScan,
    events: VecDeque<Event>,
    transmit: VecDeque<Bytes>,
    queued: usize,
    pending: BTreeMap<RequestId, Pending>,
    deferred: VecDeque<Request>,
    next_request_id: u32,
    tracks: Vec<SetupTrack>,
    /// `app/stream` of the presentation, from DESCRIBE/ANNOUNCE.
    presentation: Option<String>,
    announced: bool,
    malformed_in_row: u32,
    /// When the session was created (the handshake deadline counts from here).
    created: Instant,
    /// A PLAY or RECORD was answered 2xx: the handshake is over.
    started: bool,
    /// Last request, RTCP or noted activity (the session timeout counts from here).
    last_activity: Instant,
    /// Last RTP on a recorded track, or when RECORD was answered (record idle counts from
    /// here).
    last_media: Instant,
    /// The latest instant any call told the session (`respond` has none).
    last_now: Instant,
    closed: bool,
}

/// Progress through the input buffer, so that bytes arriving one at a time are not
/// rescanned from the start each time.
#[derive(Debug, Default)]
struct HeadScan {
    /// Don't try to frame before the buffer holds this many bytes.
    need: usize,
    /// Start of the first line not known to be complete.
    from: usize,
    /// Complete head lines seen.
    lines: usize,
    /// The empty line ending the head has been seen.
    head_complete: bool,
}

#[derive(Debug)]
struct Pending {
    request: Request,
    cseq: u32,
    /// For SETUP: the requested transport and the control.
    setup: Option<(Transport, Option<String>)>,
    /// For DESCRIBE/ANNOUNCE: the presentation path.
    presentation: Option<String>,
}

/// A session id from a caller-supplied seed (e.g. random per connection): 16 characters of
/// `[0-9A-Za-z]` (RFC 2326 §3.4: at least eight octets, hard to guess if the seed is).
pub fn session_id_from_seed(seed: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut x = seed;
    (0..16)
        .map(|_| {
            // splitmix64
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ALPHABET
                .get((z % 62) as usize)
                .copied()
                .map_or('0', char::from)
        })
        .collect()
}

impl ServerSession {
    /// A session for a new connection. `session_id` is what the `Session` header will
    /// carry (e.g. [`session_id_from_seed`]); `now` starts the handshake deadline.
    pub fn new(config: SessionConfig, session_id: impl Into<String>, now: Instant) -> Self {
        ServerSession {
            config,
            session_id: session_id.into(),
            state: SessionState::Init,
            inbuf: BytesMut::new(),
            scan: HeadScan::default(),
            events: VecDeque::new(),
            transmit: VecDeque::new(),
            queued: 0,
            pending: BTreeMap::new(),
            deferred: VecDeque::new(),
            next_request_id: 1,
            tracks: Vec::new(),
            presentation: None,
            announced: false,
            malformed_in_row: 0,
            created: now,
            started: false,
            last_activity: now,
            last_media: now,
            last_now: now,
            closed: false,
        }
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The tracks set up so far, in SETUP order.
    pub fn tracks(&self) -> &[SetupTrack] {
        &self.tracks
    }

    /// The track whose interleaved pair contains `channel`, and whether `channel` is its
    /// RTCP (second) channel.
    pub fn track_for_channel(&self, channel: u8) -> Option<(usize, bool)> {
        self.tracks
            .iter()
            .enumerate()
            .find_map(|(i, t)| match t.transport.interleaved {
                Some((rtp, _)) if rtp == channel => Some((i, false)),
                Some((_, rtcp)) if rtcp == channel => Some((i, true)),
                _ => None,
            })
    }

    /// The pending request `request_id` (e.g. to check its `Authorization`).
    pub fn request(&self, request_id: RequestId) -> Option<&Request> {
        self.pending.get(&request_id).map(|p| &p.request)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let b = self.transmit.pop_front()?;
        self.queued -= b.len();
        Some(b)
    }

    /// Bytes queued for sending.
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// Queues an interleaved frame (header and payload as two `Bytes`, the payload not
    /// copied). Payloads over 65535 bytes cannot be framed and are dropped (`false`).
    pub fn send_interleaved(&mut self, channel: u8, payload: Bytes) -> bool {
        let Some(header) = encode_interleaved(channel, &payload) else {
            return false;
        };
        self.push_transmit(Bytes::copy_from_slice(&header));
        self.push_transmit(payload);
        true
    }

    /// Answers the pending request `request_id`. A 2xx answer moves the state:
    /// SETUP → Ready (track recorded), PLAY → Playing, RECORD → Recording, PAUSE → Ready,
    /// ANNOUNCE → publishing allowed (RECORD becomes valid). A 2xx answer to PLAY or RECORD
    /// ends the handshake; to RECORD, it starts the record-idle clock at the latest instant
    /// the session was told (this call takes none; see [`poll_timeout`](Self::poll_timeout)).
    pub fn respond(&mut self, request_id: RequestId, reply: Reply) -> Result<(), SessionError> {
        let p = self
            .pending
            .remove(&request_id)
            .ok_or(SessionError::UnknownRequest(request_id))?;
        self.apply_reply(p, reply);
        self.run_deferred();
        Ok(())
    }

    fn push_transmit(&mut self, b: Bytes) {
        self.queued += b.len();
        self.transmit.push_back(b);
    }
}
