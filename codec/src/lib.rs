//! # codec
//!
//! strom's bitstream knowledge of H.264, H.265 and AAC, in one place and
//! with no IO: bytes in, typed values or bytes out. No sockets, clocks,
//! threads or async runtime, and no dependency on strom's media model, so
//! the container and protocol crates (`flv-mux`, `hls-seg`, `rtsp-proto`)
//! and the server share one implementation of each structure.
//!
//! | module / type | what | spec |
//! |---|---|---|
//! | [`nal`], [`VideoCodec`] | NAL unit types: parameter sets, AUD, IDR/IRAP keyframes | H.264 7.3.1, H.265 7.3.1.2 |
//! | [`nalu`] | length-prefixed ⇄ Annex B NAL units | ISO/IEC 14496-15, H.264/H.265 Annex B |
//! | [`avc`] | AVCDecoderConfigurationRecord (`avcC`) ⇄ SPS/PPS, SPS size | ISO/IEC 14496-15 5.3.3.1, H.264 7.3.2.1 |
//! | [`hevc`] | HEVCDecoderConfigurationRecord (`hvcC`) ⇄ VPS/SPS/PPS, SPS size | ISO/IEC 14496-15 8.3.3.1, H.265 7.3.2.2 |
//! | [`aac`] | AudioSpecificConfig (parse, build), ADTS header (parse, build) | ISO/IEC 14496-3 1.6.2.1, 1.A.2 |
//! | [`bits`] | the bit reader (with Exp-Golomb) and writer; RBSP unescaping | H.264 9.1, 7.4.1 |
//! | [`dts`] | decode times rebuilt from presentation times (B-frames) | |
//!
//! Conventions:
//!
//! - **Complete units.** Every parser takes one whole structure; running
//!   out of bytes is [`CodecError::Truncated`], never a panic.
//! - **Errors in tiers**: [`CodecError::kind`] says malformed, limit
//!   exceeded, unsupported, or caller misuse.
//! - **Bounded**: configuration records and AudioSpecificConfigs longer than
//!   [`MAX_CODEC_CONFIG_LEN`] and parameter set counts above the spec's
//!   ranges are refused before anything is allocated from a wire count.
//! - **Zero copy**: NAL units split out of a `Bytes` are slices of it.
//!
//! Turn an Annex-B access unit into the `avcC` record and length-prefixed
//! frame an MP4/FLV muxer wants:
//!
//! ```
//! use bytes::Bytes;
//! use codec::avc::{AvcDecoderConfigurationRecord, AvcSps};
//! use codec::nal::ParameterSet;
//! use codec::{nalu, VideoCodec};
//!
//! let annexb = Bytes::from_static(&[
//!     0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44,
//!     0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc9, 0x20, // SPS
//!     0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, // PPS
//!     0, 0, 1, 0x65, 0x88, 0x84, // IDR slice
//! ]);
//! let nalus = nalu::split_annexb(&annexb);
//! let h264 = VideoCodec::H264;
//! let sps: Vec<Bytes> = nalus.iter().filter(|n| h264.parameter_set(n) == Some(ParameterSet::Sps)).cloned().collect();
//! let pps: Vec<Bytes> = nalus.iter().filter(|n| h264.parameter_set(n) == Some(ParameterSet::Pps)).cloned().collect();
//! assert!(nalus.iter().any(|n| h264.is_keyframe(n)));
//!
//! let size = AvcSps::parse(&sps[0])?;
//! assert_eq!((size.width, size.height), (1920, 1080));
//! let avcc = AvcDecoderConfigurationRecord::from_parameter_sets(sps, pps)?.to_bytes()?;
//! assert_eq!(AvcDecoderConfigurationRecord::decode(&avcc)?.profile, 66);
//!
//! let frame = nalu::annexb_to_length_prefixed(&annexb)?;
//! assert_eq!(nalu::split_length_prefixed(&frame, 4)?, nalus);
//! # Ok::<(), codec::CodecError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aac;
pub mod avc;
pub mod bits;
pub mod dts;
mod error;
pub mod hevc;
pub mod nal;
pub mod nalu;
mod parse;

pub use error::{CodecError, ErrorKind};
pub use nal::VideoCodec;

/// Longest codec configuration accepted, in bytes: an AVC/HEVC decoder
/// configuration record (`avcC`/`hvcC`) or an AAC AudioSpecificConfig. Real
/// ones are tens to hundreds of bytes; the bound keeps a publisher from
/// making a server hold (and players receive) megabytes per track. Checked
/// by every decoder of these structures.
pub const MAX_CODEC_CONFIG_LEN: usize = 64 * 1024;
