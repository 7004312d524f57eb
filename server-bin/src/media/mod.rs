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
pub mod rtp_egress;
pub mod rtp_ingest;

pub use clock::{to_rtmp_ms, MsClock};

/// Wire-cache slot: RTMP chunks at the server's outgoing chunk size.
pub const WIRE_RTMP: usize = 0;
/// Wire-cache slot: a complete FLV tag framed as an HTTP/1.1 chunk (HTTP-FLV).
pub const WIRE_FLV: usize = 1;
/// Wire-cache slot: a complete FLV tag without chunk framing (HTTP/1.0 players).
pub const WIRE_FLV_PLAIN: usize = 2;
/// Wire-cache slot: the frame's RTP payloads at `rtsp.mtu` (RTSP players add
/// their own headers; see [`rtp_egress`]).
pub const WIRE_RTP: usize = 3;
