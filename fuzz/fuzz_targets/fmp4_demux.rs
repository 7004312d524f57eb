//! Fragmented MP4 demuxer: arbitrary bytes in random-sized pieces never
//! panic, give the same events as the whole input, and what the muxer
//! accepts again demuxes to the same event (`fmp4::fuzzing::demux` says how
//! the input is read), and `fmp4::rewrite_moof_times` on the same bytes
//! never panics nor resizes them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fmp4::fuzzing::demux(data));
