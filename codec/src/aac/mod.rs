//! AAC: AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1) and the ADTS header
//! (ISO/IEC 14496-3, 1.A.2.2; ISO/IEC 13818-7) used in MPEG-TS.

use bytes::Bytes;

use crate::bits::{BitReader, BitWriter};
use crate::error::CodecError;

pub mod adts;

pub use adts::{AdtsConfig, ADTS_HEADER_LEN, MAX_ADTS_FRAME};

/// `samplingFrequencyIndex` → Hz (14496-3, Table 1.18).
pub const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// The fields of an AudioSpecificConfig that strom needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Core `audioObjectType` (2 = AAC LC). For explicitly signalled HE-AAC
    /// (object type 5 or 29) this is the underlying type.
    pub object_type: u8,
    /// Core sampling rate in Hz.
    pub sample_rate: u32,
    /// `channelConfiguration` (0 = defined in the program config element).
    pub channel_configuration: u8,
    /// Explicit SBR signalling (object type 5 or 29): the output rate in Hz.
    pub sbr_sample_rate: Option<u32>,
    /// Object type 29: parametric stereo.
    pub ps: bool,
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, CodecError> {
    let t = r.bits(5)? as u8;
    Ok(if t == 31 { 32 + r.bits(6)? as u8 } else { t })
}

fn read_rate(r: &mut BitReader<'_>) -> Result<u32, CodecError> {
    let idx = r.bits(4)?;
    if idx == 0x0F {
        return r.bits(24);
    }
    SAMPLE_RATES
        .get(idx as usize)
        .copied()
        .ok_or(CodecError::Invalid {
            what: "AAC samplingFrequencyIndex",
            value: u64::from(idx),
        })
}

fn rate_index(hz: u32) -> Option<u8> {
    SAMPLE_RATES.iter().position(|&r| r == hz).map(|i| i as u8)
}

impl AudioSpecificConfig {
    /// AAC-LC with the given rate and channel configuration.
    pub fn aac_lc(sample_rate: u32, channel_configuration: u8) -> Self {
        AudioSpecificConfig {
            object_type: 2,
            sample_rate,
            channel_configuration,
            sbr_sample_rate: None,
            ps: false,
        }
    }

