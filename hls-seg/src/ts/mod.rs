//! MPEG-2 transport stream structures (ISO/IEC 13818-1) and the muxer.

pub mod adaptation;
pub mod crc;
pub mod muxer;
pub mod packet;
pub mod pat;
pub mod pes;
pub mod pmt;
pub mod section;
