//! A cheap H.265 sequence parameter set parse (ITU-T H.265, 7.3.2.2.1 and
//! profile_tier_level 7.3.3): profile/tier/level and the cropped size.

use crate::bits::{rbsp, BitReader};
use crate::error::CodecError;

/// What strom needs from an H.265 SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSps {
    /// `general_profile_space`.
    pub general_profile_space: u8,
    /// `general_tier_flag`.
    pub general_tier_flag: bool,
    /// `general_profile_idc` (1 Main, 2 Main 10).
    pub general_profile_idc: u8,
    /// `general_profile_compatibility_flag[32]`.
    pub general_profile_compatibility_flags: u32,
    /// The 48 bits of progressive/interlaced/constraint flags.
    pub general_constraint_indicator_flags: u64,
    /// `general_level_idc`.
    pub general_level_idc: u8,
    /// `sps_max_sub_layers_minus1 + 1`.
    pub max_sub_layers: u8,
    /// `sps_temporal_id_nesting_flag`.
    pub temporal_id_nesting: bool,
    /// `chroma_format_idc`.
    pub chroma_format_idc: u32,
    /// `bit_depth_luma_minus8` (clamped to 7).
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8` (clamped to 7).
    pub bit_depth_chroma_minus8: u8,
    /// Width after the conformance window.
    pub width: u32,
    /// Height after the conformance window.
    pub height: u32,
}

fn invalid(what: &'static str, value: u64) -> CodecError {
    CodecError::Invalid { what, value }
}

impl HevcSps {
    /// Parses an SPS NAL unit (starting with its 2-byte NAL header, type 33).
    pub fn parse(nal: &[u8]) -> Result<HevcSps, CodecError> {
        let data = rbsp(nal);
        let mut r = BitReader::new(&data, "H.265 SPS");
        let header = r.bits(16)?;
        let nal_type = (header >> 9) & 0x3F;
        if nal_type != 33 {
            return Err(invalid("H.265 SPS nal_unit_type", nal_type.into()));
        }
        let _vps_id = r.bits(4)?;
        let max_sub_layers_minus1 = r.bits(3)? as u8;
        let temporal_id_nesting = r.bit()?;
        // profile_tier_level(1, sps_max_sub_layers_minus1), 7.3.3.
        let general_profile_space = r.bits(2)? as u8;
        let general_tier_flag = r.bit()?;
        let general_profile_idc = r.bits(5)? as u8;
        let general_profile_compatibility_flags = r.bits(32)?;
        let hi = r.bits(16)?;
        let lo = r.bits(32)?;
        let general_constraint_indicator_flags = u64::from(hi) << 32 | u64::from(lo);
        let general_level_idc = r.bits(8)? as u8;
        let mut profile_present = [false; 8];
        let mut level_present = [false; 8];
        let subs = usize::from(max_sub_layers_minus1);
        for i in 0..subs {
            profile_present[i] = r.bit()?;
            level_present[i] = r.bit()?;
        }
        if subs > 0 {
            r.skip(2 * (8 - subs))?; // reserved_zero_2bits
        }
        for i in 0..subs {
            if profile_present[i] {
                r.skip(88)?;
            }
            if level_present[i] {
                r.skip(8)?;
            }
        }
        let _sps_id = r.ue()?;
        let chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(invalid("H.265 chroma_format_idc", chroma_format_idc.into()));
        }
        let separate_colour_plane = chroma_format_idc == 3 && r.bit()?;
        let pic_w = u64::from(r.ue()?);
        let pic_h = u64::from(r.ue()?);
        let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
        if r.bit()? {
            left = r.ue()?.into();
            right = r.ue()?.into();
            top = r.ue()?.into();
            bottom = r.ue()?.into();
        }
        let bit_depth_luma_minus8 = r.ue()?.min(7) as u8;
        let bit_depth_chroma_minus8 = r.ue()?.min(7) as u8;
        // 7.4.3.2.1, conf_win_*_offset: SubWidthC/SubHeightC by
        // ChromaArrayType (Table 6-1).
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (sub_w, sub_h) = match chroma_array_type {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let width = pic_w
            .checked_sub(sub_w * (left + right))
            .filter(|w| *w > 0 && *w <= u64::from(u32::MAX))
            .ok_or(invalid("H.265 conformance window", left + right))?;
        let height = pic_h
            .checked_sub(sub_h * (top + bottom))
            .filter(|h| *h > 0 && *h <= u64::from(u32::MAX))
            .ok_or(invalid("H.265 conformance window", top + bottom))?;
        Ok(HevcSps {
            general_profile_space,
            general_tier_flag,
            general_profile_idc,
            general_profile_compatibility_flags,
            general_constraint_indicator_flags,
            general_level_idc,
            max_sub_layers: max_sub_layers_minus1 + 1,
            temporal_id_nesting,
            chroma_format_idc,
            bit_depth_luma_minus8,
            bit_depth_chroma_minus8,
            width: width as u32,
            height: height as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::SPS;
    use super::*;

    #[test]
    fn x265_1366x766_with_conformance_window() {
        let s = HevcSps::parse(SPS).unwrap();
        assert_eq!((s.width, s.height), (1366, 766));
        assert_eq!(s.general_profile_idc, 1);
        assert_eq!(s.general_level_idc, 120);
        assert_eq!(s.chroma_format_idc, 1);
        for n in 0..20 {
            assert!(HevcSps::parse(&SPS[..n]).is_err());
        }
        assert!(HevcSps::parse(&[0x40, 0x01, 0x0c]).is_err());
    }
}
