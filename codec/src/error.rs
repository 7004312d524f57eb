//! Errors of the codec layer, in tiers (see [`ErrorKind`]).

use thiserror::Error;

/// Who is at fault for a [`CodecError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes do not follow the format.
    Malformed,
    /// Bigger than the format or a limit of this crate allows.
    LimitExceeded,
    /// A valid feature the target format (or this crate) cannot carry.
    Unsupported,
    /// The caller asked for something the format cannot express.
    Misuse,
}

/// An error from a codec structure parser or writer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A complete unit (parameter set, configuration record, header) ended
    /// before the structure named by `what` was complete.
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
    /// A size or count read from the wire is above the limit.
    #[error("{what} of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The structure.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A valid value the target format cannot carry, e.g. an
    /// AudioSpecificConfig with an explicit frequency for ADTS.
    #[error("unsupported {what} ({value})")]
    Unsupported {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// The caller asked to encode something the format cannot carry, e.g.
    /// more than 31 SPS in an AVC record.
    #[error("cannot encode: {0}")]
    Unencodable(&'static str),
}

impl CodecError {
    /// The tier of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CodecError::Truncated { .. } | CodecError::Invalid { .. } => ErrorKind::Malformed,
            CodecError::TooLarge { .. } => ErrorKind::LimitExceeded,
            CodecError::Unsupported { .. } => ErrorKind::Unsupported,
            CodecError::Unencodable(_) => ErrorKind::Misuse,
        }
    }
}

/// Shorthand for a truncation error.
pub(crate) fn truncated(what: &'static str) -> CodecError {
    CodecError::Truncated { what }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(truncated("x").kind(), ErrorKind::Malformed);
        assert_eq!(truncated("SPS").to_string(), "SPS: truncated");
        let e = CodecError::TooLarge {
            what: "avcC",
            size: 2,
            limit: 1,
        };
        assert_eq!(e.kind(), ErrorKind::LimitExceeded);
        assert_eq!(e.to_string(), "avcC of 2 bytes exceeds the limit of 1");
        assert_eq!(CodecError::Unencodable("x").kind(), ErrorKind::Misuse);
    }
}
