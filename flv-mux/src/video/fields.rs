//! The one-byte fields of a video tag header (FLV spec v10.1 E.4.3.1,
//! E-RTMP ExVideoTagHeader).

use crate::error::FlvError;

/// `FrameType` (`UB[4]` legacy, `UB[3]` enhanced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// 1: keyframe (seekable).
    Key,
    /// 2: inter frame.
    Inter,
    /// 3: disposable inter frame (H.263 only).
    DisposableInter,
    /// 4: generated keyframe (server use only).
    GeneratedKey,
    /// 5: video info / command frame.
    Command,
}

impl FrameType {
    pub(crate) fn from_u8(v: u8) -> Result<Self, FlvError> {
        Ok(match v {
            1 => FrameType::Key,
            2 => FrameType::Inter,
            3 => FrameType::DisposableInter,
            4 => FrameType::GeneratedKey,
            5 => FrameType::Command,
            v => {
                return Err(FlvError::Invalid {
                    what: "video FrameType",
                    value: u64::from(v),
                })
            }
        })
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            FrameType::Key => 1,
            FrameType::Inter => 2,
            FrameType::DisposableInter => 3,
            FrameType::GeneratedKey => 4,
            FrameType::Command => 5,
        }
    }
}

/// Legacy `CodecID` (`UB[4]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecId {
    /// 2: Sorenson H.263.
    SorensonH263,
    /// 3: screen video.
    ScreenVideo,
    /// 4: On2 VP6.
    Vp6,
    /// 5: On2 VP6 with alpha.
    Vp6Alpha,
    /// 6: screen video v2.
    ScreenVideo2,
    /// 7: AVC (H.264).
    Avc,
    /// 12: HEVC in the legacy layout. Not in the FLV spec; sent by encoders
    /// and CDNs from before E-RTMP (SRS, many Chinese hardware encoders).
    Hevc,
    /// Any other value.
    Other(u8),
}

impl CodecId {
    /// From the 4-bit wire value.
    pub fn from_u8(v: u8) -> Self {
        match v & 0x0F {
            2 => CodecId::SorensonH263,
            3 => CodecId::ScreenVideo,
            4 => CodecId::Vp6,
            5 => CodecId::Vp6Alpha,
            6 => CodecId::ScreenVideo2,
            7 => CodecId::Avc,
            12 => CodecId::Hevc,
            o => CodecId::Other(o),
        }
    }

    /// The 4-bit wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            CodecId::SorensonH263 => 2,
            CodecId::ScreenVideo => 3,
            CodecId::Vp6 => 4,
            CodecId::Vp6Alpha => 5,
            CodecId::ScreenVideo2 => 6,
            CodecId::Avc => 7,
            CodecId::Hevc => 12,
            CodecId::Other(v) => v & 0x0F,
        }
    }

    /// AVC and legacy HEVC carry `AVCPacketType` and `CompositionTime`.
    pub(crate) fn has_packet_type(self) -> bool {
        matches!(self, CodecId::Avc | CodecId::Hevc)
    }
}

/// `AVCPacketType` (also used by legacy codec id 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvcPacketType {
    /// 0: decoder configuration record.
    SequenceHeader,
    /// 1: one or more length-prefixed NAL units.
    Nalu,
    /// 2: end of sequence (empty payload).
    EndOfSequence,
}

/// E-RTMP `VideoPacketType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VideoPacketType {
    /// 0: decoder configuration record (hvcC, av1C, avcC, vpcC).
    SequenceStart,
    /// 1: coded frames; for `avc1`/`hvc1` preceded by an SI24
    /// composition time offset.
    CodedFrames,
    /// 2: end of sequence.
    SequenceEnd,
    /// 3: coded frames with an implicit composition time of 0.
    CodedFramesX,
    /// 4: AMF-encoded metadata (e.g. HDR colour info), kept raw.
    Metadata,
    /// 5: MPEG-2 TS sequence start (AV1 in TS descriptor form), kept raw.
    Mpeg2TsSequenceStart,
}

impl VideoPacketType {
    pub(crate) fn from_u8(v: u8) -> Result<Self, FlvError> {
        Ok(match v {
            0 => VideoPacketType::SequenceStart,
            1 => VideoPacketType::CodedFrames,
            2 => VideoPacketType::SequenceEnd,
            3 => VideoPacketType::CodedFramesX,
            4 => VideoPacketType::Metadata,
            5 => VideoPacketType::Mpeg2TsSequenceStart,
            // 6 Multitrack, 7 ModEx (E-RTMP v2) change the header layout.
            v => {
                return Err(FlvError::Unsupported {
                    what: "E-RTMP VideoPacketType",
                    value: u64::from(v),
                })
            }
        })
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            VideoPacketType::SequenceStart => 0,
            VideoPacketType::CodedFrames => 1,
            VideoPacketType::SequenceEnd => 2,
            VideoPacketType::CodedFramesX => 3,
            VideoPacketType::Metadata => 4,
            VideoPacketType::Mpeg2TsSequenceStart => 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        for v in 0..16u8 {
            assert_eq!(CodecId::from_u8(v).to_u8(), v);
            if let Ok(f) = FrameType::from_u8(v) {
                assert_eq!(f.to_u8(), v);
            }
            if let Ok(p) = VideoPacketType::from_u8(v) {
                assert_eq!(p.to_u8(), v);
            }
        }
        assert!(FrameType::from_u8(0).is_err());
        assert!(VideoPacketType::from_u8(6).is_err());
        assert_eq!(CodecId::from_u8(12), CodecId::Hevc);
    }
}
