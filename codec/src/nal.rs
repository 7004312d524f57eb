//! NAL unit classification for H.264 (ITU-T H.264 7.3.1, Table 7-1) and
//! H.265 (ITU-T H.265 7.3.1.2, Table 7-1): the type in the header, access
//! unit delimiters, parameter sets and random-access pictures.

/// A video codec whose bitstream is made of NAL units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 / AVC (1-byte NAL unit header).
    H264,
    /// H.265 / HEVC (2-byte NAL unit header).
    H265,
}

/// The kind of a parameter set NAL unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParameterSet {
    /// H.265 video parameter set.
    Vps,
    /// Sequence parameter set.
    Sps,
    /// Picture parameter set.
    Pps,
}

/// H.264 NAL unit types (Table 7-1).
pub mod h264 {
    /// Coded slice of a non-IDR picture.
    pub const NAL_SLICE: u8 = 1;
    /// Coded slice of an IDR picture: a keyframe.
    pub const NAL_IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const NAL_SEI: u8 = 6;
    /// Sequence parameter set.
    pub const NAL_SPS: u8 = 7;
    /// Picture parameter set.
    pub const NAL_PPS: u8 = 8;
    /// Access unit delimiter.
    pub const NAL_AUD: u8 = 9;

    /// `nal_unit_type` from the header byte (its low 5 bits).
    pub fn nal_type(header: u8) -> u8 {
        header & 0x1F
    }
}

/// H.265 NAL unit types (Table 7-1).
pub mod h265 {
    /// First IRAP type (BLA_W_LP).
    pub const NAL_IRAP_FIRST: u8 = 16;
    /// IDR_W_RADL.
    pub const NAL_IDR_W_RADL: u8 = 19;
    /// Last IRAP type (RSV_IRAP_VCL23 is 23, but 22 and 23 are reserved;
    /// CRA_NUT is 21).
    pub const NAL_IRAP_LAST: u8 = 21;
    /// Video parameter set.
    pub const NAL_VPS: u8 = 32;
    /// Sequence parameter set.
    pub const NAL_SPS: u8 = 33;
    /// Picture parameter set.
    pub const NAL_PPS: u8 = 34;
    /// Access unit delimiter.
    pub const NAL_AUD: u8 = 35;

    /// `nal_unit_type` from the first header byte (F, Type(6), LayerId…).
    pub fn nal_type(first: u8) -> u8 {
        (first >> 1) & 0x3F
    }

    /// IRAP pictures (BLA, IDR, CRA: types 16..=21, 7.4.2.2) are
    /// random-access points.
    pub fn is_irap(nal_type: u8) -> bool {
        (NAL_IRAP_FIRST..=NAL_IRAP_LAST).contains(&nal_type)
    }
}

impl VideoCodec {
    /// The NAL unit type of `nal`, if it has a header byte.
    pub fn nal_type(self, nal: &[u8]) -> Option<u8> {
        let b = *nal.first()?;
        Some(match self {
            VideoCodec::H264 => h264::nal_type(b),
            VideoCodec::H265 => h265::nal_type(b),
        })
    }

    /// Whether `nal` is an access unit delimiter.
    pub fn is_aud(self, nal: &[u8]) -> bool {
        let aud = match self {
            VideoCodec::H264 => h264::NAL_AUD,
            VideoCodec::H265 => h265::NAL_AUD,
        };
        self.nal_type(nal) == Some(aud)
    }

    /// Which parameter set `nal` is: SPS/PPS (H.264 types 7, 8) or
    /// VPS/SPS/PPS (H.265 types 32..=34).
    pub fn parameter_set(self, nal: &[u8]) -> Option<ParameterSet> {
        match (self, self.nal_type(nal)?) {
            (VideoCodec::H264, h264::NAL_SPS) | (VideoCodec::H265, h265::NAL_SPS) => {
                Some(ParameterSet::Sps)
            }
            (VideoCodec::H264, h264::NAL_PPS) | (VideoCodec::H265, h265::NAL_PPS) => {
                Some(ParameterSet::Pps)
            }
            (VideoCodec::H265, h265::NAL_VPS) => Some(ParameterSet::Vps),
            _ => None,
        }
    }

    /// Whether `nal` is a parameter set.
    pub fn is_parameter_set(self, nal: &[u8]) -> bool {
        self.parameter_set(nal).is_some()
    }

    /// Whether `nal` starts a random-access point: an IDR slice (H.264) or
    /// an IRAP picture (H.265).
    pub fn is_keyframe(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            (VideoCodec::H264, Some(t)) => t == h264::NAL_IDR,
            (VideoCodec::H265, Some(t)) => h265::is_irap(t),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VideoCodec::{H264, H265};

    #[test]
    fn h264_types() {
        assert_eq!(H264.nal_type(&[0x67, 0x42]), Some(7));
        assert_eq!(H264.nal_type(&[]), None);
        assert_eq!(H264.parameter_set(&[0x67]), Some(ParameterSet::Sps));
        assert_eq!(H264.parameter_set(&[0x68]), Some(ParameterSet::Pps));
        assert_eq!(H264.parameter_set(&[0x65]), None);
        assert!(H264.is_aud(&[0x09, 0xF0]));
        assert!(H264.is_keyframe(&[0x65]) && !H264.is_keyframe(&[0x41]));
        assert!(!H264.is_keyframe(&[]) && !H264.is_parameter_set(&[]));
    }

    #[test]
    fn h265_types() {
        assert_eq!(H265.parameter_set(&[0x40, 0x01]), Some(ParameterSet::Vps));
        assert_eq!(H265.parameter_set(&[0x42, 0x01]), Some(ParameterSet::Sps));
        assert_eq!(H265.parameter_set(&[0x44, 0x01]), Some(ParameterSet::Pps));
        assert!(H265.is_aud(&[0x46, 0x01, 0x50]));
        // IDR_W_RADL (19), CRA (21) are keyframes; TRAIL_R (1) and 22 not.
        assert!(H265.is_keyframe(&[0x26, 0x01]));
        assert!(H265.is_keyframe(&[0x2A, 0x01]));
        assert!(!H265.is_keyframe(&[0x02, 0x01]));
        assert!(!H265.is_keyframe(&[0x2C, 0x01]));
        assert!(h265::is_irap(16) && !h265::is_irap(15));
    }
}
