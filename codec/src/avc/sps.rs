//! A cheap H.264 sequence parameter set parse (ITU-T H.264, 7.3.2.1.1):
//! enough for profile, level and the cropped picture size.

use crate::bits::{rbsp, BitReader};
use crate::error::CodecError;

/// What strom needs from an H.264 SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvcSps {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// `constraint_set0..5_flags` and reserved bits.
    pub constraint_flags: u8,
    /// `level_idc` (e.g. 31 for level 3.1).
    pub level_idc: u8,
    /// `chroma_format_idc` (1 = 4:2:0 when absent).
    pub chroma_format_idc: u32,
    /// `frame_mbs_only_flag`: false for interlaced (field) coding.
    pub frame_mbs_only: bool,
    /// Displayed width in pixels, after cropping.
    pub width: u32,
    /// Displayed height in pixels, after cropping.
    pub height: u32,
}

/// Profiles whose SPS carries chroma format, bit depth and scaling lists
/// (7.3.2.1.1, the `if( profile_idc == 100 || ...)` branch).
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// `scaling_list()` (7.3.2.1.1.1): parsed only to skip it.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

fn invalid(what: &'static str, value: u32) -> CodecError {
    CodecError::Invalid {
        what,
        value: u64::from(value),
    }
}

impl AvcSps {
    /// Parses an SPS NAL unit (starting with its NAL header byte, type 7).
    pub fn parse(nal: &[u8]) -> Result<AvcSps, CodecError> {
        let data = rbsp(nal);
        let mut r = BitReader::new(&data, "H.264 SPS");
        let header = r.bits(8)?;
        if header & 0x1F != 7 {
            return Err(invalid("H.264 SPS nal_unit_type", header & 0x1F));
        }
        let profile_idc = r.bits(8)? as u8;
        let constraint_flags = r.bits(8)? as u8;
        let level_idc = r.bits(8)? as u8;
        let _sps_id = r.ue()?;
        let mut chroma_format_idc = 1;
        let mut separate_colour_plane = false;
        if has_chroma_info(profile_idc) {
            chroma_format_idc = r.ue()?;
            if chroma_format_idc > 3 {
                return Err(invalid("H.264 chroma_format_idc", chroma_format_idc));
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = r.bit()?;
            }
            let _bit_depth_luma = r.ue()?;
            let _bit_depth_chroma = r.ue()?;
            let _qpprime_bypass = r.bit()?;
            if r.bit()? {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let _log2_max_frame_num = r.ue()?;
        match r.ue()? {
            0 => {
                let _log2_max_poc_lsb = r.ue()?;
            }
            1 => {
                let _delta_pic_order_always_zero = r.bit()?;
                let _offset_for_non_ref_pic = r.se()?;
                let _offset_for_top_to_bottom = r.se()?;
                let cycle = r.ue()?;
                // 7.4.2.1.1: range 0..=255.
                if cycle > 255 {
                    return Err(invalid(
                        "H.264 num_ref_frames_in_pic_order_cnt_cycle",
                        cycle,
                    ));
                }
                for _ in 0..cycle {
                    let _ = r.se()?;
                }
            }
            2 => {}
            t => return Err(invalid("H.264 pic_order_cnt_type", t)),
        }
        let _max_num_ref_frames = r.ue()?;
        let _gaps = r.bit()?;
        let width_mbs = u64::from(r.ue()?) + 1;
        let height_map_units = u64::from(r.ue()?) + 1;
        let frame_mbs_only = r.bit()?;
        if !frame_mbs_only {
            let _mb_adaptive = r.bit()?;
        }
        let _direct_8x8 = r.bit()?;
        let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
        if r.bit()? {
            left = r.ue()?.into();
            right = r.ue()?.into();
            top = r.ue()?.into();
            bottom = r.ue()?.into();
        }
        // 7.4.2.1.1, frame_crop_*_offset: CropUnitX/Y by ChromaArrayType.
        let field_factor = if frame_mbs_only { 1 } else { 2 };
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (crop_x, crop_y) = match chroma_array_type {
            0 => (1, field_factor),
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        let full_w = width_mbs * 16;
        let full_h = height_map_units * 16 * field_factor;
        let width = full_w
            .checked_sub(crop_x * (left + right))
            .filter(|w| *w > 0 && *w <= u64::from(u32::MAX))
            .ok_or(invalid("H.264 horizontal cropping", left as u32))?;
        let height = full_h
            .checked_sub(crop_y * (top + bottom))
            .filter(|h| *h > 0 && *h <= u64::from(u32::MAX))
            .ok_or(invalid("H.264 vertical cropping", top as u32))?;
        Ok(AvcSps {
            profile_idc,
            constraint_flags,
            level_idc,
            chroma_format_idc,
            frame_mbs_only,
            width: width as u32,
            height: height as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_320x240_high() {
        // SPS from the ffmpeg/libx264 fixture.
        let sps = [
            0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
        ];
        let s = AvcSps::parse(&sps).unwrap();
        assert_eq!((s.width, s.height), (320, 240));
        assert_eq!((s.profile_idc, s.level_idc), (100, 13));
        assert!(s.frame_mbs_only);
        // The fields we read end in byte 9; the VUI that follows is skipped.
        for n in 0..9 {
            assert!(AvcSps::parse(&sps[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn baseline_1080p_with_cropping() {
        // libx264 Baseline 1920x1080 (68 MB rows = 1088, cropped by 8).
        let sps = [
            0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
            0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc9, 0x20,
        ];
        let s = AvcSps::parse(&sps).unwrap();
        assert_eq!((s.width, s.height), (1920, 1080));
        assert_eq!(s.profile_idc, 66);
    }

    #[test]
    fn not_an_sps() {
        assert!(AvcSps::parse(&[0x68, 0xeb]).is_err());
    }
}
