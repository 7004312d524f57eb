//! RTP payloads as parts: the few header bytes a payload format adds (FU-A
//! and FU headers, STAP-A/AP length fields, AAC AU headers) beside slices of
//! the media they carry, so a sender can packetize a frame once without
//! copying it and write each packet with a vectored write.

use bytes::{BufMut, Bytes, BytesMut};

/// The payload of one RTP packet, without its RTP header, as parts that
/// concatenate to the payload: small header bytes and slices of the input
/// (never copies of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadParts {
    /// The packet's marker bit.
    pub marker: bool,
    /// Its timestamp relative to the first frame given to the packetizer, in
    /// RTP clock ticks (non-zero only for later AAC frames of one call).
    pub ts_offset: u32,
    /// The parts, in order, none empty.
    pub parts: Vec<Bytes>,
}

impl PayloadParts {
    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The payload as one buffer: the part itself when there is one, else a
    /// copy of the parts joined.
    pub fn to_bytes(&self) -> Bytes {
        match &self.parts[..] {
            [one] => one.clone(),
            parts => {
                let mut out = BytesMut::with_capacity(self.len());
                for p in parts {
                    out.put_slice(p);
                }
                out.freeze()
            }
        }
    }
}

/// Packets of `parts` (joined) from `sequence` on, at `timestamp` plus
/// each packet's offset.
pub(crate) fn to_packets(
    parts: Vec<PayloadParts>,
    payload_type: u8,
    ssrc: u32,
    sequence: &mut u16,
    timestamp: u32,
) -> Vec<super::RtpPacket> {
    parts
        .into_iter()
        .map(|p| {
            let packet = super::RtpPacket::new(
                payload_type,
                *sequence,
                timestamp.wrapping_add(p.ts_offset),
                ssrc,
                p.marker,
                p.to_bytes(),
            );
            *sequence = sequence.wrapping_add(1);
            packet
        })
        .collect()
}

enum Seg {
    Head(usize, usize),
    Data(Bytes),
}

/// Collects packets' parts; the header bytes of all packets share one buffer.
#[derive(Default)]
pub(crate) struct PartsBuilder {
    heads: BytesMut,
    packets: Vec<(bool, u32, Vec<Seg>)>,
    current: Vec<Seg>,
}

impl PartsBuilder {
    /// Header bytes of the current packet.
    pub(crate) fn head(&mut self, bytes: &[u8]) {
        let start = self.heads.len();
        self.heads.put_slice(bytes);
        let end = self.heads.len();
        match self.current.last_mut() {
            Some(Seg::Head(_, e)) if *e == start => *e = end,
            _ => self.current.push(Seg::Head(start, end)),
        }
    }

    /// A slice of the media in the current packet.
    pub(crate) fn data(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.current.push(Seg::Data(b));
        }
    }

    /// Ends the current packet.
    pub(crate) fn end(&mut self, marker: bool, ts_offset: u32) {
        let segs = std::mem::take(&mut self.current);
        self.packets.push((marker, ts_offset, segs));
    }

    /// Sets the marker bit of the last packet.
    pub(crate) fn mark_last(&mut self) {
        if let Some(last) = self.packets.last_mut() {
            last.0 = true;
        }
    }

    pub(crate) fn finish(self) -> Vec<PayloadParts> {
        let heads = self.heads.freeze();
        self.packets
            .into_iter()
            .map(|(marker, ts_offset, segs)| PayloadParts {
                marker,
                ts_offset,
                parts: segs
                    .into_iter()
                    .map(|s| match s {
                        Seg::Head(a, b) => heads.slice(a..b),
                        Seg::Data(d) => d,
                    })
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::arb_access_units;
    use crate::media::{AacPacketizer, H264Packetizer, H265Packetizer};
    use proptest::prelude::*;

    /// Bytes of `parts` that are slices of one of `inputs`.
    fn shared_bytes(parts: &[PayloadParts], inputs: &[Bytes]) -> usize {
        let within = |p: &Bytes| {
            inputs.iter().any(|i| {
                let (a, b) = (i.as_ptr() as usize, p.as_ptr() as usize);
                b >= a && b + p.len() <= a + i.len()
            })
        };
        parts
            .iter()
            .flat_map(|p| &p.parts)
            .filter(|p| within(p))
            .map(Bytes::len)
            .sum()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn video_parts_are_the_packets_payloads_and_copy_nothing(
            aus in arb_access_units(1..=23, false, 6),
            hevc in arb_access_units(0..=21, true, 6),
            mtu in 64usize..1500,
        ) {
            for au in &aus {
                let mut p = H264Packetizer::new(mtu, 96, 1, 0);
                let parts = p.packetize_parts(&au.nalus).unwrap();
                let packets = p.packetize(&au.nalus, 0).unwrap();
                prop_assert_eq!(parts.len(), packets.len());
                for (a, b) in parts.iter().zip(&packets) {
                    prop_assert_eq!(a.to_bytes(), b.payload.clone());
                    prop_assert_eq!(a.marker, b.marker);
                }
                // Every NAL byte but the headers FU-A re-encodes is shared.
                let nal_bytes: usize = au.nalus.iter().map(Bytes::len).sum();
                let shared = shared_bytes(&parts, &au.nalus);
                prop_assert!(shared + au.nalus.len() >= nal_bytes, "{shared} of {nal_bytes}");
            }
            for au in &hevc {
                let mut p = H265Packetizer::new(mtu, 96, 1, 0);
                let parts = p.packetize_parts(&au.nalus).unwrap();
                let packets = p.packetize(&au.nalus, 0).unwrap();
                for (a, b) in parts.iter().zip(&packets) {
                    prop_assert_eq!(a.to_bytes(), b.payload.clone());
                }
                let nal_bytes: usize = au.nalus.iter().map(Bytes::len).sum();
                let shared = shared_bytes(&parts, &au.nalus);
                prop_assert!(shared + 2 * au.nalus.len() >= nal_bytes, "{shared} of {nal_bytes}");
            }
        }

        #[test]
        fn aac_parts_share_the_frames(
            sizes in proptest::collection::vec(1usize..5000, 1..6),
            mtu in 64usize..1500,
            per_packet in 1usize..4,
        ) {
            let frames: Vec<Bytes> = sizes.iter().map(|&n| Bytes::from(vec![0x21; n])).collect();
            let mut p = AacPacketizer::new(mtu, 97, 1, 0);
            p.max_frames_per_packet = per_packet;
            let parts = p.packetize_parts(&frames).unwrap();
            let packets = p.packetize(&frames, 1000).unwrap();
            prop_assert_eq!(parts.len(), packets.len());
            for (a, b) in parts.iter().zip(&packets) {
                prop_assert_eq!(a.to_bytes(), b.payload.clone());
                prop_assert_eq!(1000u32.wrapping_add(a.ts_offset), b.timestamp);
            }
            prop_assert_eq!(shared_bytes(&parts, &frames), sizes.iter().sum::<usize>());
        }
    }
}
