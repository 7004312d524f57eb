//! The one-byte fields of an audio tag header (FLV spec v10.1 E.4.2.1,
//! E-RTMP ExAudioTagHeader).

use crate::error::FlvError;

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
pub(crate) const EX_HEADER: u8 = 9;

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

    pub(crate) fn from_u8(b: u8) -> Self {
        LegacyAudioHeader {
            format: SoundFormat::from_u8(b >> 4),
            rate: (b >> 2) & 3,
            sample_16bit: b & 0x02 != 0,
            stereo: b & 0x01 != 0,
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
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
    pub(crate) fn from_u8(v: u8) -> Result<Self, FlvError> {
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

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            AudioPacketType::SequenceStart => 0,
            AudioPacketType::CodedFrames => 1,
            AudioPacketType::SequenceEnd => 2,
            AudioPacketType::MultichannelConfig => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        for b in 0..=255u8 {
            assert_eq!(LegacyAudioHeader::from_u8(b).to_u8(), b);
        }
        for v in 0..16u8 {
            assert_eq!(SoundFormat::from_u8(v).to_u8(), v);
            if let Ok(p) = AudioPacketType::from_u8(v) {
                assert_eq!(p.to_u8(), v);
            }
        }
        assert_eq!(LegacyAudioHeader::from_u8(0xAF), LegacyAudioHeader::AAC);
        assert_eq!(LegacyAudioHeader::AAC.rate_hz(), 44_100);
    }
}
