//! The client side of one RTSP connection, sans-IO: pulling a stream (OPTIONS, DESCRIBE,
//! SETUP per track, PLAY) or pushing one (OPTIONS, ANNOUNCE, SETUP with `mode=record`,
//! RECORD), with Basic and Digest authentication, TCP-interleaved or UDP transport (and
//! the fall back from UDP to TCP), keep-alives within the server's session timeout and
//! TEARDOWN.
//!
//! Bytes in ([`ClientSession::handle_input`], zero-copy
//! [`ClientSession::handle_input_bytes`]), events out ([`ClientSession::poll_event`]),
//! bytes to send out ([`ClientSession::poll_transmit`]), time in and out
//! ([`ClientSession::poll_timeout`], [`ClientSession::handle_timeout`]; the rules are in
//! `timers.rs`). One request is in flight at a time; its answer must carry its `CSeq`.
//!
//! ```
//! use std::time::Instant;
//! use rtsp_proto::signal::{ClientConfig, ClientEvent, ClientSession};
//!
//! let now = Instant::now();
//! let config = ClientConfig::play("rtsp://admin:secret@192.0.2.10:554/live/cam1");
//! let mut client = ClientSession::new(config, now)?;
//! // The session starts with OPTIONS; write it to the socket.
//! let first = client.poll_transmit().expect("OPTIONS");
//! assert!(first.starts_with(b"OPTIONS rtsp://192.0.2.10:554/live/cam1 RTSP/1.0\r\nCSeq: 1\r\n"));
//! // Feed what the socket reads; the answer moves the session on to DESCRIBE.
//! client.handle_input(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: DESCRIBE, SETUP, PLAY\r\n\r\n", now)?;
//! assert!(client.poll_transmit().expect("DESCRIBE").starts_with(b"DESCRIBE "));
//! while let Some(event) = client.poll_event() {
//!     match event {
//!         ClientEvent::Described { sdp, .. } => { /* set up the stream from sdp */ }
//!         ClientEvent::Interleaved { channel, data } => { /* RTP/RTCP */ }
//!         _ => {}
//!     }
//! }
//! // Sleep until the next read or client.poll_timeout(); then client.handle_timeout(t).
//! assert!(client.poll_timeout().is_some());
//! # Ok::<(), rtsp_proto::signal::ClientError>(())
//! ```

mod auth;
mod flow;
mod input;
mod timers;

#[cfg(test)]
mod deadline_tests;
#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod tests;

pub use timers::ClientTimeout;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use thiserror::Error;

use self::auth::{split_userinfo, Challenge};
use super::auth::Credentials;
use super::error::ParseError;
use super::framing::encode_interleaved;
use super::message::{Limits, Method, Request, Response};
use super::rtp_info::RtpInfo;
use super::sdp::Sdp;
use super::transport::Transport;
use super::url::RtspUrl;

/// What the client does once connected.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMode {
    /// Pull: DESCRIBE, SETUP every track of the answer, PLAY.
    Play,
    /// Push: ANNOUNCE `sdp`, SETUP each of its tracks with `mode=record`, RECORD. Tracks
    /// without `a=control` get `streamid=N`.
    Record {
        /// The description of the stream to publish.
        sdp: Box<Sdp>,
    },
}

/// How RTP travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTransport {
    /// Interleaved on the RTSP connection (`RTP/AVP/TCP`), channels `2n`, `2n+1` for track n.
    Tcp,
    /// RTP/AVP over UDP to the caller's sockets.
    Udp {
        /// RTP and RTCP ports of the caller's sockets, one pair per track in SDP order.
        client_ports: Vec<(u16, u16)>,
    },
    /// UDP first, TCP when the server answers a SETUP 461 (Unsupported Transport), when
    /// the caller calls [`ClientSession::fallback_to_tcp`], or when a UDP play gets no
    /// media for [`ClientTimeouts::media_idle`] (then the session tears down and sets up
    /// again over TCP, once).
    Auto {
        /// As for [`ClientTransport::Udp`].
        client_ports: Vec<(u16, u16)>,
    },
}

