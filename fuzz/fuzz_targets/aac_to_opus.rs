//! AAC → Opus transcoding: arbitrary configurations, frames and timestamp
//! jumps never panic; packets stay 20 ms, increasing, and bounded
//! (`audio_transcode::fuzzing::aac_to_opus` says how the input is read).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| audio_transcode::fuzzing::aac_to_opus(data));
