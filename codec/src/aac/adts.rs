//! The fixed ADTS header (ISO/IEC 14496-3 1.A.2.2.1, Tables 1.A.5 and
//! 1.A.6; ISO/IEC 13818-7) that carries AAC in MPEG-TS, and its relation to
//! the AudioSpecificConfig (1.6.2.1).

use crate::error::{truncated, CodecError};

use super::SAMPLE_RATES;

/// Bytes of an ADTS header without CRC (`protection_absent` = 1).
pub const ADTS_HEADER_LEN: usize = 7;
/// Largest `aac_frame_length` (13 bits), header included.
pub const MAX_ADTS_FRAME: usize = (1 << 13) - 1;

/// The fields of an ADTS header that stay the same for a whole stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsConfig {
    /// `profile_ObjectType`: audio object type minus 1 (0 Main, 1 LC,
    /// 2 SSR, 3 LTP).
    pub profile: u8,
    /// `sampling_frequency_index` (0..=12 for a valid stream).
    pub sampling_index: u8,
    /// `channel_configuration` (1..=7; 0 = defined in the stream).
    pub channels: u8,
}

/// The header length of the ADTS frame starting `data`: 7, or 9 when
/// `protection_absent` is 0 (a 16-bit CRC follows). `None` if `data` is
/// shorter than 2 bytes.
pub fn header_len(data: &[u8]) -> Option<usize> {
    let b1 = data.get(1)?;
    Some(if b1 & 0x01 == 0 {
        ADTS_HEADER_LEN + 2
    } else {
        ADTS_HEADER_LEN
    })
}

impl AdtsConfig {
    /// Reads the first two bytes of an AudioSpecificConfig and checks that
    /// ADTS can express them; anything it cannot is refused
    /// ([`CodecError::Unsupported`] naming the field) rather than written as
    /// a header that lies about the stream. Fewer than 2 bytes is
    /// [`CodecError::Truncated`].
    pub fn from_audio_specific_config(asc: &[u8]) -> Result<Self, CodecError> {
        let (Some(&b0), Some(&b1)) = (asc.first(), asc.get(1)) else {
            return Err(truncated("AudioSpecificConfig"));
        };
        let unsupported = |what, value: u8| CodecError::Unsupported {
            what,
            value: u64::from(value),
        };
        // 1.6.2.1: audioObjectType is 5 bits, 31 escapes to 32 + 6 bits:
        // either way above 4, which the 2-bit ADTS profile cannot hold.
        let object_type = b0 >> 3;
        if !(1..=4).contains(&object_type) {
            return Err(unsupported("audioObjectType", object_type));
        }
        // 0xF means an explicit 24-bit frequency follows; 13 and 14 are
        // reserved (Table 1.18). ADTS has only the index.
        let sampling_index = (b0 & 0x07) << 1 | b1 >> 7;
        if sampling_index > 12 {
            return Err(unsupported("samplingFrequencyIndex", sampling_index));
        }
        // 0 means "defined in a program_config_element" of the ASC, which the
        // ADTS header cannot carry; 8..=15 do not fit its 3 bits.
        let channels = (b1 >> 3) & 0x0F;
        if !(1..=7).contains(&channels) {
            return Err(unsupported("channelConfiguration", channels));
        }
        Ok(AdtsConfig {
            profile: object_type - 1,
            sampling_index,
            channels,
        })
    }

    /// The 2-byte AudioSpecificConfig this header describes (object type,
    /// sampling index, channels; GASpecificConfig flags all 0).
    pub fn audio_specific_config(&self) -> [u8; 2] {
        [
            (self.profile + 1) << 3 | self.sampling_index >> 1,
            (self.sampling_index & 1) << 7 | self.channels << 3,
        ]
    }

    /// The sampling rate in Hz, if the index is one of the 13 defined.
    pub fn sample_rate(&self) -> Option<u32> {
        SAMPLE_RATES.get(usize::from(self.sampling_index)).copied()
    }

    /// The header (no CRC) of a frame carrying `payload_len` bytes of raw
    /// AAC. A frame over [`MAX_ADTS_FRAME`] is [`CodecError::TooLarge`].
    pub fn header(&self, payload_len: usize) -> Result<[u8; ADTS_HEADER_LEN], CodecError> {
        let len = payload_len.saturating_add(ADTS_HEADER_LEN);
        if len > MAX_ADTS_FRAME {
            return Err(CodecError::TooLarge {
                what: "ADTS aac_frame_length",
                size: len as u64,
                limit: MAX_ADTS_FRAME as u64,
            });
        }
        let len = len as u16;
        // adts_buffer_fullness 0x7FF: variable bit rate.
        let fullness: u16 = 0x7FF;
        Ok([
            0xFF,
            // syncword low bits, ID 0 (MPEG-4), layer 00, protection_absent 1.
            0xF1,
            (self.profile & 3) << 6 | (self.sampling_index & 0xF) << 2 | (self.channels >> 2) & 1,
            (self.channels & 3) << 6 | (len >> 11) as u8,
            (len >> 3) as u8,
            ((len & 7) as u8) << 5 | (fullness >> 6) as u8,
            ((fullness & 0x3F) as u8) << 2,
        ])
    }