/// The client's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// How long each request waits for its answer (default 10 s).
    pub response: Duration,
    /// The session timeout assumed when the server's `Session` header gives none (RFC
    /// 2326 §12.37 default, 60 s); keep-alives (GET_PARAMETER when the server's `Public`
    /// lists it, else OPTIONS) go at half the session timeout.
    pub keep_alive: Duration,
    /// While playing, no RTP (interleaved, or [`ClientSession::note_media`] for UDP) for
    /// this long ends the session (default 10 s).
    pub media_idle: Duration,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        ClientTimeouts {
            response: Duration::from_secs(10),
            keep_alive: Duration::from_secs(60),
            media_idle: Duration::from_secs(10),
        }
    }
}

/// Configuration of a [`ClientSession`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// `rtsp://[user:pass@]host[:port]/path[?query]`; the user info is removed from the
    /// Request-URIs and used as credentials unless [`credentials`](Self::credentials) is set.
    pub url: String,
    /// Credentials answering a 401 (take precedence over the URL's).
    pub credentials: Option<Credentials>,
    /// Play or record.
    pub mode: ClientMode,
    /// TCP, UDP or automatic.
    pub transport: ClientTransport,
    /// `User-Agent` header value.
    pub user_agent: String,
    /// Deadlines.
    pub timeouts: ClientTimeouts,
    /// Size limits of the server's messages.
    pub limits: Limits,
    /// Seed of the Digest client nonces (e.g. random per connection).
    pub seed: u64,
}

impl ClientConfig {
    /// Play `url` over TCP with the default timeouts and limits.
    pub fn play(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            credentials: None,
            mode: ClientMode::Play,
            transport: ClientTransport::Tcp,
            user_agent: "strom".into(),
            timeouts: ClientTimeouts::default(),
            limits: Limits::default(),
            seed: 0,
        }
    }

    /// Record (publish) `sdp` to `url` over TCP.
    pub fn record(url: impl Into<String>, sdp: Sdp) -> Self {
        ClientConfig {
            mode: ClientMode::Record { sdp: Box::new(sdp) },
            ..ClientConfig::play(url)
        }
    }
}

/// Where the client is (RFC 2326 §A.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// OPTIONS, DESCRIBE or ANNOUNCE.
    Init,
    /// Setting up tracks (or set up, PLAY/RECORD in flight).
    Ready,
    /// PLAY answered 2xx.
    Playing,
    /// RECORD answered 2xx.
    Recording,
    /// Ended (see the last event).
    Closed,
}

/// A track of the presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTrack {
    /// The SETUP URL (the control resolved against the base, RFC 2326 §C.1.1).
    pub url: String,
    /// The transport the server answered, once set up.
    pub transport: Option<Transport>,
}

/// What the session tells the caller.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// DESCRIBE answered: the presentation and the base its controls resolve against.
    Described {
        /// The description.
        sdp: Sdp,
        /// Content-Base, Content-Location or the request URL.
        base: String,
    },
    /// Track `track` (SDP order) is set up; for UDP, `transport.server_port` says where
    /// the server sends from (and where RECORD media goes).
    SetUp {
        /// Track index.
        track: usize,
        /// The transport as answered.
        transport: Transport,
    },
    /// PLAY answered 2xx: media flows.
    Playing {
        /// The `RTP-Info` of the answer, if any and parsable.
        rtp_info: Option<RtpInfo>,
    },
    /// RECORD answered 2xx: send media ([`ClientSession::send_interleaved`] over TCP).
    Recording,
    /// Interleaved data from the server.
    Interleaved {
        /// Channel.
        channel: u8,
        /// The packet (a zero-copy slice of the input when possible).
        data: Bytes,
    },
    /// A request was refused (non-2xx after authentication was tried, or 401 without
    /// usable credentials); the session is closed.
    Failed {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
    },
    /// A deadline passed; the session is closed.
    TimedOut {
        /// Which one.
        what: ClientTimeout,
    },
    /// The server broke the protocol (wrong CSeq, unparsable input or answer); the
    /// session is closed.
    Error(ClientError),
    /// TEARDOWN answered (or [`ClientSession::close`] before any session existed).
    Closed,
}

