//! # flv-mux
//!
//! Sans-IO building blocks for FLV and RTMP payloads: AMF0 values
//! ([`amf0`]), the FLV header and tags ([`FlvReader`], [`FlvWriter`]).
//! No sockets, clocks or threads: every function takes bytes and returns
//! typed values or bytes.
//!
//! ```
//! use bytes::Bytes;
//! use flv_mux::{FlvEvent, FlvHeader, FlvReader, FlvTag, FlvWriter, TagType};
//!
//! let mut writer = FlvWriter::new();
//! writer.write_header(&FlvHeader::new(true, false));
//! writer.write_tag(&FlvTag::new(TagType::Audio, 40, Bytes::from_static(&[0xAF, 0x01, 0x21])))?;
//! let file = writer.take();
//!
//! let mut reader = FlvReader::new();
//! reader.push(&file);
//! assert!(matches!(reader.poll()?, Some(FlvEvent::Header(_))));
//! let Some(FlvEvent::Tag(tag)) = reader.poll()? else { panic!("no tag") };
//! assert_eq!((tag.tag_type, tag.timestamp), (TagType::Audio, 40));
//! # Ok::<(), flv_mux::FlvError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aac;
pub mod amf0;
mod audio;
pub mod avc;
mod bits;
mod error;
mod fourcc;
mod header;
pub mod hevc;
pub mod nalu;
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
pub use tag::{FlvTag, TagHeader, TagType, MAX_DATA_SIZE, PREVIOUS_TAG_SIZE_LEN, TAG_HEADER_LEN};
pub use video::{AvcPacketType, CodecId, FrameType, VideoPacketType, VideoTag};
pub use writer::{encode_header, FlvWriter};
