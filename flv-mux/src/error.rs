//! Errors of the FLV layer (header, tags, tag bodies, codec configuration
//! records), in tiers (see [`ErrorKind`]).

use thiserror::Error;

use crate::amf0::Amf0Error;

/// Who is at fault for an [`FlvError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes do not follow the format.
    Malformed,
    /// Well-formed bytes that break a rule of the format or of the stream
    /// (e.g. a PreviousTagSize that does not match).
    ProtocolViolation,
    /// Bigger than the configured or format limit.
    LimitExceeded,
    /// A valid feature this crate does not handle.
    Unsupported,
    /// The caller asked for something the format cannot express.
    Misuse,
}

/// An error from the FLV layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FlvError {
    /// A complete unit (tag body, configuration record) ended before the
    /// structure named by `what` was complete.
    #[error("{what}: truncated")]
    Truncated {
        /// The structure or field being read.
        what: &'static str,
    },
    /// A field holds a value the format forbids.
    #[error("{what}: invalid value {value}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
    /// The file does not start with the `FLV` signature (FLV spec, E.2).
    #[error("not an FLV stream: bad signature {0:02x?}")]
    BadSignature([u8; 3]),
    /// PreviousTagSize does not equal 11 + DataSize of the tag before it
    /// (FLV spec, E.3). Reported only in strict mode.
    #[error("PreviousTagSize {found} after tag of {expected} bytes")]
    PreviousTagSizeMismatch {
        /// 11 + DataSize of the preceding tag.
        expected: u32,
        /// The value on the wire.
        found: u32,
    },
    /// A size read from the wire is above the configured limit.
    #[error("{what} of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The structure.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A valid but unhandled feature, e.g. encrypted tags, E-RTMP multitrack.
    #[error("unsupported {what} ({value})")]
    Unsupported {
        /// The feature.
        what: &'static str,
        /// The value that selected it.
        value: u64,
    },
    /// The caller asked to encode something the format cannot carry, e.g. a
    /// tag body over 16 MiB or more than 31 SPS in an AVC record.
    #[error("cannot encode: {0}")]
    Unencodable(&'static str),
    /// A script tag whose AMF0 body failed to decode.
    #[error("script data: {0}")]
    Amf0(#[from] Amf0Error),
}

impl FlvError {
    /// The tier of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FlvError::Truncated { .. } | FlvError::Invalid { .. } | FlvError::BadSignature(_) => {
                ErrorKind::Malformed
            }
            FlvError::PreviousTagSizeMismatch { .. } => ErrorKind::ProtocolViolation,
            FlvError::TooLarge { .. } => ErrorKind::LimitExceeded,
            FlvError::Unsupported { .. } => ErrorKind::Unsupported,
            FlvError::Unencodable(_) => ErrorKind::Misuse,
            FlvError::Amf0(e) => match e.kind() {
                crate::amf0::Amf0ErrorKind::LimitExceeded => ErrorKind::LimitExceeded,
                crate::amf0::Amf0ErrorKind::Unsupported => ErrorKind::Unsupported,
                _ => ErrorKind::Malformed,
            },
        }
    }
}

impl From<codec::CodecError> for FlvError {
    /// The same error in FLV terms: same message and tier.
    fn from(e: codec::CodecError) -> FlvError {
        use codec::CodecError as C;
        match e {
            C::Truncated { what } => FlvError::Truncated { what },
            C::Invalid { what, value } => FlvError::Invalid { what, value },
            C::TooLarge { what, size, limit } => FlvError::TooLarge { what, size, limit },
            C::Unsupported { what, value } => FlvError::Unsupported { what, value },
            C::Unencodable(what) => FlvError::Unencodable(what),
            // `CodecError` is non-exhaustive; every variant it has is above.
            _ => FlvError::Invalid {
                what: "codec structure",
                value: 0,
            },
        }
    }
}

/// Shorthand for a truncation error.
pub(crate) fn truncated(what: &'static str) -> FlvError {
    FlvError::Truncated { what }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(truncated("x").kind(), ErrorKind::Malformed);
        assert_eq!(
            FlvError::Unsupported {
                what: "encrypted tag",
                value: 1
            }
            .kind(),
            ErrorKind::Unsupported
        );
        assert_eq!(
            FlvError::from(Amf0Error::Truncated { offset: 0 }).kind(),
            ErrorKind::Malformed
        );
        let codec = codec::CodecError::TooLarge {
            what: "avcC",
            size: 2,
            limit: 1,
        };
        assert_eq!(FlvError::from(codec.clone()).to_string(), codec.to_string());
        assert_eq!(FlvError::from(codec).kind(), ErrorKind::LimitExceeded);
        assert_eq!(
            FlvError::BadSignature(*b"GIF").to_string(),
            "not an FLV stream: bad signature [47, 49, 46]"
        );
    }
}
