//! Adapters between wire media forms and stream-core's canonical frames.
//!
//! Ingest converts what a publisher sends into [`stream_core::Track`]s and
//! [`stream_core::Frame`]s; egress converts them back for players. Egress
//! results that are the same for every player are cached on the frame
//! ([`stream_core::WireCache`]) in the slots below, so each frame is encoded
//! once per stream and output format.

mod clock;
pub mod flv_egress;
pub mod flv_ingest;

pub use clock::{to_rtmp_ms, MsClock};

/// Wire-cache slot: RTMP chunks at the server's outgoing chunk size.
pub const WIRE_RTMP: usize = 0;
/// Wire-cache slot: a complete FLV tag (HTTP-FLV).
pub const WIRE_FLV: usize = 1;
