//! The audio tag body: parse and encode.

use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_u32, be_u8};

use super::fields::{AacPacketType, AudioPacketType, LegacyAudioHeader, SoundFormat, EX_HEADER};
use crate::error::FlvError;
use crate::fourcc::FourCc;
use crate::parse::{need, tail};

/// A parsed audio tag body. `data` is a zero-copy slice of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioTag {
    /// SoundFormat 10 (AAC). `data` is the AudioSpecificConfig for a
    /// sequence header, a raw AAC frame otherwise. The format nibble is
    /// always written as 10.
    Aac {
        /// The first byte.
        header: LegacyAudioHeader,
        /// Sequence header or raw frame.
        packet_type: AacPacketType,
        /// The payload after the packet type.
        data: Bytes,
    },
    /// Any other legacy format (MP3, G.711, Speex, PCM…): `data` is the
    /// codec payload after the first byte.
    Legacy {
        /// The first byte.
        header: LegacyAudioHeader,
        /// The codec payload.
        data: Bytes,
    },
    /// Enhanced RTMP audio (SoundFormat 9 = ExHeader).
    Enhanced {
        /// What the payload is.
        packet_type: AudioPacketType,
        /// The codec.
        fourcc: FourCc,
        /// The payload after the FourCC.
        data: Bytes,
    },
}

