//! # flv-mux — not implemented yet
//!
//! FLV header/tag reader and writer, audio/video tag bodies (including
//! enhanced-RTMP FourCC for HEVC/AV1), AVC/HEVC decoder configuration records,
//! AMF0 and script data (`onMetaData`). Tracked by the RTMP issue.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