    /// Decodes a header: its configuration and `aac_frame_length` (header
    /// included). Fields are not range-checked beyond the syncword and
    /// layer; fewer than 7 bytes is [`CodecError::Truncated`].
    pub fn decode(header: &[u8]) -> Result<(AdtsConfig, usize), CodecError> {
        let Some(&[h0, h1, h2, h3, h4, h5, _]) = header
            .get(..ADTS_HEADER_LEN)
            .and_then(|h| <&[u8; ADTS_HEADER_LEN]>::try_from(h).ok())
        else {
            return Err(truncated("ADTS header"));
        };
        if h0 != 0xFF || h1 & 0xF6 != 0xF0 {
            return Err(CodecError::Invalid {
                what: "ADTS syncword/layer",
                value: u64::from(u16::from_be_bytes([h0, h1])),
            });
        }
        let config = AdtsConfig {
            profile: h2 >> 6,
            sampling_index: (h2 >> 2) & 0xF,
            channels: (h2 & 1) << 2 | h3 >> 6,
        };
        let len = usize::from(h3 & 3) << 11 | usize::from(h4) << 3 | usize::from(h5 >> 5);
        Ok((config, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lc_44100_stereo() {
        // ASC 0x12 0x10: AAC LC, 44.1 kHz (index 4), 2 channels.
        let c = AdtsConfig::from_audio_specific_config(&[0x12, 0x10]).unwrap();
        assert_eq!(
            c,
            AdtsConfig {
                profile: 1,
                sampling_index: 4,
                channels: 2
            }
        );
        assert_eq!(c.audio_specific_config(), [0x12, 0x10]);
        assert_eq!(c.sample_rate(), Some(44_100));
        // A 100-byte payload gives aac_frame_length 107, as ffmpeg writes it.
        let h = c.header(100).unwrap();
        assert_eq!(h, [0xFF, 0xF1, 0x50, 0x80, 0x0D, 0x7F, 0xFC]);
        assert_eq!(AdtsConfig::decode(&h).unwrap(), (c, 107));
        assert_eq!(header_len(&h), Some(7));
        assert_eq!(header_len(&[0xFF, 0xF0]), Some(9));
        assert_eq!(header_len(&[0xFF]), None);
        assert!(AdtsConfig::decode(&h[..6]).is_err());
    }

    #[test]
    fn refuses_what_adts_cannot_carry() {
        let refused = |asc: &[u8], field: &str| match AdtsConfig::from_audio_specific_config(asc) {
            Err(CodecError::Unsupported { what, .. }) => assert_eq!(what, field),
            other => panic!("{asc:02x?}: {other:?}"),
        };
        refused(&[0x2B, 0x92], "audioObjectType"); // HE-AAC (5)
        refused(&[0xF8, 0x00], "audioObjectType"); // escape to 32+
        refused(&[0x17, 0x80], "samplingFrequencyIndex"); // explicit frequency
        refused(&[0x12, 0x00], "channelConfiguration"); // PCE
        assert_eq!(
            AdtsConfig::from_audio_specific_config(&[0x12]),
            Err(truncated("AudioSpecificConfig"))
        );
        let c = AdtsConfig::from_audio_specific_config(&[0x12, 0x10]).unwrap();
        assert!(c.header(MAX_ADTS_FRAME - ADTS_HEADER_LEN).is_ok());
        assert!(matches!(
            c.header(MAX_ADTS_FRAME - ADTS_HEADER_LEN + 1),
            Err(CodecError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(profile in 0u8..4, sampling_index in 0u8..13, channels in 1u8..8,
                      len in 0usize..=MAX_ADTS_FRAME - ADTS_HEADER_LEN) {
            let c = AdtsConfig { profile, sampling_index, channels };
            let h = c.header(len).unwrap();
            prop_assert_eq!(AdtsConfig::decode(&h).unwrap(), (c, len + ADTS_HEADER_LEN));
            // And the AudioSpecificConfig the header was made from.
            let asc = c.audio_specific_config();
            prop_assert_eq!(asc, [(profile + 1) << 3 | sampling_index >> 1, (sampling_index & 1) << 7 | channels << 3]);
            prop_assert_eq!(AdtsConfig::from_audio_specific_config(&asc).unwrap(), c);
        }
    }
}
