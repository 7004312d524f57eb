//! Small shared helpers over nom's *complete* parsers, for structures that
//! arrive as one complete unit (configuration records): running out of
//! bytes there is a truncated unit, reported as [`CodecError::Truncated`].

use crate::error::{truncated, CodecError};

/// Result of a crate-internal parser: the rest of the input and the value.
pub(crate) type PResult<'a, T> = Result<(&'a [u8], T), CodecError>;

/// Lifts a nom result, naming the structure being read. nom's complete
/// byte/number parsers fail only when input runs out.
pub(crate) fn need<'a, T>(r: nom::IResult<&'a [u8], T>, what: &'static str) -> PResult<'a, T> {
    r.map_err(|_| truncated(what))
}

/// Refuses a codec configuration longer than [`crate::MAX_CODEC_CONFIG_LEN`].
pub(crate) fn check_config_len(what: &'static str, len: usize) -> Result<(), CodecError> {
    check_limit(what, len, crate::MAX_CODEC_CONFIG_LEN)
}

/// Refuses `n` above `limit` as [`CodecError::TooLarge`].
pub(crate) fn check_limit(what: &'static str, n: usize, limit: usize) -> Result<(), CodecError> {
    if n > limit {
        return Err(CodecError::TooLarge {
            what,
            size: n as u64,
            limit: limit as u64,
        });
    }
    Ok(())
}
