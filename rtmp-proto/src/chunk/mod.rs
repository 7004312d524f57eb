//! The chunk stream (RTMP spec 5.3): messages split into chunks of at most
//! the sender's chunk size, interleaved across chunk streams, each chunk with
//! a header compressed against the previous one on its chunk stream.
//!
//! - [`header`]: basic header (chunk stream id, 1–3 bytes) and message header
//!   (fmt 0–3) with the extended timestamp;
//! - [`decoder`]: [`ChunkDecoder`], bytes in, [`Message`](crate::Message)s out;
//! - [`encoder`]: [`ChunkEncoder`], messages in, bytes out.

pub mod decoder;
pub mod encoder;
pub mod header;

pub use decoder::{ChunkDecoder, ChunkDecoderConfig};
pub use encoder::ChunkEncoder;

/// The chunk size both directions start with (spec 5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// The largest useful chunk size: message lengths are 24-bit, so any larger
/// chunk size means the same thing, "one chunk per message".
pub const MAX_CHUNK_SIZE: u32 = 0xff_ffff;
/// Smallest chunk stream id (0 and 1 select the 2- and 3-byte basic header).
pub const MIN_CSID: u32 = 2;
/// Largest chunk stream id (3-byte basic header: 64 + 65535; spec 5.3.1.1).
pub const MAX_CSID: u32 = 65599;
/// Timestamp field value announcing an extended timestamp (spec 5.3.1.3).
pub const EXTENDED_TIMESTAMP: u32 = 0xff_ffff;