impl AudioTag {
    /// Parses a complete audio tag body. `body` is sliced, not copied.
    pub fn decode(body: &Bytes) -> Result<AudioTag, FlvError> {
        let (i, b0) = need(be_u8(&body[..]), "audio tag header")?;
        if b0 >> 4 == EX_HEADER {
            let packet_type = AudioPacketType::from_u8(b0 & 0x0F)?;
            let (i, fourcc) = need(be_u32(i), "E-RTMP audio FourCC")?;
            return Ok(AudioTag::Enhanced {
                packet_type,
                fourcc: FourCc(fourcc.to_be_bytes()),
                data: tail(body, i),
            });
        }
        let header = LegacyAudioHeader::from_u8(b0);
        if header.format != SoundFormat::Aac {
            return Ok(AudioTag::Legacy {
                header,
                data: tail(body, i),
            });
        }
        let (i, pt) = need(be_u8(i), "AACPacketType")?;
        let packet_type = match pt {
            0 => AacPacketType::SequenceHeader,
            1 => AacPacketType::Raw,
            v => {
                return Err(FlvError::Invalid {
                    what: "AACPacketType",
                    value: u64::from(v),
                })
            }
        };
        Ok(AudioTag::Aac {
            header,
            packet_type,
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
            AudioTag::Aac {
                header,
                packet_type,
                ..
            } => {
                let header = LegacyAudioHeader {
                    format: SoundFormat::Aac,
                    ..*header
                };
                out.put_u8(header.to_u8());
                out.put_u8(match packet_type {
                    AacPacketType::SequenceHeader => 0,
                    AacPacketType::Raw => 1,
                });
            }
            AudioTag::Legacy { header, .. } => {
                if header.format == SoundFormat::Aac || header.format.to_u8() == EX_HEADER {
                    return Err(FlvError::Unencodable(
                        "legacy audio with AAC/ExHeader format; use AudioTag::Aac or Enhanced",
                    ));
                }
                out.put_u8(header.to_u8());
            }
            AudioTag::Enhanced {
                packet_type,
                fourcc,
                ..
            } => {
                out.put_u8(EX_HEADER << 4 | packet_type.to_u8());
                out.put_slice(&fourcc.0);
            }
        }
        Ok(())
    }

    /// The encoded body as `Bytes`.
    pub fn to_bytes(&self) -> Result<Bytes, FlvError> {
        let mut out = BytesMut::with_capacity(self.data().len() + 5);
        self.encode(&mut out)?;
        Ok(out.freeze())
    }

    /// An AAC sequence header carrying `asc` (an AudioSpecificConfig).
    pub fn aac_sequence_header(asc: Bytes) -> Self {
        AudioTag::Aac {
            header: LegacyAudioHeader::AAC,
            packet_type: AacPacketType::SequenceHeader,
            data: asc,
        }
    }

    /// A raw AAC frame.
    pub fn aac_raw(frame: Bytes) -> Self {
        AudioTag::Aac {
            header: LegacyAudioHeader::AAC,
            packet_type: AacPacketType::Raw,
            data: frame,
        }
    }

    /// True for codec configuration (AAC sequence header, E-RTMP
    /// SequenceStart): the tag a new viewer needs before any frame.
    pub fn is_sequence_header(&self) -> bool {
        matches!(
            self,
            AudioTag::Aac {
                packet_type: AacPacketType::SequenceHeader,
                ..
            } | AudioTag::Enhanced {
                packet_type: AudioPacketType::SequenceStart,
                ..
            }
        )
    }

    /// The payload (after all tag-body headers).
    pub fn data(&self) -> &Bytes {
        match self {
            AudioTag::Aac { data, .. }
            | AudioTag::Legacy { data, .. }
            | AudioTag::Enhanced { data, .. } => data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_aac_sequence_header() {
        // From the ffmpeg fixture: 0xAF 0x00 then ASC 0x12 0x08
        // (AAC-LC, 44.1 kHz, mono).
        let body = Bytes::from_static(&[0xAF, 0x00, 0x12, 0x08]);
        let tag = AudioTag::decode(&body).unwrap();
        assert!(tag.is_sequence_header());
        assert_eq!(tag, AudioTag::aac_sequence_header(body.slice(2..)));
        assert_eq!(tag.to_bytes().unwrap(), body);
    }

    #[test]
    fn g711_and_mp3() {
        let body = Bytes::from_static(&[0x72, 0xD5, 0xD5]);
        let tag = AudioTag::decode(&body).unwrap();
        let AudioTag::Legacy { header, data } = &tag else {
            panic!("{tag:?}")
        };
        assert_eq!(header.format, SoundFormat::G711ALaw);
        assert!(!header.stereo && header.sample_16bit);
        assert_eq!(header.rate_hz(), 5_512);
        assert_eq!(data.len(), 2);
        assert_eq!(tag.to_bytes().unwrap(), body);
        let mu = AudioTag::decode(&Bytes::from_static(&[0x82])).unwrap();
        assert!(
            matches!(mu, AudioTag::Legacy { header, .. } if header.format == SoundFormat::G711MuLaw)
        );
        let mp3 = AudioTag::decode(&Bytes::from_static(&[0x2F, 0xFF, 0xFB])).unwrap();
        assert!(
            matches!(mp3, AudioTag::Legacy { header, .. } if header.format == SoundFormat::Mp3)
        );
    }

    #[test]
    fn enhanced_opus() {
        let body = Bytes::from_static(&[0x90, b'O', b'p', b'u', b's', 1, 2]);
        let tag = AudioTag::decode(&body).unwrap();
        assert_eq!(
            tag,
            AudioTag::Enhanced {
                packet_type: AudioPacketType::SequenceStart,
                fourcc: FourCc::OPUS,
                data: Bytes::from_static(&[1, 2]),
            }
        );
        assert!(tag.is_sequence_header());
        assert_eq!(tag.to_bytes().unwrap(), body);
        assert!(matches!(
            AudioTag::decode(&Bytes::from_static(&[0x95, 0, 0, 0, 0])),
            Err(FlvError::Unsupported { .. })
        ));
    }

    #[test]
    fn truncated_and_invalid() {
        assert!(AudioTag::decode(&Bytes::new()).is_err());
        assert!(AudioTag::decode(&Bytes::from_static(&[0xAF])).is_err());
        assert!(AudioTag::decode(&Bytes::from_static(&[0xAF, 7])).is_err());
        assert!(AudioTag::decode(&Bytes::from_static(&[0x90, b'O'])).is_err());
    }

    #[test]
    fn round_trip_all_legacy_formats() {
        for b0 in 0..=255u8 {
            let body = Bytes::from(vec![b0, 0x01, 0x33]);
            if let Ok(tag) = AudioTag::decode(&body) {
                assert_eq!(tag.to_bytes().unwrap(), body, "{b0:#x}");
            }
        }
    }
}
