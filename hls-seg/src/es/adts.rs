//! The ADTS header (ISO/IEC 14496-3 1.A.2.2.1) the muxer writes before
//! each AAC frame: the `codec` crate's, re-exported.

pub use codec::aac::adts::{header_len, AdtsConfig, ADTS_HEADER_LEN, MAX_ADTS_FRAME};
