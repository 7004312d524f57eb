//! Errors of the muxer ([`MuxError`]) and of the demuxer ([`DemuxError`]),
//! in tiers (see [`ErrorKind`]).

use thiserror::Error;

/// Who is at fault for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes do not follow the format.
    Malformed,
    /// Bigger than the format or a configured limit allows.
    LimitExceeded,
    /// A valid feature the format (or this crate) cannot carry.
    Unsupported,
    /// The caller asked for something its configuration does not allow.
    Misuse,
}

/// An error from [`TsMuxer`](crate::TsMuxer) or [`Packager`](crate::Packager).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MuxError {
    /// A frame was given for a track the [`MuxerConfig`](crate::MuxerConfig)
    /// does not have.
    #[error("{track} frame given but no {track} track is configured")]
    TrackNotConfigured {
        /// `"video"` or `"audio"`.
        track: &'static str,
    },
    /// The frame does not fit the container field that carries its size:
    /// the 13-bit `aac_frame_length` of ADTS (ISO/IEC 14496-3 1.A.2.2.1) or
    /// the 16-bit `PES_packet_length` of an audio PES (ISO/IEC 13818-1
    /// 2.4.3.7).
    #[error("{what} of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// The field that cannot hold the size.
        what: &'static str,
        /// The size that was asked for.
        size: u64,
        /// The largest size the field holds.
        limit: u64,
    },
    /// The AudioSpecificConfig cannot be expressed in an ADTS header
    /// (ISO/IEC 14496-3 1.A.2.2.1: `profile_ObjectType` is 2 bits, so only
    /// object types 1..=4 (AAC Main, LC, SSR, LTP); `sampling_frequency_index`
    /// cannot carry an explicit frequency; `channel_configuration` is 3 bits).
    #[error("AudioSpecificConfig not expressible in ADTS: {what} = {value}")]
    UnsupportedAudioConfig {
        /// The field of the AudioSpecificConfig.
        what: &'static str,
        /// Its value.
        value: u32,
    },
    /// The AudioSpecificConfig is shorter than its 2 mandatory bytes.
    #[error("AudioSpecificConfig truncated ({len} bytes)")]
    MalformedAudioConfig {
        /// Its length.
        len: usize,
    },
}

impl MuxError {
    /// An ADTS error from the codec crate in the muxer's terms;
    /// `config_len` is the AudioSpecificConfig's length.
    pub(crate) fn adts(e: codec::CodecError, config_len: usize) -> MuxError {
        match e {
            codec::CodecError::Unsupported { what, value } => MuxError::UnsupportedAudioConfig {
                what,
                value: u32::try_from(value).unwrap_or(u32::MAX),
            },
            codec::CodecError::TooLarge { what, size, limit } => {
                MuxError::FrameTooLarge { what, size, limit }
            }
            _ => MuxError::MalformedAudioConfig { len: config_len },
        }
    }

    /// Who is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            MuxError::TrackNotConfigured { .. } => ErrorKind::Misuse,
            MuxError::FrameTooLarge { .. } => ErrorKind::LimitExceeded,
            MuxError::UnsupportedAudioConfig { .. } => ErrorKind::Unsupported,
            MuxError::MalformedAudioConfig { .. } => ErrorKind::Malformed,
        }
    }
}

/// An error from [`TsDemuxer`](crate::TsDemuxer) or from the decoders of
/// single TS structures.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DemuxError {
    /// A complete unit ended before the structure named by `what` was
    /// complete.
    #[error("{what}: truncated")]
    Truncated {
        /// The structure being read.
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
    /// A PSI section whose CRC_32 does not give a zero remainder
    /// (ISO/IEC 13818-1 Annex A).
    #[error("{what}: CRC mismatch")]
    BadCrc {
        /// The table.
        what: &'static str,
    },
    /// A size read from the wire is above the limit.
    #[error("{what} of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The structure.
        what: &'static str,
        /// Its size (so far).
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl DemuxError {
    /// Who is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DemuxError::TooLarge { .. } => ErrorKind::LimitExceeded,
            _ => ErrorKind::Malformed,
        }
    }
}

/// Shorthand for a [`DemuxError::Truncated`].
pub(crate) fn truncated(what: &'static str) -> DemuxError {
    DemuxError::Truncated { what }
}

/// Lifts a nom result over a complete unit, naming the structure: nom's
/// complete parsers fail only when input runs out (or on a `verify`, which
/// callers check themselves).
pub(crate) fn need<'a, T>(
    r: nom::IResult<&'a [u8], T>,
    what: &'static str,
) -> Result<(&'a [u8], T), DemuxError> {
    r.map_err(|_| truncated(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use codec::aac::AdtsConfig;

    #[test]
    fn adts_refusals_keep_their_mux_errors() {
        let refused = |asc: &[u8]| {
            AdtsConfig::from_audio_specific_config(asc).map_err(|e| MuxError::adts(e, asc.len()))
        };
        assert_eq!(
            refused(&[0x12]),
            Err(MuxError::MalformedAudioConfig { len: 1 })
        );
        assert_eq!(
            refused(&[0x17, 0x80]),
            Err(MuxError::UnsupportedAudioConfig {
                what: "samplingFrequencyIndex",
                value: 15
            })
        );
        let too_big = refused(&[0x12, 0x10])
            .and_then(|c| c.header(10_000).map_err(|e| MuxError::adts(e, 0)))
            .unwrap_err();
        assert_eq!(too_big.kind(), ErrorKind::LimitExceeded);
    }
}