/// Why a [`ClientSession`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configured URL does not parse.
    #[error("invalid RTSP URL: {0}")]
    Url(ParseError),
    /// The server's byte stream can no longer be framed (or a response head is malformed).
    #[error("unrecoverable input: {0}")]
    Framing(ParseError),
    /// A response whose `CSeq` is not the one of the request in flight (or none in flight).
    #[error("response CSeq {got:?} does not match the request in flight ({expected:?})")]
    CSeqMismatch {
        /// The CSeq of the request in flight.
        expected: Option<u32>,
        /// The response's.
        got: Option<u32>,
    },
    /// A 2xx answer the client cannot use (e.g. SDP that does not parse).
    #[error("bad {what} in the answer: {detail}")]
    BadAnswer {
        /// Which part.
        what: &'static str,
        /// Details.
        detail: String,
    },
    /// UDP transport without client ports for this track.
    #[error("no client ports for track {track}")]
    NoClientPorts {
        /// Track index.
        track: usize,
    },
    /// The session is closed; no more input is accepted.
    #[error("session closed")]
    Closed,
}

/// The request in flight.
#[derive(Debug)]
struct InFlight {
    cseq: u32,
    kind: Kind,
    /// The request without CSeq, Session and Authorization (to resend after a 401).
    request: Request,
    sent: Instant,
    auth_tries: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Options,
    Describe,
    Announce,
    Setup(usize),
    Play,
    Record,
    KeepAlive,
    Teardown { restart: bool },
}

/// One RTSP connection's client state machine (see the module docs).
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    /// The request URL (no user info).
    url: String,
    credentials: Option<Credentials>,
    state: ClientState,
    inbuf: BytesMut,
    /// Don't frame before the buffer holds this many bytes.
    need: usize,
    /// Bytes of the current head already searched for its end.
    scanned: usize,
    events: VecDeque<ClientEvent>,
    transmit: VecDeque<Bytes>,
    queued: usize,
    cseq: u32,
    in_flight: Option<InFlight>,
    challenge: Option<Challenge>,
    nc: u32,
    stale_retried: bool,
    session_id: Option<String>,
    session_timeout: Duration,
    get_parameter: bool,
    /// The aggregate URL (PLAY, RECORD, TEARDOWN, keep-alives).
    aggregate: String,
    tracks: Vec<ClientTrack>,
    use_tcp: bool,
    fell_back: bool,
    /// TEARDOWN to send once the request in flight is answered (`true`: then restart).
    teardown_after: Option<bool>,
    last_request: Instant,
    last_media: Instant,
}

impl ClientSession {
    /// A session for a new connection: queues the first OPTIONS at `now`.
    ///
    /// # Errors
    /// [`ClientError::Url`] if the URL does not parse.
    pub fn new(config: ClientConfig, now: Instant) -> Result<Self, ClientError> {
        let (url, from_url) = split_userinfo(config.url.trim());
        RtspUrl::parse(&url).map_err(ClientError::Url)?;
        let credentials = config.credentials.clone().or(from_url);
        let use_tcp = config.transport == ClientTransport::Tcp;
        let session_timeout = config.timeouts.keep_alive;
        let mut s = ClientSession {
            config,
            aggregate: url.clone(),
            url,
            credentials,
            state: ClientState::Init,
            inbuf: BytesMut::new(),
            need: 0,
            scanned: 0,
            events: VecDeque::new(),
            transmit: VecDeque::new(),
            queued: 0,
            cseq: 0,
            in_flight: None,
            challenge: None,
            nc: 0,
            stale_retried: false,
            session_id: None,
            session_timeout,
            get_parameter: false,
            tracks: Vec::new(),
            use_tcp,
            fell_back: false,
            teardown_after: None,
            last_request: now,
            last_media: now,
        };
        let uri = s.url.clone();
        s.send(Kind::Options, Request::new(Method::Options, uri), now);
        Ok(s)
    }

