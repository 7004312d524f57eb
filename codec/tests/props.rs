//! Property tests for the codec structures: round trips at any sizes and
//! "never panics" on arbitrary bytes for every parser.

use bytes::{Bytes, BytesMut};
use codec::aac::AudioSpecificConfig;
use codec::avc::{AvcDecoderConfigurationRecord, AvcSps};
use codec::hevc::{HevcDecoderConfigurationRecord, HevcSps};
use codec::nalu::{
    annexb_to_length_prefixed, length_prefixed_to_annexb, split_annexb, split_annexb_slices,
    split_length_prefixed, write_length_prefixed,
};
use codec::VideoCodec;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn config_records_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let b = Bytes::from(bytes);
        if let Ok(r) = AvcDecoderConfigurationRecord::decode(&b) {
            if let Ok(enc) = r.to_bytes() {
                prop_assert_eq!(AvcDecoderConfigurationRecord::decode(&enc).unwrap(), r);
            }
        }
        if let Ok(r) = HevcDecoderConfigurationRecord::decode(&b) {
            if let Ok(enc) = r.to_bytes() {
                prop_assert_eq!(HevcDecoderConfigurationRecord::decode(&enc).unwrap(), r);
            }
        }
        let _ = AvcSps::parse(&b);
        let _ = HevcSps::parse(&b);
        let _ = AudioSpecificConfig::parse(&b);
        let _ = AudioSpecificConfig::parse_adts(&b);
    }

    /// An SPS-shaped prefix gets the parsers past the header checks.
    #[test]
    fn sps_parsers_never_panic(tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut avc = vec![0x67];
        avc.extend_from_slice(&tail);
        let _ = AvcSps::parse(&avc);
        let mut hevc = vec![0x42, 0x01];
        hevc.extend_from_slice(&tail);
        let _ = HevcSps::parse(&hevc);
    }

    #[test]
    fn nalu_framing(
        nalus in prop::collection::vec(prop::collection::vec(1u8..=255, 1..40), 0..6),
        junk in prop::collection::vec(any::<u8>(), 0..64),
        size in prop::sample::select(vec![1u8, 2, 3, 4]),
    ) {
        let mut lp = BytesMut::new();
        write_length_prefixed(nalus.iter().map(Vec::as_slice), size, &mut lp).unwrap();
        let lp = lp.freeze();
        let split = split_length_prefixed(&lp, size).unwrap();
        prop_assert_eq!(split.len(), nalus.len());
        let ab = length_prefixed_to_annexb(&lp, size).unwrap();
        prop_assert_eq!(split_annexb(&ab), split);
        let four = annexb_to_length_prefixed(&ab).unwrap();
        prop_assert_eq!(split_length_prefixed(&four, 4).unwrap().len(), nalus.len());
        let junk = Bytes::from(junk);
        let _ = split_annexb(&junk);
        let _ = split_length_prefixed(&junk, size);
    }

    #[test]
    fn asc_round_trip(
        object_type in 1u8..=4,
        rate in prop::sample::select(codec::aac::SAMPLE_RATES.to_vec()),
        channels in 0u8..8,
        len in 0usize..2000,
    ) {
        let asc = AudioSpecificConfig { object_type, ..AudioSpecificConfig::aac_lc(rate, channels) };
        prop_assert_eq!(AudioSpecificConfig::parse(&asc.to_bytes().unwrap()).unwrap(), asc);
        let h = asc.adts_header(len).unwrap();
        prop_assert_eq!(AudioSpecificConfig::parse_adts(&h).unwrap(), Some((asc, len + 7)));
    }

    #[test]
    fn classification_never_panics(nal in prop::collection::vec(any::<u8>(), 0..4)) {
        for c in [VideoCodec::H264, VideoCodec::H265] {
            let t = c.nal_type(&nal);
            prop_assert_eq!(t.is_none(), nal.is_empty());
            prop_assert!(!(c.is_keyframe(&nal) && c.is_parameter_set(&nal)));
            prop_assert!(!(c.is_aud(&nal) && c.is_parameter_set(&nal)));
        }
        let _ = split_annexb_slices(&nal);
    }
}
