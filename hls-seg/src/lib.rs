//! # hls-seg — not implemented yet
//!
//! This crate will hold strom's HLS packaging, with no IO (tracked by the HLS
//! issue):
//!
//! - an MPEG-TS muxer (PAT/PMT with CRC-32, PES with 33-bit PTS/DTS, PCR,
//!   continuity counters, H.264/H.265 Annex-B with AUD, AAC in ADTS);
//! - a keyframe-aligned segmenter recording exact segment durations;
//! - a live m3u8 playlist writer with a sliding window;
//! - a TS demuxer used by round-trip tests and a fuzz target.
//!
//! Today it exports nothing: no part of strom relies on it yet, and nothing
//! here pretends to work.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
