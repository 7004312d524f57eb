//! Arbitrary bytes as configurations, frames and packets, with arbitrary
//! timestamps, never panic, and the buffers stay bounded.

use proptest::prelude::*;

use crate::{AacToOpus, OpusToAac, MAX_BUFFERED_US};

/// Packets of random bytes (some of them empty or long) with timestamps
/// that mostly advance and sometimes jump anywhere.
fn packets() -> impl Strategy<Value = Vec<(Vec<u8>, i64)>> {
    prop::collection::vec(
        (
            prop::collection::vec(any::<u8>(), 0..1200),
            prop_oneof![4 => 0i64..200_000, 1 => any::<i64>()],
        ),
        0..24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_audio_specific_config_is_accepted_or_refused(asc in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(mut t) = AacToOpus::new(&asc, 64_000) {
            prop_assert!((1..=2).contains(&t.input_channels()));
            let _ = t.push(&[0x21; 64], 0);
            while t.pop().is_some() {}
        }
    }

    #[test]
    fn any_aac_frames_never_panic(
        stereo in any::<bool>(),
        first in prop::sample::select(vec![
            [0x11u8, 0x90], [0x12, 0x10], [0x11, 0x88], [0x15, 0x88], [0x13, 0x08],
        ]),
        packets in packets(),
    ) {
        // AAC-LC at 48, 44.1, 48 (mono), 16 (mono) and 32 kHz.
        let asc = if stereo { first } else { [first[0], (first[1] & 0x87) | 0x08] };
        let mut t = AacToOpus::new(&asc, 64_000).unwrap();
        let mut pts = 0i64;
        for (data, step) in &packets {
            pts = pts.wrapping_add(*step);
            let _ = t.push(data, pts);
            prop_assert!(t.buffered_us() <= MAX_BUFFERED_US);
            while let Some(p) = t.pop() {
                prop_assert_eq!(p.duration_us, 20_000);
                prop_assert!(!p.data.is_empty());
            }
        }
        prop_assert_eq!(t.stats().packets_in, packets.len() as u64);
    }

    #[test]
    fn any_opus_packets_never_panic(packets in packets()) {
        let mut t = OpusToAac::new(128_000).unwrap();
        let mut pts = 0i64;
        for (data, step) in &packets {
            pts = pts.wrapping_add(*step);
            let _ = t.push(data, pts);
            prop_assert!(t.buffered_us() <= MAX_BUFFERED_US);
            while let Some(f) = t.pop() {
                prop_assert!(matches!(f.duration_us, 21_333 | 21_334));
            }
        }
        prop_assert_eq!(t.stats().packets_in, packets.len() as u64);
    }
}
