//! The video tag body: parse and encode.

use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_u32, be_u8};

use super::fields::{AvcPacketType, CodecId, FrameType, VideoPacketType};
use crate::error::FlvError;
use crate::fourcc::FourCc;
use crate::parse::{need, put_u24, si24, tail};

/// A parsed video tag body; `data` is a zero-copy slice of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VideoTag {
    /// Legacy AVC (codec 7) or legacy HEVC (codec 12).
    Avc {
        /// Frame type.
        frame_type: FrameType,
        /// [`CodecId::Avc`] or [`CodecId::Hevc`].
        codec: CodecId,
        /// What `data` is.
        packet_type: AvcPacketType,
        /// `CompositionTime` (SI24): PTS − DTS in milliseconds.
        composition_time: i32,
        /// Configuration record, length-prefixed NAL units, or empty.
        data: Bytes,
    },
    /// Any other legacy codec (H.263, VP6, screen video): the codec payload.
    Legacy {
        /// Frame type.
        frame_type: FrameType,
        /// Codec.
        codec: CodecId,
        /// Payload after the first byte.
        data: Bytes,
    },
    /// Enhanced RTMP (IsExHeader set) with a FourCC.
    Enhanced {
        /// Frame type.
        frame_type: FrameType,
        /// What `data` is.
        packet_type: VideoPacketType,
        /// The codec.
        fourcc: FourCc,
        /// Composition time offset; 0 when absent on the wire
        /// (`CodedFramesX`, or codecs without one such as AV1).
        composition_time: i32,
        /// Payload after the headers.
        data: Bytes,
    },
    /// Enhanced RTMP command frame: FrameType 5 with a `VideoCommand` byte
    /// and no FourCC (0 = start seek, 1 = end seek).
    EnhancedCommand {
        /// The `VideoPacketType` nibble, kept for round trips.
        packet_type: u8,
        /// The command.
        command: u8,
    },
}

impl VideoTag {
    /// Parses a complete video tag body. `body` is sliced, not copied.
    pub fn decode(body: &Bytes) -> Result<VideoTag, FlvError> {
        let (i, b0) = need(be_u8(&body[..]), "video tag header")?;
        if b0 & 0x80 != 0 {
            return Self::decode_enhanced(body, b0, i);
        }
        let frame_type = FrameType::from_u8(b0 >> 4)?;
        let codec = CodecId::from_u8(b0);
        if !codec.has_packet_type() {
            return Ok(VideoTag::Legacy {
                frame_type,
                codec,
                data: tail(body, i),
            });
        }
        let (i, pt) = need(be_u8(i), "AVCPacketType")?;
        let packet_type = match pt {
            0 => AvcPacketType::SequenceHeader,
            1 => AvcPacketType::Nalu,
            2 => AvcPacketType::EndOfSequence,
            v => {
                return Err(FlvError::Invalid {
                    what: "AVCPacketType",
                    value: u64::from(v),
                })
            }
        };
        let (i, composition_time) = si24(i, "AVC CompositionTime")?;
        Ok(VideoTag::Avc {
            frame_type,
            codec,
            packet_type,
            composition_time,
            data: tail(body, i),
        })
    }

    /// E-RTMP: `IsExHeader UB[1]`, `FrameType UB[3]`, `PacketType UB[4]`,
    /// then `VideoCommand` for command frames, else the FourCC.
    fn decode_enhanced(body: &Bytes, b0: u8, i: &[u8]) -> Result<VideoTag, FlvError> {
        let frame_type = FrameType::from_u8((b0 >> 4) & 0x07)?;
        let raw_type = b0 & 0x0F;
        if frame_type == FrameType::Command && raw_type != 4 {
            let (_, command) = need(be_u8(i), "E-RTMP VideoCommand")?;
            return Ok(VideoTag::EnhancedCommand {
                packet_type: raw_type,
                command,
            });
        }
        let packet_type = VideoPacketType::from_u8(raw_type)?;
        let (i, fourcc) = need(be_u32(i), "E-RTMP video FourCC")?;
        let fourcc = FourCc(fourcc.to_be_bytes());
        let (i, composition_time) =
            if packet_type == VideoPacketType::CodedFrames && fourcc.has_composition_time() {
                si24(i, "E-RTMP CompositionTime")?
            } else {
                (i, 0)
            };
        Ok(VideoTag::Enhanced {
            frame_type,
            packet_type,
            fourcc,
            composition_time,
            data: tail(body, i),
        })
    }

