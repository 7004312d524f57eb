//! # hls-seg
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod demux;
pub mod error;
pub mod es;
pub mod packager;
pub mod playlist;
pub mod segment;
pub mod ts;

pub use demux::{DemuxedFrame, ProgramInfo, StreamInfo, TsDemuxer};
pub use error::{DemuxError, ErrorKind, MuxError};
pub use packager::{Packager, Pushed};
pub use playlist::PlaylistState;
pub use segment::{Segment, SegmenterConfig};
pub use ts::muxer::{AudioCodec, MuxInput, MuxerConfig, TsMuxer, VideoCodec};
