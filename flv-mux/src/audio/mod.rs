//! Audio tag bodies: legacy `AUDIODATA` (FLV spec v10.1, E.4.2) and
//! Enhanced RTMP audio (E-RTMP v2, ExAudioTagHeader).

mod fields;
mod tag;

pub use fields::{AacPacketType, AudioPacketType, LegacyAudioHeader, SoundFormat};
pub use tag::AudioTag;