    /// Appends the encoded body: [`encode_header`](Self::encode_header)
    /// followed by the payload.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), FlvError> {
        self.encode_header(out)?;
        out.put_slice(self.data());
        Ok(())
    }

    /// Appends only the tag-body header (the bytes before the payload), so
    /// callers can send the payload `Bytes` as is, without copying (see
    /// [`encode_tag_parts`](crate::encode_tag_parts)).
    pub fn encode_header(&self, out: &mut BytesMut) -> Result<(), FlvError> {
        match self {
            VideoTag::Avc {
                frame_type,
                codec,
                packet_type,
                composition_time,
                ..
            } => {
                if !codec.has_packet_type() {
                    return Err(FlvError::Unencodable(
                        "VideoTag::Avc with a non-AVC/HEVC codec",
                    ));
                }
                out.put_u8(frame_type.to_u8() << 4 | codec.to_u8());
                out.put_u8(match packet_type {
                    AvcPacketType::SequenceHeader => 0,
                    AvcPacketType::Nalu => 1,
                    AvcPacketType::EndOfSequence => 2,
                });
                put_cts(out, *composition_time)?;
            }
            VideoTag::Legacy {
                frame_type, codec, ..
            } => {
                if codec.has_packet_type() {
                    return Err(FlvError::Unencodable(
                        "VideoTag::Legacy with AVC/HEVC; use VideoTag::Avc",
                    ));
                }
                out.put_u8(frame_type.to_u8() << 4 | codec.to_u8());
            }
            VideoTag::Enhanced {
                frame_type,
                packet_type,
                fourcc,
                composition_time,
                ..
            } => {
                out.put_u8(0x80 | frame_type.to_u8() << 4 | packet_type.to_u8());
                out.put_slice(&fourcc.0);
                if *packet_type == VideoPacketType::CodedFrames && fourcc.has_composition_time() {
                    put_cts(out, *composition_time)?;
                } else if *composition_time != 0 {
                    return Err(FlvError::Unencodable(
                        "composition time on a packet type/codec that has none",
                    ));
                }
            }
            VideoTag::EnhancedCommand {
                packet_type,
                command,
            } => {
                out.put_u8(0x80 | FrameType::Command.to_u8() << 4 | (packet_type & 0x0F));
                out.put_u8(*command);
            }
        }
        Ok(())
    }

    /// The encoded body as `Bytes`.
    pub fn to_bytes(&self) -> Result<Bytes, FlvError> {
        let mut out = BytesMut::with_capacity(self.data().len() + 8);
        self.encode(&mut out)?;
        Ok(out.freeze())
    }

    /// An AVC sequence header carrying an AVCDecoderConfigurationRecord.
    pub fn avc_sequence_header(record: Bytes) -> Self {
        VideoTag::Avc {
            frame_type: FrameType::Key,
            codec: CodecId::Avc,
            packet_type: AvcPacketType::SequenceHeader,
            composition_time: 0,
            data: record,
        }
    }

    /// AVC NAL units (length-prefixed, as in the configuration record).
    pub fn avc_nalus(keyframe: bool, composition_time: i32, nalus: Bytes) -> Self {
        VideoTag::Avc {
            frame_type: if keyframe {
                FrameType::Key
            } else {
                FrameType::Inter
            },
            codec: CodecId::Avc,
            packet_type: AvcPacketType::Nalu,
            composition_time,
            data: nalus,
        }
    }

    /// The frame type (command frames report [`FrameType::Command`]).
    pub fn frame_type(&self) -> FrameType {
        match self {
            VideoTag::Avc { frame_type, .. }
            | VideoTag::Legacy { frame_type, .. }
            | VideoTag::Enhanced { frame_type, .. } => *frame_type,
            VideoTag::EnhancedCommand { .. } => FrameType::Command,
        }
    }

    /// True for a keyframe carrying coded data (not a sequence header or
    /// end of sequence): where a GOP cache starts.
    pub fn is_keyframe(&self) -> bool {
        self.frame_type() == FrameType::Key && self.is_coded_frame()
    }

    /// True for tags carrying coded pictures (AVC NALU, E-RTMP
    /// CodedFrames/CodedFramesX, any legacy codec payload).
    pub fn is_coded_frame(&self) -> bool {
        match self {
            VideoTag::Avc { packet_type, .. } => *packet_type == AvcPacketType::Nalu,
            VideoTag::Enhanced { packet_type, .. } => matches!(
                packet_type,
                VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX
            ),
            VideoTag::Legacy { frame_type, .. } => *frame_type != FrameType::Command,
            VideoTag::EnhancedCommand { .. } => false,
        }
    }

    /// True for a decoder configuration record (AVC sequence header,
    /// E-RTMP SequenceStart).
    pub fn is_sequence_header(&self) -> bool {
        matches!(
            self,
            VideoTag::Avc {
                packet_type: AvcPacketType::SequenceHeader,
                ..
            } | VideoTag::Enhanced {
                packet_type: VideoPacketType::SequenceStart,
                ..
            }
        )
    }

    /// Composition time offset (PTS − DTS), 0 where the wire has none.
    pub fn composition_time(&self) -> i32 {
        match self {
            VideoTag::Avc {
                composition_time, ..
            }
            | VideoTag::Enhanced {
                composition_time, ..
            } => *composition_time,
            _ => 0,
        }
    }

    /// The payload after all tag-body headers (empty for command frames).
    pub fn data(&self) -> &Bytes {
        static EMPTY: Bytes = Bytes::new();
        match self {
            VideoTag::Avc { data, .. }
            | VideoTag::Legacy { data, .. }
            | VideoTag::Enhanced { data, .. } => data,
            VideoTag::EnhancedCommand { .. } => &EMPTY,
        }
    }
}

