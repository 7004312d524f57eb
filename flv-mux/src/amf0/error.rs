//! Errors of the AMF0 codec, in tiers (see [`Amf0ErrorKind`]).

use thiserror::Error;

/// Which party is at fault for an [`Amf0Error`], so callers can pick a reaction
/// (wait for more bytes, close the session, or answer "unsupported").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Amf0ErrorKind {
    /// Not a fault: the value continues past the end of the input.
    Incomplete,
    /// The bytes are not valid AMF0.
    Malformed,
    /// Valid AMF0, but bigger or deeper than this decoder accepts.
    LimitExceeded,
    /// Valid AMF0 (or AMF3) that this crate deliberately does not handle.
    Unsupported,
}

/// An error from [`decode_value`](super::decode_value) or
/// [`decode_all`](super::decode_all). Offsets are relative to the start of
/// the input slice that was passed in.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Amf0Error {
    /// The input ends in the middle of a value: feed more bytes and retry.
    /// Only [`decode_value`](super::decode_value) returns this;
    /// [`decode_all`](super::decode_all) works on a complete body and reports
    /// [`Amf0Error::Truncated`] instead.
    #[error("AMF0 value continues past the end of the input (need more bytes)")]
    Incomplete,
    /// A complete message body ends in the middle of a value.
    #[error("AMF0 body truncated: value starting at offset {offset} is cut off")]
    Truncated {
        /// Offset of the value that was cut off.
        offset: usize,
    },
    /// A type marker that AMF0 does not define (AMF0 spec section 2.1).
    #[error("unknown AMF0 type marker {marker:#04x} at offset {offset}")]
    UnknownMarker {
        /// The marker byte.
        marker: u8,
        /// Offset of the marker.
        offset: usize,
    },
    /// An object-end marker (0x09) where a value was expected.
    #[error("AMF0 object-end marker outside an object at offset {offset}")]
    UnexpectedObjectEnd {
        /// Offset of the marker.
        offset: usize,
    },
    /// Containers nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("AMF0 values nested deeper than {limit} at offset {offset}")]
    TooDeep {
        /// Offset of the container that crossed the limit.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// A container with more than [`MAX_ELEMENTS`](super::MAX_ELEMENTS) entries.
    #[error("AMF0 container at offset {offset} has {count} entries, limit is {limit}")]
    TooManyElements {
        /// Offset of the container.
        offset: usize,
        /// Declared (or counted so far) number of entries.
        count: u64,
        /// The limit.
        limit: usize,
    },
    /// A long string longer than [`MAX_LONG_STRING`](super::MAX_LONG_STRING).
    #[error("AMF0 long string at offset {offset} declares {len} bytes, limit is {limit}")]
    StringTooLong {
        /// Offset of the string value.
        offset: usize,
        /// Declared length.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// More values (nested ones included) than
    /// [`MAX_VALUES`](super::MAX_VALUES) in one decode call.
    #[error("AMF0 value at offset {offset} exceeds the budget of {limit} values per message")]
    TooManyValues {
        /// Offset of the first value over the budget.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// A defined AMF0 type this crate does not decode (movieclip, recordset,
    /// unsupported) or the AMF3 switch (0x11): command messages in AMF3
    /// (RTMP message types 15/17) are refused.
    #[error("unsupported AMF0 type {what} (marker {marker:#04x}) at offset {offset}")]
    Unsupported {
        /// The marker byte.
        marker: u8,
        /// Offset of the marker.
        offset: usize,
        /// Name of the type, e.g. `"AMF3 switch (avmplus-object)"`.
        what: &'static str,
    },
}

impl Amf0Error {
    /// The tier of this error.
    pub fn kind(&self) -> Amf0ErrorKind {
        match self {
            Amf0Error::Incomplete => Amf0ErrorKind::Incomplete,
            Amf0Error::Truncated { .. }
            | Amf0Error::UnknownMarker { .. }
            | Amf0Error::UnexpectedObjectEnd { .. } => Amf0ErrorKind::Malformed,
            Amf0Error::TooDeep { .. }
            | Amf0Error::TooManyElements { .. }
            | Amf0Error::StringTooLong { .. }
            | Amf0Error::TooManyValues { .. } => Amf0ErrorKind::LimitExceeded,
            Amf0Error::Unsupported { .. } => Amf0ErrorKind::Unsupported,
        }
    }

    /// True when the input merely ended too early (see [`Amf0Error::Incomplete`]).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Amf0Error::Incomplete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(Amf0Error::Incomplete.kind(), Amf0ErrorKind::Incomplete);
        assert!(Amf0Error::Incomplete.is_incomplete());
        let e = Amf0Error::UnknownMarker {
            marker: 0x42,
            offset: 3,
        };
        assert_eq!(e.kind(), Amf0ErrorKind::Malformed);
        assert_eq!(e.to_string(), "unknown AMF0 type marker 0x42 at offset 3");
        let e = Amf0Error::Unsupported {
            marker: 0x11,
            offset: 0,
            what: "AMF3 switch (avmplus-object)",
        };
        assert_eq!(e.kind(), Amf0ErrorKind::Unsupported);
    }
}
