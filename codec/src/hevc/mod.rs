//! H.265 / HEVC: the decoder configuration record carried by HEVC sequence
//! headers, and a cheap SPS parse.

mod record;
mod sps;

pub use record::{HevcDecoderConfigurationRecord, HevcNalArray, NAL_PPS, NAL_SPS, NAL_VPS};
pub use sps::HevcSps;

/// Most VPS in a configuration: `vps_video_parameter_set_id` 0..=15
/// (H.265 7.4.3.1).
pub const MAX_VPS: usize = 16;
/// Most SPS: `sps_seq_parameter_set_id` 0..=15 (H.265 7.4.3.2.1).
pub const MAX_SPS: usize = 16;
/// Most PPS: `pps_pic_parameter_set_id` 0..=63 (H.265 7.4.3.3.1). Other
/// arrays (SEI) are bounded only by the record's size,
/// [`crate::MAX_CODEC_CONFIG_LEN`].
pub const MAX_PPS: usize = 64;

#[cfg(test)]
pub(crate) mod tests {
    //! Parameter sets written by libx265 3.5 (ffmpeg 5.1) for a 1366x766
    //! test pattern: Main profile, level 4, conformance window 2x2.

    /// VPS NAL unit.
    pub(crate) const VPS: &[u8] = &[
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0x95, 0x98, 0x09,
    ];
    /// SPS NAL unit.
    pub(crate) const SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x78, 0xa0, 0x02, 0xac, 0x80, 0x30, 0x1d, 0x56, 0x59, 0x59, 0xa4, 0x93, 0x2b,
        0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
    ];
    /// PPS NAL unit.
    pub(crate) const PPS: &[u8] = &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];
}
