//! # ws-proto
//!
//! The server side of WebSocket (RFC 6455) for streaming media to players,
//! with no IO: request headers in, the `101 Switching Protocols` head out;
//! frame headers built for payloads the caller keeps (so a payload shared
//! between viewers is never copied); client frames decoded from bytes into
//! events (ping, pong, close), with every size checked against a limit.
//!
//! What the server sends are binary messages; what clients send is only
//! read for its control frames: their data frames are size-checked and
//! dropped as they arrive, so the decoder buffers at most one frame header
//! and one control payload.
//!
//! ```
//! use ws_proto::{encode_header, Decoder, Event, Opcode, UpgradeRequest};
//!
//! // The handshake, from the request's headers.
//! let mut req = UpgradeRequest::default();
//! req.header("Upgrade", "websocket");
//! req.header("Connection", "keep-alive, Upgrade");
//! req.header("Sec-WebSocket-Version", "13");
//! req.header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
//! let accept = req.accept().unwrap();
//! assert_eq!(accept.accept_value(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//! assert!(accept.response_head().starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
//!
//! // A binary message: a 2–10 byte header beside the caller's payload.
//! let payload = b"FLV\x01";
//! let (header, n) = encode_header(Opcode::Binary, true, payload.len() as u64);
//! assert_eq!(&header[..n], &[0x82, 4]);
//!
//! // A ping from the client (masked) asks for a pong with its payload.
//! let ping = ws_proto::encode_client_frame(Opcode::Ping, true, b"hi", [1, 2, 3, 4]);
//! let mut dec = Decoder::new(Default::default());
//! dec.push(&ping).unwrap();
//! match dec.next_event().unwrap() {
//!     Some(Event::Ping(p)) => assert_eq!(ws_proto::pong_frame(&p)[..], b"\x8a\x02hi"[..]),
//!     other => panic!("{other:?}"),
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod decoder;
mod frame;
mod handshake;

pub use decoder::{DecodeError, Decoder, Event, Limits};
pub use frame::{
    close_frame, encode_client_frame, encode_header, pong_frame, FrameHeader, Opcode,
    MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};
pub use handshake::{accept_key, Accept, HandshakeError, UpgradeRequest, GUID, VERSION};

/// Close status codes (RFC 6455 §7.4.1) this crate uses.
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away (server shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// A protocol error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Data that is not consistent with the message type (bad UTF-8).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message too big to process.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}
