//! RTSP 1.0 signalling (RFC 2326), sans-IO: messages and their limits ([`parse_message`]),
//! `$` interleaving ([`read_incoming`], [`encode_interleaved`]), the `Transport`, `Range`
//! and `RTP-Info` headers, URLs ([`RtspUrl`]), SDP ([`Sdp`], typed [`MediaInfo`],
//! [`describe_sdp`]), server authentication ([`Authenticator`]), the per-connection
//! server state machine ([`ServerSession`]) and the client one ([`ClientSession`], pulling
//! or pushing a stream; its module docs have an example).
//!
//! Driving a [`ServerSession`]: bytes and instants in, events and bytes out; policy (does
//! the stream exist, may this user publish) stays with the caller, which answers each
//! request event with [`ServerSession::respond`].
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use rtsp_proto::signal::{
//!     content_base, describe_sdp, session_id_from_seed, DescribeOptions, Event, Range, Reply,
//!     ServerSession, SessionConfig, Timeout,
//! };
//!
//! let now = Instant::now();
//! let mut session = ServerSession::new(SessionConfig::default(), session_id_from_seed(42), now);
//! // Bytes read from the socket (here: one DESCRIBE).
//! let input = b"DESCRIBE rtsp://127.0.0.1/live/cam RTSP/1.0\r\nCSeq: 2\r\n\r\n";
//! session.handle_input_bytes(Bytes::from_static(input), now)?; // Err => close the connection
//! while let Some(event) = session.poll_event() {
//!     match event {
//!         Event::Describe { request_id, url } => {
//!             // Look the stream up (url.app, url.stream), check auth with
//!             // session.request(request_id), then answer:
//!             let uri = session.request(request_id).map(|r| r.uri.clone()).unwrap_or_default();
//!             let sdp = describe_sdp(&[], &DescribeOptions::default());
//!             session.respond(request_id, Reply::describe(content_base(&uri), &sdp))?;
//!         }
//!         Event::Setup { request_id, .. } => session.respond(request_id, Reply::ok())?,
//!         Event::Play { request_id, .. } => {
//!             session.respond(request_id, Reply::play(Some(Range::live()), None))?
//!         }
//!         Event::Interleaved { channel, data } => { /* RTP/RTCP from the client */ }
//!         _ => {}
//!     }
//! }
//! // Write these to the socket (vectored).
//! let mut out = Vec::new();
//! while let Some(bytes) = session.poll_transmit() {
//!     out.extend_from_slice(&bytes);
//! }
//! assert!(out.starts_with(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\n"));
//! // Sleep until the next read or session.poll_timeout(), whichever comes first; at the
//! // deadline, handle_timeout closes the session with Event::TimedOut.
//! let deadline = session.poll_timeout().expect("open sessions have a deadline");
//! session.handle_timeout(deadline);
//! assert!(matches!(
//!     session.poll_event(),
//!     Some(Event::TimedOut { what: Timeout::Handshake })
//! ));
//! # Ok::<(), rtsp_proto::signal::SessionError>(())
//! ```

mod error;
mod framing;
mod headers;
mod message;
mod method;

pub use error::{ParseError, SessionError};
pub use framing::{encode_interleaved, read_incoming, Incoming, INTERLEAVED_MAGIC};
pub use headers::Headers;
pub use message::{
    parse_message, reason_phrase, Limits, Message, Method, Request, Response, RTSP_VERSION,
};
mod range;
mod rtp_info;
mod transport;
mod url;
pub use range::{NptTime, Range};
pub use rtp_info::{RtpInfo, RtpInfoEntry};
pub use transport::{LowerTransport, Transport, TransportMode};
pub use url::RtspUrl;
pub mod sdp;
pub use sdp::{describe_sdp, DescribeOptions, MediaInfo, MediaKind, Sdp, SdpCodec};
mod auth;
pub use auth::{derive_nonce, AuthError, Authenticator, Credentials};
mod client;
pub use client::{
    ClientConfig, ClientError, ClientEvent, ClientMode, ClientSession, ClientState, ClientTimeout,
    ClientTimeouts, ClientTrack, ClientTransport,
};
mod session;
pub use session::{
    content_base, session_id_from_seed, Event, Reply, RequestId, ServerSession, SessionConfig,
    SessionState, SetupTrack, Timeout, PUBLIC_METHODS,
};
