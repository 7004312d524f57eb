//! The error type shared by every RTP media parser and (de)packetizer.
//!
//! Tiers, as in `ARCHITECTURE.md`: malformed bytes (`Truncated`, `Invalid`), a peer using a
//! feature this crate does not implement (`Unsupported`), a size beyond a configured bound
//! (`TooLarge`), and caller misuse (`Misuse`).

/// An error from parsing, depacketizing or packetizing RTP media.
///
/// RTP and RTCP units are already framed when they reach this module (a UDP datagram or a
/// `$` interleaved frame), so a structure that ends early is malformed, not "need more".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// Malformed: the unit ends before the structure it announces.
    #[error("{what} truncated at byte {offset}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Offset within the unit where more bytes were needed.
        offset: usize,
    },
    /// Malformed: a field holds a value the specification forbids.
    #[error("{what} invalid at byte {offset}: {rule}")]
    Invalid {
        /// The structure being read.
        what: &'static str,
        /// Offset of the offending field within the unit.
        offset: usize,
        /// The rule broken, with its RFC section.
        rule: &'static str,
    },
    /// The peer uses a feature this crate does not implement.
    #[error("{what} unsupported: {detail}")]
    Unsupported {
        /// The structure being read.
        what: &'static str,
        /// What is not supported, with its RFC section.
        detail: &'static str,
    },
    /// A size exceeds a configured limit.
    #[error("{what} of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// What grew too large.
        what: &'static str,
        /// Its size (or the size it would have reached).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The caller passed arguments that cannot be encoded.
    #[error("misuse: {0}")]
    Misuse(&'static str),
}

impl MediaError {
    pub(crate) fn truncated(what: &'static str, offset: usize) -> Self {
        Self::Truncated { what, offset }
    }

    pub(crate) fn invalid(what: &'static str, offset: usize, rule: &'static str) -> Self {
        Self::Invalid { what, offset, rule }
    }
}
