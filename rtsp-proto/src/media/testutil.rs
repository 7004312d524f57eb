//! Test helpers shared by the depacketizer tests: generated access units and packet loss.

use bytes::Bytes;
use proptest::prelude::*;

use super::{AccessUnit, RtpPacket};

pub(crate) fn nal(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

/// A NAL unit of `body` bytes after its header, filled with a cheap pattern from `seed`.
fn make_nal(header: &[u8], body: usize, seed: u8) -> Bytes {
    let mut v = header.to_vec();
    v.extend((0..body).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    Bytes::from(v)
}

fn body_size() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..64, 64usize..3000, 3000usize..200_000]
}

/// Access units with increasing, distinct timestamps. `h265` picks the 2-byte header form;
/// `types` the NAL unit types drawn.
pub(crate) fn arb_access_units(
    types: std::ops::RangeInclusive<u8>,
    h265: bool,
    max_nalus: usize,
) -> impl Strategy<Value = Vec<AccessUnit>> {
    let nal = (types, 0u8..4, body_size(), any::<u8>()).prop_map(move |(t, nri, body, seed)| {
        if h265 {
            make_nal(&[t << 1, 1], body, seed)
        } else {
            make_nal(&[nri << 5 | t], body, seed)
        }
    });
    let au = proptest::collection::vec(nal, 1..=max_nalus);
    (proptest::collection::vec(au, 1..5), any::<u32>()).prop_map(move |(aus, base)| {
        aus.into_iter()
            .enumerate()
            .map(|(k, nalus)| AccessUnit {
                timestamp: base.wrapping_add(3000 * k as u32),
                keyframe: nalus.iter().any(|n| {
                    if h265 {
                        (16..=21).contains(&(n[0] >> 1))
                    } else {
                        n[0] & 0x1f == 5
                    }
                }),
                nalus,
            })
            .collect()
    })
}

/// Drops the packets whose flag in `drop` is set (cycled), always keeping the first one: a
/// depacketizer has to trust the first packet it sees.
pub(crate) fn lossy(pkts: Vec<RtpPacket>, drop: &[bool]) -> Vec<RtpPacket> {
    pkts.into_iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || drop.is_empty() || !drop[i % drop.len()])
        .map(|(_, p)| p)
        .collect()
}
