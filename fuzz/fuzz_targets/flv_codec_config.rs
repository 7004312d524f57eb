//! Codec configuration parsers (avcC, hvcC, SPS, AudioSpecificConfig, ADTS):
//! never panic, and records that parse re-encode to bytes that parse again.
#![no_main]

use bytes::Bytes;
use flv_mux::aac::AudioSpecificConfig;
use flv_mux::avc::{AvcDecoderConfigurationRecord, AvcSps};
use flv_mux::hevc::{HevcDecoderConfigurationRecord, HevcSps};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(r) = AvcDecoderConfigurationRecord::decode(&bytes) {
        if let Ok(again) = r.to_bytes() {
            AvcDecoderConfigurationRecord::decode(&again).expect("re-encoded avcC parses");
        }
    }
    if let Ok(r) = HevcDecoderConfigurationRecord::decode(&bytes) {
        if let Ok(again) = r.to_bytes() {
            HevcDecoderConfigurationRecord::decode(&again).expect("re-encoded hvcC parses");
        }
    }
    let _ = AvcSps::parse(data);
    let _ = HevcSps::parse(data);
    let _ = AudioSpecificConfig::parse(data);
    let _ = AudioSpecificConfig::parse_adts(data);
});