/// SI24 composition time; must fit in 24 signed bits.
fn put_cts(out: &mut BytesMut, cts: i32) -> Result<(), FlvError> {
    if !(-(1 << 23)..(1 << 23)).contains(&cts) {
        return Err(FlvError::Unencodable("composition time outside SI24"));
    }
    put_u24(out, cts as u32);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_avc_nalu_with_cts() {
        // From the ffmpeg fixture: keyframe, AVC, NALU, CTS 0x50 = 80 ms.
        let body = Bytes::from_static(&[0x17, 0x01, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0x65]);
        let tag = VideoTag::decode(&body).unwrap();
        assert_eq!(
            tag,
            VideoTag::avc_nalus(true, 80, Bytes::from_static(&[0, 0, 0, 1, 0x65]))
        );
        assert!(tag.is_keyframe());
        assert_eq!(tag.to_bytes().unwrap(), body);
        // ffmpeg ends the stream with a keyframe-typed end of sequence.
        let eos = VideoTag::decode(&Bytes::from_static(&[0x17, 0x02, 0, 0, 0])).unwrap();
        assert!(!eos.is_keyframe() && !eos.is_coded_frame());
    }

    #[test]
    fn negative_cts_and_legacy_hevc() {
        let body = Bytes::from_static(&[0x2C, 0x01, 0xFF, 0xFF, 0xD8, 9]);
        let tag = VideoTag::decode(&body).unwrap();
        assert_eq!(tag.composition_time(), -40);
        assert!(matches!(
            tag,
            VideoTag::Avc {
                codec: CodecId::Hevc,
                ..
            }
        ));
        assert!(!tag.is_keyframe());
        assert_eq!(tag.to_bytes().unwrap(), body);
    }

    #[test]
    fn enhanced_hevc_and_av1() {
        let body = Bytes::from_static(&[0x91, b'h', b'v', b'c', b'1', 0, 0, 0x28, 7]);
        let tag = VideoTag::decode(&body).unwrap();
        assert_eq!(tag.composition_time(), 40);
        assert!(tag.is_keyframe());
        assert_eq!(tag.to_bytes().unwrap(), body);

        let body = Bytes::from_static(&[0xA3, b'h', b'v', b'c', b'1', 7]);
        let tag = VideoTag::decode(&body).unwrap();
        assert_eq!(tag.composition_time(), 0);
        assert_eq!(tag.data(), &Bytes::from_static(&[7]));
        assert_eq!(tag.to_bytes().unwrap(), body);

        let body = Bytes::from_static(&[0x90, b'a', b'v', b'0', b'1', 0x81]);
        let tag = VideoTag::decode(&body).unwrap();
        assert!(tag.is_sequence_header());
        assert!(matches!(
            tag,
            VideoTag::Enhanced {
                fourcc: FourCc::AV01,
                ..
            }
        ));
        assert_eq!(tag.to_bytes().unwrap(), body);

        // AV1 coded frames have no composition time.
        let body = Bytes::from_static(&[0x91, b'a', b'v', b'0', b'1', 0x12, 0]);
        let tag = VideoTag::decode(&body).unwrap();
        assert_eq!(tag.data().len(), 2);
    }

    #[test]
    fn enhanced_command_and_unsupported() {
        let body = Bytes::from_static(&[0xD1, 0x00]);
        let tag = VideoTag::decode(&body).unwrap();
        assert_eq!(tag.frame_type(), FrameType::Command);
        assert_eq!(tag.to_bytes().unwrap(), body);
        assert!(matches!(
            VideoTag::decode(&Bytes::from_static(&[0x96, 0, 0, 0, 0])),
            Err(FlvError::Unsupported { .. })
        ));
    }

    #[test]
    fn truncated_and_invalid() {
        for b in [
            &[][..],
            &[0x17],
            &[0x17, 0x01, 0x00],
            &[0x17, 0x05, 0, 0, 0],
            &[0x07],
            &[0x91, b'h'],
            &[0x91, b'h', b'v', b'c', b'1', 0],
        ] {
            assert!(
                VideoTag::decode(&Bytes::copy_from_slice(b)).is_err(),
                "{b:?}"
            );
        }
    }

    #[test]
    fn cts_out_of_range_refused() {
        let tag = VideoTag::avc_nalus(false, 1 << 23, Bytes::new());
        assert!(tag.to_bytes().is_err());
    }
}
