//! End-to-end properties: packetizer → network (reordering, loss) → reorder buffer →
//! depacketizer; and arbitrary payloads through every depacketizer.

use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use super::testutil::arb_access_units;
use super::{
    AacConfig, AacDepacketizer, H264Depacketizer, H264Packetizer, H265Depacketizer, ReorderBuffer,
    RtpPacket,
};

/// Delays each packet by at most `max_shift` places: packet `i` is sorted by
/// `i + shift`, so none moves further than `max_shift` from where it was.
fn shuffle(pkts: Vec<RtpPacket>, shifts: &[usize], max_shift: usize) -> Vec<RtpPacket> {
    if shifts.is_empty() {
        return pkts;
    }
    let mut keyed: Vec<(usize, RtpPacket)> = pkts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (i + shifts[i % shifts.len()] % (max_shift + 1), p))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, p)| p).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn reordered_h264_comes_back_whole(
        aus in arb_access_units(1..=23, false, 3),
        mtu in 200usize..1500,
        shifts in proptest::collection::vec(0usize..8, 0..32),
    ) {
        let mut p = H264Packetizer::new(mtu, 96, 5, 65500);
        let mut sent = Vec::new();
        for au in &aus {
            sent.extend(p.packetize(&au.nalus, au.timestamp).unwrap());
        }
        // The first packet is not displaced: the buffer starts its window there.
        let first = sent.remove(0);
        let mut arriving = vec![first];
        arriving.extend(shuffle(sent, &shifts, 7));
        let t0 = Instant::now();
        let mut reorder = ReorderBuffer::new(64, Duration::from_millis(100));
        let mut depack = H264Depacketizer::new();
        let mut got = Vec::new();
        for (k, pkt) in arriving.into_iter().enumerate() {
            let now = t0 + Duration::from_micros(k as u64);
            reorder.push(pkt, now);
            while let Some(pkt) = reorder.pop(now) {
                depack.push(&pkt).unwrap();
            }
            got.extend(std::iter::from_fn(|| depack.pop()));
        }
        while let Some(pkt) = reorder.pop(t0 + Duration::from_secs(1)) {
            depack.push(&pkt).unwrap();
        }
        got.extend(std::iter::from_fn(|| depack.pop()));
        prop_assert_eq!(reorder.stats().lost, 0);
        prop_assert_eq!(got, aus);
    }

    #[test]
    fn arbitrary_packets_never_panic_a_depacketizer(
        packets in proptest::collection::vec(
            (any::<u16>(), 0u32..4, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)),
            0..24,
        ),
    ) {
        let mut h264 = H264Depacketizer::new();
        let mut h265 = H265Depacketizer::new();
        let mut aac = AacDepacketizer::new(AacConfig::hbr()).unwrap();
        for (k, (seq_jump, ts, marker, payload)) in packets.into_iter().enumerate() {
            // Mostly consecutive sequence numbers, sometimes a jump.
            let seq = if seq_jump % 4 == 0 { seq_jump } else { k as u16 };
            let pkt = RtpPacket::new(96, seq, ts, 1, marker, Bytes::from(payload));
            let _ = h264.push(&pkt);
            let _ = h265.push(&pkt);
            let _ = aac.push(&pkt);
            while h264.pop().is_some() || h265.pop().is_some() || aac.pop().is_some() {}
        }
    }
}
