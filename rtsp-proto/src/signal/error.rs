//! Errors of the signalling layer, in tiers that say who is at fault (after rustls):
//! bytes that do not parse ([`ParseError::Malformed`]), a peer over one of strom's limits
//! ([`ParseError::TooLarge`]), something strom does not implement
//! ([`ParseError::Unsupported`]).
//!
//! Truncated input is never an error: parsers answer `Ok(None)` ("need more bytes").

use thiserror::Error;

/// A parse failure in an RTSP message, header value, URL or SDP.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes do not parse as the structure they claim to be.
    #[error("malformed {what} at offset {pos}")]
    Malformed {
        /// Which structure (e.g. "request line", "Transport").
        what: &'static str,
        /// Byte offset inside the parsed unit where the problem was seen.
        pos: usize,
    },
    /// A size read from the wire is over one of strom's limits.
    #[error("{what} too large: {got} > {limit}")]
    TooLarge {
        /// Which size (e.g. "header line", "Content-Length").
        what: &'static str,
        /// The configured limit.
        limit: usize,
        /// The size seen (or a lower bound of it).
        got: usize,
    },
    /// Well-formed, but strom does not implement it.
    #[error("unsupported {what}: {detail}")]
    Unsupported {
        /// Which feature area (e.g. "codec", "transport").
        what: &'static str,
        /// The value that is not supported.
        detail: String,
    },
}

impl ParseError {
    /// Shorthand for [`ParseError::Malformed`].
    pub(crate) fn malformed(what: &'static str, pos: usize) -> Self {
        ParseError::Malformed { what, pos }
    }
}

/// A reason for the [`ServerSession`](super::ServerSession) to give up on a connection:
/// the caller should close it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer's byte stream can no longer be framed (e.g. a head line over the limit).
    #[error("unrecoverable input: {0}")]
    Framing(ParseError),
    /// Too many malformed requests in a row, or too many garbage bytes.
    #[error("too many malformed requests ({count})")]
    Garbage {
        /// Malformed requests counted.
        count: u32,
    },
    /// An interleaved frame over [`SessionConfig::max_interleaved`](super::SessionConfig).
    #[error("interleaved frame of {len} bytes over the limit {limit}")]
    InterleavedTooLarge {
        /// Frame length from the `$` header.
        len: usize,
        /// Configured limit.
        limit: usize,
    },
    /// More pipelined requests than the session holds while one waits for the caller.
    #[error("more than {limit} pipelined requests")]
    TooManyPipelined {
        /// The limit.
        limit: usize,
    },
    /// The caller answered a request id that is not pending (misuse).
    #[error("no pending request with id {0}")]
    UnknownRequest(super::RequestId),
    /// The session was torn down or closed; no more input is accepted.
    #[error("session closed")]
    Closed,
}
