//! Video tag bodies: legacy `VIDEODATA` (FLV spec v10.1, E.4.3) including
//! the non-standard codec id 12 for HEVC, and Enhanced RTMP video (E-RTMP
//! v1/v2, ExVideoTagHeader).

mod fields;
mod tag;

pub use fields::{AvcPacketType, CodecId, FrameType, VideoPacketType};
pub use tag::VideoTag;
