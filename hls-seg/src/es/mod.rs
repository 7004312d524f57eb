//! Elementary stream framing the muxer adds: ADTS headers for AAC, Annex-B
//! start codes, access unit delimiters and parameter sets for H.264/H.265.

pub mod adts;
pub mod annexb;
