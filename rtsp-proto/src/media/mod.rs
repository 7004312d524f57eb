//! RTP media: RTP and RTCP packets, and the H.264, H.265 and AAC packetizers and
//! depacketizers.

pub mod aac;
mod au;
pub mod clock;
mod error;
#[cfg(test)]
mod fixtures;
pub mod h264;
pub mod h265;
pub mod reorder;
pub mod rtcp;
pub mod rtp;
#[cfg(test)]
mod testutil;

pub use aac::{AacConfig, AacDepacketizer, AacFrame, AacPacketizer, AacStats};
pub use au::{AccessUnit, DepacketizerLimits, DepacketizerStats};
pub use clock::{rescale, wrap_timestamp, SequenceExtender, TimestampExtender};
pub use error::MediaError;
pub use h264::{H264Depacketizer, H264Packetizer, MIN_MTU};
pub use h265::{H265Depacketizer, H265Packetizer};
pub use reorder::{PushOutcome, ReorderBuffer, ReorderStats};
pub use rtcp::{NtpTimestamp, RtcpPacket};
pub use rtp::{RtpPacket, RTP_HEADER_LEN};
