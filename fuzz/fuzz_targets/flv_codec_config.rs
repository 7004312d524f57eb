//! The `codec` crate's parsers (avcC, hvcC, SPS, AudioSpecificConfig, ADTS,
//! Annex-B and length-prefixed NAL framing): never panic, and records that
//! parse re-encode to bytes that parse again. (Named for where the code
//! lived first, flv-mux, so existing corpora keep working.)
#![no_main]

use bytes::Bytes;
use codec::aac::{AdtsConfig, AudioSpecificConfig};
use codec::avc::{AvcDecoderConfigurationRecord, AvcSps};
use codec::hevc::{HevcDecoderConfigurationRecord, HevcSps};
use codec::{nalu, VideoCodec};
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
    let _ = AdtsConfig::decode(data);
    let _ = AdtsConfig::from_audio_specific_config(data);
    for nal in nalu::split_annexb_slices(data) {
        let _ = VideoCodec::H265.parameter_set(nal);
        let _ = VideoCodec::H264.is_keyframe(nal);
    }
    let _ = nalu::split_length_prefixed(&bytes, 4);
});