    /// Parses the leading fields; the codec-specific rest is ignored.
    ///
    /// # Errors
    /// Truncated or invalid fields, or a config longer than
    /// [`MAX_CODEC_CONFIG_LEN`](crate::MAX_CODEC_CONFIG_LEN)
    /// ([`CodecError::TooLarge`]): callers keep the bytes as the track's
    /// configuration.
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        crate::parse::check_config_len("AudioSpecificConfig", data.len())?;
        let mut r = BitReader::new(data, "AudioSpecificConfig");
        let mut object_type = read_object_type(&mut r)?;
        let sample_rate = read_rate(&mut r)?;
        let channel_configuration = r.bits(4)? as u8;
        let (mut sbr_sample_rate, mut ps) = (None, false);
        if object_type == 5 || object_type == 29 {
            ps = object_type == 29;
            sbr_sample_rate = Some(read_rate(&mut r)?);
            object_type = read_object_type(&mut r)?;
        }
        if object_type == 0 {
            return Err(CodecError::Invalid {
                what: "AAC audioObjectType",
                value: 0,
            });
        }
        Ok(AudioSpecificConfig {
            object_type,
            sample_rate,
            channel_configuration,
            sbr_sample_rate,
            ps,
        })
    }

    /// Encodes a minimal config: the fields above and, for the GA object
    /// types (1–4), a GASpecificConfig with frameLengthFlag,
    /// dependsOnCoreCoder and extensionFlag all 0 — what ffmpeg writes.
    pub fn to_bytes(&self) -> Result<Bytes, CodecError> {
        let mut w = BitWriter::new();
        let put_type = |w: &mut BitWriter, t: u8| {
            if t >= 32 {
                w.put(31, 5);
                w.put(u32::from(t - 32), 6);
            } else {
                w.put(u32::from(t), 5);
            }
        };
        let put_rate = |w: &mut BitWriter, hz: u32| match rate_index(hz) {
            Some(i) => w.put(u32::from(i), 4),
            None => {
                w.put(0x0F, 4);
                w.put(hz & 0x00FF_FFFF, 24);
            }
        };
        if self.object_type > 95 {
            return Err(CodecError::Unencodable("AAC object type above 95"));
        }
        match self.sbr_sample_rate {
            Some(ext) => {
                put_type(&mut w, if self.ps { 29 } else { 5 });
                put_rate(&mut w, self.sample_rate);
                w.put(u32::from(self.channel_configuration & 0x0F), 4);
                put_rate(&mut w, ext);
                put_type(&mut w, self.object_type);
            }
            None => {
                put_type(&mut w, self.object_type);
                put_rate(&mut w, self.sample_rate);
                w.put(u32::from(self.channel_configuration & 0x0F), 4);
            }
        }
        if matches!(self.object_type, 1..=4) {
            w.put(0, 3);
        }
        Ok(w.finish())
    }

    /// The 7-byte ADTS header (no CRC) for one raw frame of
    /// `payload_len` bytes. ADTS can carry only object types 1–4 at one of
    /// the 13 indexed rates; HE-AAC goes out as its AAC-LC core (implicit
    /// SBR signalling), as ffmpeg's ADTS muxer does.
    pub fn adts_header(&self, payload_len: usize) -> Result<[u8; ADTS_HEADER_LEN], CodecError> {
        if !matches!(self.object_type, 1..=4) {
            return Err(CodecError::Unencodable(
                "ADTS carries AAC object types 1-4 only",
            ));
        }
        let sampling_index = rate_index(self.sample_rate).ok_or(CodecError::Unencodable(
            "ADTS needs an indexed sampling rate",
        ))?;
        let adts = AdtsConfig {
            profile: self.object_type - 1,
            sampling_index,
            channels: self.channel_configuration & 0x07,
        };
        adts.header(payload_len)
            .map_err(|_| CodecError::Unencodable("ADTS frame longer than 8191 bytes"))
    }

    /// Parses an ADTS header: the config it implies and the whole frame
    /// length (header included). `Ok(None)` if fewer than 7 bytes.
    pub fn parse_adts(data: &[u8]) -> Result<Option<(Self, usize)>, CodecError> {
        if data.len() < ADTS_HEADER_LEN {
            return Ok(None);
        }
        let (adts, len) = AdtsConfig::decode(data)?;
        let sample_rate = adts.sample_rate().ok_or(CodecError::Invalid {
            what: "ADTS sampling_frequency_index",
            value: u64::from(adts.sampling_index),
        })?;
        let header_len = adts::header_len(data).unwrap_or(ADTS_HEADER_LEN);
        if len < header_len {
            return Err(CodecError::Invalid {
                what: "ADTS aac_frame_length",
                value: len as u64,
            });
        }
        let cfg = AudioSpecificConfig::aac_lc(sample_rate, adts.channels);
        Ok(Some((
            AudioSpecificConfig {
                object_type: adts.profile + 1,
                ..cfg
            },
            len,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_lc_44100_mono() {
        let asc = AudioSpecificConfig::parse(&[0x12, 0x08]).unwrap();
        assert_eq!(asc, AudioSpecificConfig::aac_lc(44_100, 1));
        assert_eq!(&asc.to_bytes().unwrap()[..], &[0x12, 0x08]);
    }

    #[test]
    fn configs_over_64_kib_are_refused() {
        let mut big = vec![0x12, 0x08];
        big.resize(crate::MAX_CODEC_CONFIG_LEN, 0);
        assert!(AudioSpecificConfig::parse(&big).is_ok());
        big.push(0);
        let e = AudioSpecificConfig::parse(&big).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::LimitExceeded);
    }

    #[test]
    fn he_aac_v2_and_explicit_rate() {
        // HE-AACv2: type 29, 24 kHz core, stereo, 48 kHz SBR, core LC.
        let asc = AudioSpecificConfig {
            object_type: 2,
            sample_rate: 24_000,
            channel_configuration: 2,
            sbr_sample_rate: Some(48_000),
            ps: true,
        };
        let bytes = asc.to_bytes().unwrap();
        assert_eq!(AudioSpecificConfig::parse(&bytes).unwrap(), asc);
        let odd = AudioSpecificConfig::aac_lc(50_000, 2);
        let bytes = odd.to_bytes().unwrap();
        assert_eq!(AudioSpecificConfig::parse(&bytes).unwrap(), odd);
        assert!(odd.adts_header(10).is_err());
        assert!(AudioSpecificConfig::parse(&[0x12]).is_err());
        assert!(AudioSpecificConfig::parse(&[0x00, 0x00]).is_err());
    }

    #[test]
    fn adts_round_trip() {
        let asc = AudioSpecificConfig::aac_lc(48_000, 2);
        let h = asc.adts_header(371).unwrap();
        // ffmpeg -c:a aac -f adts writes FF F1 4C 80 ..: LC, 48 kHz, stereo.
        assert_eq!(&h[..3], &[0xFF, 0xF1, 0x4C]);
        assert_eq!(h[3] >> 6, 2);
        let (back, len) = AudioSpecificConfig::parse_adts(&h).unwrap().unwrap();
        assert_eq!((back, len), (asc, 378));
        assert_eq!(AudioSpecificConfig::parse_adts(&h[..6]).unwrap(), None);
        assert!(AudioSpecificConfig::parse_adts(&[0; 7]).is_err());
        assert!(asc.adts_header(9000).is_err());
        // Byte for byte what ffmpeg 5.1 `-f adts` wrote for a 295-byte frame.
        assert_eq!(
            asc.adts_header(288).unwrap(),
            [0xFF, 0xF1, 0x4C, 0x80, 0x24, 0xFF, 0xFC]
        );
    }
}
