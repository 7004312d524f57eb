//! # rtmp-proto — not implemented yet
//!
//! RTMP handshake (simple and digest), chunk stream reader/writer, the message
//! and command model, and sans-IO server and client session state machines.
//! Tracked by the RTMP issue.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
