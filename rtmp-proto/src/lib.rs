//! # rtmp-proto — RTMP for strom, sans-IO
//!
//! The lower layers of RTMP (Adobe's RTMP specification 1.0, 2012), as state
//! machines you feed bytes to and pull results from. No sockets, clocks,
//! threads or RNGs: the caller owns all IO, so every layer is testable from
//! byte vectors and fuzzable.
//!
//! - [`handshake`]: C0/C1/C2 ⇄ S0/S1/S2, simple and digest ("complex").
//! - [`chunk`]: the chunk stream — [`ChunkDecoder`] reassembles messages from
//!   chunks, [`ChunkEncoder`] splits messages into chunks with header
//!   compression.
//! - [`message`]: protocol control and user control messages, message type
//!   ids, aggregate messages, and the acknowledgement window tracker.
//! - [`command`]: typed NetConnection/NetStream commands over flv-mux's AMF0,
//!   `_result` / `_error` / `onStatus` builders, and data messages.
//! - [`session`]: the sans-IO session state machines — [`ServerSession`]
//!   and [`ClientSession`] — and [`encode_media`], the shared chunk encoding
//!   that lets one encoded frame serve every player.
//!
//! Errors come in tiers ([`Error`]): malformed bytes, protocol violations,
//! unsupported features, caller misuse. Truncated input is never an error.
//!
//! ```
//! use bytes::Bytes;
//! use rtmp_proto::{ChunkDecoder, ChunkEncoder, Message};
//!
//! let msg = Message {
//!     csid: 6,
//!     timestamp: 40,
//!     type_id: 9, // video
//!     stream_id: 1,
//!     payload: Bytes::from(vec![0x17; 300]),
//! };
//! let mut enc = ChunkEncoder::new(); // 128-byte chunks, the spec default
//! let mut wire = bytes::BytesMut::new();
//! enc.encode(&msg, &mut wire).unwrap();
//! assert_eq!(wire.len(), 12 + 128 + 1 + 128 + 1 + 44); // fmt 0, then two fmt 3
//!
//! let mut dec = ChunkDecoder::new(Default::default());
//! dec.push(&wire);
//! assert_eq!(dec.poll_message().unwrap(), Some(msg));
//! assert_eq!(dec.poll_message().unwrap(), None); // need more bytes
//! ```
//!
//! The sessions are driven the same way on both sides, with time inside
//! the contract (as in quinn-proto): bytes in with the current `Instant`,
//! then drain events and bytes out, and sleep until `poll_timeout`, when
//! `handle_timeout(now)` applies the deadlines. Here a client publishes to a
//! server whose policy accepts everything, under a virtual clock:
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use bytes::Bytes;
//! use rtmp_proto::{
//!     ClientConfig, ClientEvent, ClientMode, ClientSession, ClientTimeouts, Decision,
//!     HandshakeParams, MediaKind, ServerConfig, ServerEvent, ServerSession, Timeout,
//! };
//!
//! let mut now = Instant::now(); // a driver reads its clock; tests add offsets
//! let mut server = ServerSession::new(ServerConfig::default(), now);
//! let mut client = ClientSession::new(
//!     ClientConfig {
//!         app: "live".into(),
//!         tc_url: "rtmp://localhost/live".into(),
//!         stream: "cam".into(),
//!         mode: ClientMode::Publish,
//!         chunk_size: 4096,
//!         handshake: HandshakeParams { epoch: 0, seed: [7; 32] },
//!         digest: false,
//!         timeouts: ClientTimeouts::default(),
//!     },
//!     now,
//! );
//! // Until a publish or play is accepted, the server's deadline is the
//! // handshake limit (15 s by default).
//! assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(15)));
//!
//! let mut media = Vec::new();
//! let mut publishing = false;
//! for step in 0..20 {
//!     now += Duration::from_millis(40);
//!     // A driver sleeps until the earliest `poll_timeout` (or input), then:
//!     if server.poll_timeout().is_some_and(|t| t <= now) {
//!         server.handle_timeout(now);
//!     }
//!     if client.poll_timeout().is_some_and(|t| t <= now) {
//!         client.handle_timeout(now);
//!     }
//!     while let Some(bytes) = client.poll_transmit() {
//!         server.handle_input(&bytes, now).unwrap(); // a driver closes on Err
//!     }
//!     while let Some(event) = server.poll_event() {
//!         match event {
//!             // Policy lives in the application: here, accept everything.
//!             ServerEvent::ConnectRequested { req, .. }
//!             | ServerEvent::PublishRequested { req, .. } => server.respond(req, Decision::Accept),
//!             ServerEvent::Media { timestamp, payload, .. } => media.push((timestamp, payload)),
//!             _ => {}
//!         }
//!     }
//!     while let Some(bytes) = server.poll_transmit() {
//!         client.handle_input(&bytes, now).unwrap();
//!     }
//!     while let Some(event) = client.poll_event() {
//!         publishing |= event == ClientEvent::Publishing;
//!     }
//!     if publishing && step < 19 {
//!         let frame = Bytes::from_static(&[0x17, 1, 0, 0, 0]);
//!         client.send_media(MediaKind::Video, 40 * step, frame).unwrap();
//!     }
//! }
//! assert!(publishing);
//! assert!(!media.is_empty());
//! assert_eq!(&media[0].1[..], &[0x17, 1, 0, 0, 0]);
//!
//! // The last frame arrived at `now`: the publisher keep-alive (15 s by
//! // default) counts from there. A publisher that goes silent is closed by
//! // the session itself at that deadline, not one moment before.
//! let deadline = server.poll_timeout().unwrap();
//! assert_eq!(deadline, now + Duration::from_secs(15));
//! server.handle_timeout(deadline - Duration::from_millis(1));
//! assert!(!server.is_closed());
//! server.handle_timeout(deadline);
//! assert_eq!(
//!     server.poll_event(),
//!     Some(ServerEvent::TimedOut { what: Timeout::PublisherIdle })
//! );
//! assert!(server.is_closed());
//! assert_eq!(server.poll_timeout(), None);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chunk;
pub mod command;
pub mod error;
pub mod handshake;
pub mod message;
pub mod session;

pub use chunk::{ChunkDecoder, ChunkDecoderConfig, ChunkEncoder};
pub use error::{Error, Result};
pub use handshake::{ClientHandshake, HandshakeParams, HandshakeStatus, ServerHandshake};
pub use message::Message;
pub use session::{
    encode_media, encode_media_parts, ClientConfig, ClientEvent, ClientMode, ClientSession,
    ClientTimeout, ClientTimeouts, Decision, MediaChannel, MediaKind, RequestId, ServerConfig,
    ServerEvent, ServerSession, ServerTimeouts, Timeout,
};
