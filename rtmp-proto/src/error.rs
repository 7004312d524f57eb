//! The crate's error type, in tiers that say who is at fault (after rustls):
//! [`Malformed`] bytes, a peer that broke the protocol ([`Violation`]), a peer
//! asking for something strom does not implement ([`Unsupported`]), a
//! caller that misused the API ([`Misuse`]), and a session deadline that
//! passed ([`Error::TimedOut`], [`Error::ClientTimedOut`]).
//!
//! Truncated input is never an error: every decoder in this crate answers
//! "need more bytes" (`Ok(None)` or an unchanged state) instead.

use thiserror::Error;

/// Any error this crate reports. Match on the tier first; the details are
/// `#[non_exhaustive]` so new checks can be added without a breaking change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes do not parse as the structure they claim to be.
    #[error("malformed input: {0}")]
    Malformed(#[from] Malformed),
    /// The bytes parse, but the peer broke a rule of the RTMP specification
    /// or exceeded one of strom's configured limits.
    #[error("protocol violation: {0}")]
    Violation(#[from] Violation),
    /// The peer asked for a feature strom does not implement.
    #[error("unsupported: {0}")]
    Unsupported(#[from] Unsupported),
    /// The caller (not the peer) used the API wrongly.
    #[error("misuse: {0}")]
    Misuse(#[from] Misuse),
    /// A deadline of a [`ServerSession`](crate::ServerSession) passed.
    #[error("timed out: {0}")]
    TimedOut(crate::session::server::Timeout),
    /// A deadline of a [`ClientSession`](crate::ClientSession) passed.
    #[error("timed out waiting for {0}")]
    ClientTimedOut(crate::session::client::ClientTimeout),
}

/// Bytes that do not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Malformed {
    /// A fixed-size message body had the wrong length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    BodyLength {
        /// Which structure.
        what: &'static str,
        /// Bytes the structure needs.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// An aggregate message's sub-message runs past its end.
    #[error("aggregate message truncated at offset {offset}")]
    AggregateTruncated {
        /// Offset of the sub-message header inside the aggregate payload.
        offset: usize,
    },
    /// A chunk header that does not parse (unreachable with the current
    /// parsers, which only ever ask for more bytes; kept for their contract).
    #[error("chunk header")]
    ChunkHeader,
    /// An AMF0 command body did not decode.
    #[error("command body: {0}")]
    Command(String),
}

/// The peer broke a protocol rule or a configured limit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Violation {
    /// Set Chunk Size of 0, or with bit 31 set (RTMP spec 5.4.1).
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    /// Set Chunk Size above the configured maximum.
    #[error("chunk size {size} exceeds the limit {max}")]
    ChunkSizeTooLarge {
        /// Size asked for.
        size: u32,
        /// Configured limit.
        max: u32,
    },
    /// A message longer than the configured maximum.
    #[error("message length {len} exceeds the limit {max}")]
    MessageTooLong {
        /// Length from the message header.
        len: u32,
        /// Configured limit.
        max: u32,
    },
    /// More chunk streams open at once than the configured cap.
    #[error("more than {max} chunk streams open")]
    TooManyChunkStreams {
        /// Configured cap.
        max: usize,
    },
    /// A compressed chunk header (fmt 1, 2 or 3) on a chunk stream that never
    /// had a full header (RTMP spec 5.3.1.2).
    #[error("chunk fmt {fmt} on chunk stream {csid} with no previous header")]
    NoPreviousHeader {
        /// Chunk stream id.
        csid: u32,
        /// Chunk header format (1, 2 or 3).
        fmt: u8,
    },
    /// A new message header (fmt 0, 1 or 2) arrived while a message on the
    /// same chunk stream was only partly received.
    #[error("new message header on chunk stream {csid} before the previous message completed")]
    InterleavedHeader {
        /// Chunk stream id.
        csid: u32,
    },
    /// Partly received messages on all chunk streams together exceed the
    /// configured cap on buffered bytes.
    #[error("more than {max} bytes buffered in partial messages")]
    TooMuchBuffered {
        /// Configured cap.
        max: usize,
    },
    /// A digest handshake whose digest did not verify.
    #[error("handshake digest did not verify ({0})")]
    DigestMismatch(&'static str),
    /// An aggregate message with more sub-messages than the configured cap.
    #[error("aggregate message with more than {max} sub-messages")]
    TooManySubMessages {
        /// Configured cap.
        max: usize,
    },
    /// Set Peer Bandwidth with a limit type other than 0, 1 or 2 (5.4.5).
    #[error("invalid peer bandwidth limit type {0}")]
    InvalidLimitType(u8),
    /// A command whose required fields are missing or of the wrong type.
    #[error("command {name}: {reason}")]
    Command {
        /// Command name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A command in a state where the session cannot take it (e.g. publish
    /// before connect was accepted, or on a message stream never created).
    #[error("{command}: {reason}")]
    OutOfOrder {
        /// Command name.
        command: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// More messages arrived while the application was deciding on a
    /// request than the session holds back.
    #[error("more than {max} messages or bytes held back while a request was pending")]
    TooManyParked {
        /// The cap on held-back messages (count or bytes).
        max: usize,
    },
}

/// The peer asked for something strom does not implement.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// An RTMP version byte other than 3 in C0/S0.
    #[error("RTMP version {0} (only 3 is supported)")]
    Version(u8),
    /// C0 asked for RTMPE (6, 8 or 9): encrypted RTMP is not implemented.
    #[error("encrypted RTMP (RTMPE, version byte {0})")]
    Encrypted(u8),
    /// A message type this crate cannot decode (e.g. AMF3 command bodies).
    #[error("message type {0}")]
    MessageType(u8),
}

/// The caller used the API wrongly.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Misuse {
    /// Chunk stream ids are 2..=65599 (RTMP spec 5.3.1.1).
    #[error("chunk stream id {0} out of range 2..=65599")]
    ChunkStreamId(u32),
    /// Message payloads are at most 16 777 215 bytes (24-bit length).
    #[error("payload of {0} bytes does not fit a 24-bit length")]
    PayloadTooLong(usize),
    /// Outgoing chunk size out of range 1..=16 777 215.
    #[error("outgoing chunk size {0} out of range")]
    ChunkSize(u32),
    /// The handshake was fed bytes after it failed.
    #[error("handshake already failed")]
    HandshakeFailed,
    /// A session method called in a state where it cannot act (e.g. sending
    /// media from a client that is not publishing).
    #[error("session is not in a state for this: {0}")]
    SessionState(&'static str),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_display_their_cause() {
        let e: Error = Violation::InvalidChunkSize(0).into();
        assert_eq!(e.to_string(), "protocol violation: invalid chunk size 0");
        let e: Error = Unsupported::Encrypted(6).into();
        assert!(e.to_string().contains("RTMPE"));
    }
}
