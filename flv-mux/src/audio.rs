//! Audio tag bodies: legacy `AUDIODATA` (FLV spec v10.1, E.4.2) and
//! Enhanced RTMP audio (E-RTMP v2, ExAudioTagHeader).

use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_u32, be_u8};

use crate::error::FlvError;
use crate::fourcc::FourCc;
use crate::parse::{need, tail};

/// `SoundFormat` (`UB[4]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SoundFormat {
    /// 0: linear PCM, platform endian.
    LinearPcm,
    /// 1: ADPCM.
    Adpcm,
    /// 2: MP3.
    Mp3,
    /// 3: linear PCM, little endian.
    LinearPcmLe,
    /// 4: Nellymoser 16 kHz mono.
    Nellymoser16kMono,
    /// 5: Nellymoser 8 kHz mono.
    Nellymoser8kMono,
    /// 6: Nellymoser.
    Nellymoser,
    /// 7: G.711 A-law.
    G711ALaw,
    /// 8: G.711 µ-law.
    G711MuLaw,
    /// 10: AAC.
    Aac,
    /// 11: Speex.
    Speex,
    /// 14: MP3 8 kHz.
    Mp3_8k,
    /// 15: device-specific sound.
    DeviceSpecific,
    /// 12 and 13: reserved. (9 means "ExHeader" in E-RTMP and is never
    /// produced by the decoder as a legacy format.)
    Reserved(u8),
}

impl SoundFormat {
    /// From the 4-bit wire value.
    pub fn from_u8(v: u8) -> Self {
        match v & 0x0F {
            0 => SoundFormat::LinearPcm,
            1 => SoundFormat::Adpcm,
            2 => SoundFormat::Mp3,
            3 => SoundFormat::LinearPcmLe,
            4 => SoundFormat::Nellymoser16kMono,
            5 => SoundFormat::Nellymoser8kMono,
            6 => SoundFormat::Nellymoser,
            7 => SoundFormat::G711ALaw,
            8 => SoundFormat::G711MuLaw,
            10 => SoundFormat::Aac,
            11 => SoundFormat::Speex,
            14 => SoundFormat::Mp3_8k,
            15 => SoundFormat::DeviceSpecific,
            o => SoundFormat::Reserved(o),
        }
    }

    /// The 4-bit wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            SoundFormat::LinearPcm => 0,
            SoundFormat::Adpcm => 1,
            SoundFormat::Mp3 => 2,
            SoundFormat::LinearPcmLe => 3,
            SoundFormat::Nellymoser16kMono => 4,
            SoundFormat::Nellymoser8kMono => 5,
            SoundFormat::Nellymoser => 6,
            SoundFormat::G711ALaw => 7,
            SoundFormat::G711MuLaw => 8,
            SoundFormat::Aac => 10,
            SoundFormat::Speex => 11,
            SoundFormat::Mp3_8k => 14,
            SoundFormat::DeviceSpecific => 15,
            SoundFormat::Reserved(v) => v & 0x0F,
        }
    }
}

/// The E-RTMP marker in the SoundFormat nibble.
const EX_HEADER: u8 = 9;

/// The legacy first byte: SoundFormat, SoundRate, SoundSize, SoundType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyAudioHeader {
    /// Codec.
    pub format: SoundFormat,
    /// `SoundRate` (`UB[2]`): 0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz.
    /// For AAC always 3; the real rate is in the AudioSpecificConfig.
    pub rate: u8,
    /// `SoundSize`: true for 16-bit samples, false for 8-bit.
    pub sample_16bit: bool,
    /// `SoundType`: true for stereo.
    pub stereo: bool,
}

impl LegacyAudioHeader {
    /// What ffmpeg and OBS write for AAC: 44 kHz, 16-bit, stereo (0xAF).
    pub const AAC: LegacyAudioHeader = LegacyAudioHeader {
        format: SoundFormat::Aac,
        rate: 3,
        sample_16bit: true,
        stereo: true,
    };

    /// The rate in Hz that `rate` stands for.
    pub fn rate_hz(&self) -> u32 {
        match self.rate & 3 {
            0 => 5_512,
            1 => 11_025,
            2 => 22_050,
            _ => 44_100,
        }
    }

    fn from_u8(b: u8) -> Self {
        LegacyAudioHeader {
            format: SoundFormat::from_u8(b >> 4),
            rate: (b >> 2) & 3,
            sample_16bit: b & 0x02 != 0,
            stereo: b & 0x01 != 0,
        }
    }

    fn to_u8(self) -> u8 {
        self.format.to_u8() << 4
            | (self.rate & 3) << 2
            | u8::from(self.sample_16bit) << 1
            | u8::from(self.stereo)
    }
}

/// `AACPacketType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AacPacketType {
    /// 0: AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1).
    SequenceHeader,
    /// 1: one raw AAC frame.
    Raw,
}

/// E-RTMP `AudioPacketType` (the low nibble when SoundFormat is 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioPacketType {
    /// 0: codec configuration (e.g. Opus ID header, AudioSpecificConfig).
    SequenceStart,
    /// 1: coded frames.
    CodedFrames,
    /// 2: end of sequence.
    SequenceEnd,
    /// 4: multichannel configuration (payload kept raw).
    MultichannelConfig,
}

impl AudioPacketType {
    fn from_u8(v: u8) -> Result<Self, FlvError> {
        Ok(match v {
            0 => AudioPacketType::SequenceStart,
            1 => AudioPacketType::CodedFrames,
            2 => AudioPacketType::SequenceEnd,
            4 => AudioPacketType::MultichannelConfig,
            // 5 Multitrack and 7 ModEx change the header layout; nothing
            // we serve sends them yet.
            _ => {
                return Err(FlvError::Unsupported {
                    what: "E-RTMP AudioPacketType",
                    value: u64::from(v),
                })
            }
        })
    }

    fn to_u8(self) -> u8 {
        match self {
            AudioPacketType::SequenceStart => 0,
            AudioPacketType::CodedFrames => 1,
            AudioPacketType::SequenceEnd => 2,
            AudioPacketType::MultichannelConfig => 4,
        }
    }
}

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
