//! # etcd-json
//!
//! What strom knows of etcd v3's JSON gRPC gateway, with no IO: request
//! bodies in, typed answers out, and a decoder for the watch stream. No
//! sockets, clocks, threads or async runtime: the caller POSTs the bytes
//! (strom's server does it with hyper) and hands the answer back.
//!
//! | module / type | what |
//! |---|---|
//! | [`request`] | `(path, body)` for lease grant/keepalive/revoke, range, prefix range, put, create-if-absent and conditional-delete transactions, watch, compaction |
//! | [`Header`], [`Kv`], [`Grant`], [`KeepAlive`], [`Range`], [`Txn`], [`Created`], [`parse_header`] | typed answers |
//! | [`WatchDecoder`], [`WatchMessage`], [`Event`] | the watch stream, cut anywhere, back into messages |
//! | [`Error`], [`ServerError`], [`ServerErrorKind`], [`parse_error`] | error answers (`{"error":…,"code":N,"message":…}`) and malformed input |
//!
//! The gateway's conventions, all handled here: keys and values are base64;
//! int64 fields are decimal strings (numbers are accepted too); fields that
//! are zero, false or empty are left out.
//!
//! Bounded: keys over [`MAX_KEY_LEN`], values over [`MAX_VALUE_LEN`], more
//! than [`MAX_KVS`] kvs in an answer, [`MAX_EVENTS`] events in a watch
//! message or a watch line over [`MAX_LINE`] are errors. Callers cap the
//! bodies they read at [`MAX_BODY`].
//!
//! ```
//! use etcd_json::{request, Created, Txn, WatchDecoder, WatchMessage};
//!
//! // Claim a key unless someone holds it.
//! let (path, body) = request::create(b"/strom/streams/live/cam", b"{}", 0x1234);
//! assert_eq!(path, "/v3/kv/txn");
//! assert!(!body.is_empty());
//! // … POST it, then read the answer:
//! let answer = br#"{"header":{"revision":"7"},"succeeded":true}"#;
//! assert_eq!(Txn::parse(answer)?.into_created()?, Created::Won { revision: 7 });
//!
//! // A watch stream arrives in arbitrary pieces.
//! let mut decoder = WatchDecoder::new();
//! let mut messages = Vec::new();
//! decoder.feed(br#"{"result":{"header":{"revision":"7"},"#, &mut messages)?;
//! decoder.feed(b"\"created\":true}}\n", &mut messages)?;
//! assert_eq!(messages, [WatchMessage::Created { watch_id: 0 }]);
//! # Ok::<(), etcd_json::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod int;
pub mod request;
mod response;
mod watch;

#[cfg(test)]
mod tests;

pub use error::{parse_error, Error, ServerError, ServerErrorKind};
pub use response::{parse_header, Created, Grant, Header, KeepAlive, Kv, Range, Txn};
pub use watch::{Event, EventKind, WatchDecoder, WatchMessage};

/// Longest key accepted in an answer, bytes (strom's keys are short paths).
pub const MAX_KEY_LEN: usize = 4 * 1024;

/// Largest value accepted in an answer, bytes: etcd's default request limit
/// (`--max-request-bytes`, 1.5 MiB) bounds what can have been stored.
pub const MAX_VALUE_LEN: usize = 1536 * 1024;

/// Most kvs accepted in one answer; prefix ranges ask for at most this many.
pub const MAX_KVS: usize = 10_000;

/// Most events accepted in one watch message.
pub const MAX_EVENTS: usize = 10_000;

/// Longest watch stream line, bytes.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// Largest unary answer body a caller should read, bytes.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
