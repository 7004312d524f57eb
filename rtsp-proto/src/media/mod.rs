//! RTP media: RTP and RTCP packets, and the H.264, H.265 and AAC packetizers and
//! depacketizers. Sans-IO: bytes and (for the reorder buffer) instants in, packets and
//! frames out.
//!
//! | module | spec | what |
//! |---|---|---|
//! | [`rtp`] | RFC 3550 §5 | [`RtpPacket`]: zero-copy parse, header write for vectored sends |
//! | [`rtcp`] | RFC 3550 §6 | SR, RR, SDES, BYE, compound packets, NTP timestamps |
//! | [`h264`] | RFC 6184 | single NAL, STAP-A, FU-A (packetization-mode 0 and 1) |
//! | [`h265`] | RFC 7798 | single NAL, AP, FU; no DONL (`sprop-max-don-diff=0`), no PACI |
//! | [`aac`] | RFC 3640 | `mpeg4-generic` AAC-hbr/lbr, several or fragmented AUs per packet |
//! | [`reception`] | RFC 3550 §A.3, §A.8 | loss and jitter statistics for receiver reports |
//! | [`reorder`] | — | bounded reorder buffer for UDP input, with loss counting |
//! | [`clock`] | — | RTP timestamp / sequence extension, clock-rate conversion |
//!
//! Depacketizers take packets in sequence order and hand out whole units: a loss drops the
//! access unit (or AAC frame) it touches, never the stream, and never yields a damaged one.
//! Every size is bounded ([`DepacketizerLimits`], the AU-size field for AAC).
//!
//! ```
//! use bytes::Bytes;
//! use rtsp_proto::media::{H264Depacketizer, H264Packetizer, RtpPacket};
//!
//! // An IDR access unit: SPS, PPS and a 3000-byte slice.
//! let sps = Bytes::from_static(&[0x67, 0x42, 0xc0, 0x0d]);
//! let pps = Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]);
//! let idr = Bytes::from(vec![0x65; 3000]);
//! let nalus = vec![sps, pps, idr];
//!
//! let mut packetizer = H264Packetizer::new(1200, 96, 0x1234, 0);
//! let packets = packetizer.packetize(&nalus, 90_000)?; // STAP-A + 3 FU-A
//! assert_eq!(packets.len(), 4);
//!
//! let mut depacketizer = H264Depacketizer::new();
//! for packet in &packets {
//!     // On the wire: header written into a buffer, payload sent as is.
//!     let mut header = bytes::BytesMut::new();
//!     packet.write_header(&mut header);
//!     let mut wire = header.to_vec();
//!     wire.extend_from_slice(&packet.payload);
//!     depacketizer.push(&RtpPacket::parse(&Bytes::from(wire))?)?;
//! }
//! let au = depacketizer.pop().expect("a whole access unit");
//! assert_eq!(au.nalus, nalus);
//! assert!(au.keyframe);
//! # Ok::<(), rtsp_proto::media::MediaError>(())
//! ```

pub mod aac;
mod au;
pub mod clock;
mod error;
#[cfg(test)]
mod fixtures;
pub mod h264;
pub mod h265;
mod parts;
#[cfg(test)]
mod pipeline_tests;
pub mod reception;
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
pub use parts::PayloadParts;
pub use reception::ReceptionStats;
pub use reorder::{PushOutcome, ReorderBuffer, ReorderStats};
pub use rtcp::{NtpTimestamp, RtcpPacket};
pub use rtp::{RtpPacket, RTP_HEADER_LEN};
