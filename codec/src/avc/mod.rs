//! H.264 / AVC: the decoder configuration record carried by AVC sequence
//! header tags, and a cheap SPS parse.

mod record;
mod sps;

pub use record::{AvcDecoderConfigurationRecord, AvcRecordExt};

/// Most SPS in a configuration: H.264 7.4.2.1.1 allows
/// `seq_parameter_set_id` 0..=31 (an `avcC` can list at most 31 anyway).
pub const MAX_SPS: usize = 32;
/// Most PPS in a configuration: `pic_parameter_set_id` 0..=255 (H.264
/// 7.4.2.2; an `avcC` can list at most 255). The record's total size is
/// bounded by [`crate::MAX_CODEC_CONFIG_LEN`].
pub const MAX_PPS: usize = 256;
pub use sps::AvcSps;
