//! The crate's error type.

/// What can go wrong building or reading fragmented MP4.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Fmp4Error {
    /// The input ended inside a box.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// A box or field is malformed.
    #[error("malformed: {0}")]
    Malformed(String),
    /// A size or count is above this crate's limits.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A codec or box version this crate does not handle.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The caller passed something inconsistent (unknown track, empty run, ...).
    #[error("invalid input: {0}")]
    Invalid(String),
}