    /// The state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The session id the server gave, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The tracks (after DESCRIBE or ANNOUNCE), in SDP order.
    pub fn tracks(&self) -> &[ClientTrack] {
        &self.tracks
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
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
    /// copied), e.g. RTP while recording over TCP. `false` (dropped) when the payload is
    /// over 65535 bytes or the session is closed.
    pub fn send_interleaved(&mut self, channel: u8, payload: Bytes) -> bool {
        let Some(header) = encode_interleaved(channel, &payload) else {
            return false;
        };
        if self.state == ClientState::Closed {
            return false;
        }
        self.push_transmit(Bytes::copy_from_slice(&header));
        self.push_transmit(payload);
        true
    }

    /// Ends the session: TEARDOWN (after the answer to the request in flight, if any),
    /// then [`ClientEvent::Closed`] when it is answered; at once when no session exists.
    pub fn close(&mut self, now: Instant) {
        if self.state == ClientState::Closed {
            return;
        }
        if self.session_id.is_none() {
            self.finish(ClientEvent::Closed);
            return;
        }
        self.teardown_after = Some(false);
        if self.in_flight.is_none() {
            self.send_teardown(now);
        }
    }

    /// Falls back from UDP to TCP (the caller's UDP sockets got nothing): TEARDOWN, then
    /// SETUP every track again interleaved and PLAY (or RECORD). No effect when the
    /// tracks are already on TCP or the session is closed.
    pub fn fallback_to_tcp(&mut self, now: Instant) {
        if self.use_tcp || self.state == ClientState::Closed {
            return;
        }
        self.use_tcp = true;
        self.fell_back = true;
        if self.session_id.is_none() {
            return; // Nothing set up yet: the next SETUP asks for TCP.
        }
        self.state = ClientState::Ready;
        if self.teardown_after.is_none() {
            self.teardown_after = Some(true);
        }
        if self.in_flight.is_none() {
            self.send_teardown(now);
        }
    }

    /// Alias of [`fallback_to_tcp`](Self::fallback_to_tcp), for the caller whose UDP
    /// sockets were silent.
    pub fn udp_silent(&mut self, now: Instant) {
        self.fallback_to_tcp(now);
    }

    /// Records RTP received at `now` outside the connection (UDP): keeps the media-idle
    /// deadline. Applies a passed deadline first, as [`handle_timeout`](Self::handle_timeout).
    pub fn note_media(&mut self, now: Instant) {
        self.handle_timeout(now);
        self.last_media = self.last_media.max(now);
    }

    fn push_transmit(&mut self, b: Bytes) {
        self.queued += b.len();
        self.transmit.push_back(b);
    }

    /// Ends the session with a terminal event.
    fn finish(&mut self, event: ClientEvent) {
        if self.state != ClientState::Closed {
            self.state = ClientState::Closed;
            self.in_flight = None;
            self.events.push_back(event);
        }
    }

    /// Sends `request` (CSeq, User-Agent, Session and Authorization added) as `kind`.
    fn send(&mut self, kind: Kind, request: Request, now: Instant) {
        self.cseq = self.cseq.wrapping_add(1);
        let mut wire = Request::new(request.method.clone(), request.uri.clone());
        wire.headers.append("CSeq", self.cseq.to_string());
        wire.headers
            .append("User-Agent", self.config.user_agent.clone());
        if let Some(id) = &self.session_id {
            wire.headers.append("Session", id.clone());
        }
        if let (Some(ch), Some(creds)) = (&self.challenge, &self.credentials) {
            self.nc = self.nc.wrapping_add(1);
            let cnonce =
                super::auth::derive_nonce(&self.config.seed.to_be_bytes(), u64::from(self.nc));
            let cnonce = cnonce.get(..16).unwrap_or(&cnonce);
            let value = ch.authorization(
                creds,
                request.method.as_str(),
                &request.uri,
                self.nc,
                cnonce,
            );
            wire.headers.append("Authorization", value);
        }
        for (n, v) in request.headers.iter() {
            wire.headers.append(n, v);
        }
        wire.body = request.body.clone();
        let mut out = BytesMut::new();
        wire.encode(&mut out);
        self.push_transmit(out.freeze());
        self.last_request = now;
        self.in_flight = Some(InFlight {
            cseq: self.cseq,
            kind,
            request,
            sent: now,
            auth_tries: 0,
        });
    }

    fn send_teardown(&mut self, now: Instant) {
        let restart = self.teardown_after.take().unwrap_or(false);
        let uri = self.aggregate.clone();
        self.send(
            Kind::Teardown { restart },
            Request::new(Method::Teardown, uri),
            now,
        );
    }

    /// Answers a request from the server (RFC 2326 allows OPTIONS, GET_PARAMETER,
    /// SET_PARAMETER, ANNOUNCE, REDIRECT): 200 for the first three, 501 otherwise.
    fn answer_server_request(&mut self, req: &Request) {
        let status = match req.method {
            Method::Options | Method::GetParameter | Method::SetParameter => 200,
            _ => 501,
        };
        let mut r = Response::new(status);
        if let Some(c) = req.headers.cseq() {
            r.headers.append("CSeq", c.to_string());
        }
        let mut out = BytesMut::new();
        r.encode(&mut out);
        self.push_transmit(out.freeze());
    }
}
