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
//! The sessions are driven the same way on both sides: bytes in, then drain
//! events and bytes out. Here a client publishes to a server whose policy
//! accepts everything:
//!
//! ```
//! use bytes::Bytes;
//! use rtmp_proto::{
//!     ClientConfig, ClientEvent, ClientMode, ClientSession, HandshakeParams, MediaKind,
//!     ServerConfig, ServerEvent, ServerSession,
//! };
//!
//! let mut server = ServerSession::new(ServerConfig::default());
//! let mut client = ClientSession::new(ClientConfig {
//!     app: "live".into(),
//!     tc_url: "rtmp://localhost/live".into(),
//!     stream: "cam".into(),
//!     mode: ClientMode::Publish,
//!     chunk_size: 4096,
//!     handshake: HandshakeParams { epoch: 0, seed: [7; 32] },
//!     digest: false,
//! });
//! let mut media = Vec::new();
//! let mut publishing = false;
//! for step in 0..20 {
//!     while let Some(bytes) = client.poll_transmit() {
//!         server.handle_input(&bytes).unwrap(); // a driver closes on Err
//!     }
//!     while let Some(event) = server.poll_event() {
//!         match event {
//!             // Policy lives in the application: here, accept everything.
//!             ServerEvent::ConnectRequested { req, .. } => server.accept_connect(req),
//!             ServerEvent::PublishRequested { req, .. } => server.accept_publish(req),
//!             ServerEvent::Media { timestamp, payload, .. } => media.push((timestamp, payload)),
//!             _ => {}
//!         }
//!     }
//!     while let Some(bytes) = server.poll_transmit() {
//!         client.handle_input(&bytes).unwrap();
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
    encode_media, ClientConfig, ClientEvent, ClientMode, ClientSession, MediaChannel, MediaKind,
    RequestId, ServerConfig, ServerEvent, ServerSession,
};
