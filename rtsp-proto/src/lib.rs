//! # rtsp-proto — not implemented yet
//!
//! This crate will hold strom's sans-IO RTSP stack (tracked by the RTSP issue):
//!
//! - RTSP 1.0 request/response parsing and serialization with limits on line
//!   length, header count and body length, and `$` interleaved framing;
//! - SDP parse/write for H.264, H.265 and AAC (`mpeg4-generic`);
//! - RTP and RTCP (SR, RR, SDES, BYE) packets;
//! - depacketizers and packetizers for H.264 (RFC 6184), H.265 (RFC 7798)
//!   and AAC (RFC 3640);
//! - Basic and Digest authentication, and server session state machines.
//!
//! Today it exports nothing: no part of strom relies on it yet, and nothing
//! here pretends to work.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
