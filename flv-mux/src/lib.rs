//! # flv-mux
//!
//! Sans-IO building blocks for FLV files, HTTP-FLV and the payloads of RTMP
//! messages. No sockets, clocks or threads: every function takes bytes and
//! returns typed values or bytes, so each piece is testable from byte
//! vectors and fuzzable.
//!
//! | module / type | wire structure | spec |
//! |---|---|---|
//! | [`amf0`] | AMF0 values (RTMP commands, script data) | AMF0, Adobe 2007 |
//! | [`FlvHeader`] | the 9-byte file header | FLV v10.1 E.2 |
//! | [`TagHeader`], [`FlvTag`] | tag header, tag, PreviousTagSize | FLV v10.1 E.3, E.4.1 |
//! | [`FlvReader`], [`FlvWriter`] | push/pull stream reader, writer | |
//! | [`AudioTag`] | audio tag body, legacy and E-RTMP (`Opus`, `mp4a`…) | FLV v10.1 E.4.2, E-RTMP v2 |
//! | [`VideoTag`] | video tag body, legacy AVC/HEVC(12) and E-RTMP (`hvc1`, `av01`…) | FLV v10.1 E.4.3, E-RTMP v1/v2 |
//! | [`ScriptData`], [`Metadata`] | `@setDataFrame` / `onMetaData` | FLV v10.1 E.4.4, E.5 |
//! | [`avc`], [`hevc`], [`aac`], [`nalu`] | decoder configuration records, SPS, AudioSpecificConfig, ADTS, NAL framing: re-exported from the `codec` crate (errors convert into [`FlvError`]) | ISO/IEC 14496-15, 14496-3 |
//!
//! Conventions:
//!
//! - **Incomplete is not an error.** Streaming entry points
//!   ([`FlvReader::poll`], [`FlvHeader::decode`], [`amf0::decode_value`])
//!   answer "need more bytes" (`Ok(None)` / [`amf0::Amf0Error::Incomplete`]).
//!   Parsers of complete units (tag bodies, records) report a cut-off unit
//!   as [`FlvError::Truncated`].
//! - **Errors in tiers**: [`FlvError::kind`] says malformed, protocol
//!   violation, limit exceeded, unsupported, or caller misuse.
//! - **Bounded**: tag size ([`FlvReader::with_max_tag_size`]), AMF0 depth,
//!   element counts and string lengths are checked before anything is
//!   buffered or allocated from a wire count.
//! - **Zero copy**: payloads are [`bytes::Bytes`] slices of the input;
//!   [`FlvTag::encode_parts`] and [`encode_tag_parts`] write a tag without
//!   copying its payload.
//!
//! Write a tag and read it back:
//!
//! ```
//! use bytes::Bytes;
//! use flv_mux::{AudioTag, FlvEvent, FlvHeader, FlvReader, FlvTag, FlvWriter, TagType};
//!
//! let body = AudioTag::aac_raw(Bytes::from_static(&[0x21, 0x10])).to_bytes()?;
//! let mut writer = FlvWriter::new();
//! writer.write_header(&FlvHeader::new(true, false));
//! writer.write_tag(&FlvTag::new(TagType::Audio, 40, body))?;
//! let file = writer.take();
//!
//! let mut reader = FlvReader::new();
//! reader.push(&file);
//! assert!(matches!(reader.poll()?, Some(FlvEvent::Header(_))));
//! let Some(FlvEvent::Tag(tag)) = reader.poll()? else { panic!("no tag") };
//! assert_eq!((tag.tag_type, tag.timestamp), (TagType::Audio, 40));
//! let audio = AudioTag::decode(&tag.data)?;
//! assert!(!audio.is_sequence_header());
//! assert_eq!(&audio.data()[..], &[0x21, 0x10]);
//! assert_eq!(reader.poll()?, None); // need more bytes
//! # Ok::<(), flv_mux::FlvError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod amf0;
mod audio;
mod error;
mod fourcc;
mod header;
mod parse;
mod reader;
mod script;
mod tag;
mod video;
mod writer;

pub use audio::{AacPacketType, AudioPacketType, AudioTag, LegacyAudioHeader, SoundFormat};
pub use error::{ErrorKind, FlvError};
pub use fourcc::FourCc;
pub use header::{FlvHeader, HEADER_LEN, MAX_DATA_OFFSET};
pub use reader::{FlvEvent, FlvReader, DEFAULT_MAX_TAG_SIZE};
pub use script::{Metadata, ScriptData, ON_METADATA, SET_DATA_FRAME};
pub use tag::{
    encode_tag_parts, FlvTag, TagHeader, TagType, MAX_DATA_SIZE, PREVIOUS_TAG_SIZE_LEN,
    TAG_HEADER_LEN,
};
pub use video::{AvcPacketType, CodecId, FrameType, VideoPacketType, VideoTag};
pub use writer::{encode_header, FlvWriter};

pub use codec::{aac, avc, hevc, nalu, MAX_CODEC_CONFIG_LEN};
