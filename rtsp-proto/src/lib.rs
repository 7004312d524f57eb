//! # rtsp-proto — RTSP 1.0, SDP, RTP/RTCP and payload (de)packetizers, sans-IO
//!
//! (crate documentation with an example is written when the modules land)
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod media;
pub mod signal;
