//! H.264 / AVC: the decoder configuration record carried by AVC sequence
//! header tags, and a cheap SPS parse.

mod record;
mod sps;

pub use record::{AvcDecoderConfigurationRecord, AvcRecordExt};
pub use sps::AvcSps;
