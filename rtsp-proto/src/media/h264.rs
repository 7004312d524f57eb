//! H.264 over RTP (RFC 6184), packetization-mode 0 and 1: single NAL unit packets, STAP-A
//! (§5.7.1) and FU-A (§5.8). The interleaved mode (STAP-B, MTAP, FU-B) is not supported.

use bytes::Bytes;
use nom::multi::length_data;
use nom::number::complete::be_u16;

use super::au::AuAssembler;
use super::parts::{to_packets, PartsBuilder, PayloadParts};
use super::{AccessUnit, DepacketizerLimits, DepacketizerStats, MediaError, RtpPacket};

const STAP_A: u8 = 24;
const FU_A: u8 = 28;
use codec::nal::h264::{nal_type, NAL_IDR};

/// Reassembles H.264 access units from RTP packets.
///
/// Push packets in sequence order (through a [`ReorderBuffer`](super::ReorderBuffer) for
/// UDP), then [`pop`](Self::pop) complete access units. An access unit ends at a packet with
/// the marker bit or when the timestamp changes. Any loss inside an access unit, a fragment
/// without start or end, a malformed payload or a limit exceeded drops that access unit
/// whole; the stream goes on with the next one. Single NAL units and STAP-A members are
/// zero-copy slices of the packet payload; FU-A fragments are joined into one buffer.
///
/// Known limit: the first packet ever pushed is trusted to start an access unit unless it is
/// a middle or end FU-A fragment. A receiver that joins mid-frame with a single NAL unit
/// packet may get that first access unit without its leading NAL units; decoders skip to
/// the first keyframe anyway.
#[derive(Debug, Default)]
pub struct H264Depacketizer {
    au: AuAssembler,
}

impl H264Depacketizer {
    /// A depacketizer with the default [`DepacketizerLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A depacketizer with the given limits.
    pub fn with_limits(limits: DepacketizerLimits) -> Self {
        Self {
            au: AuAssembler::new(limits),
        }
    }

    /// Takes one packet. An error reports a malformed or unsupported payload (the access unit
    /// it belonged to is dropped); the depacketizer stays usable.
    pub fn push(&mut self, pkt: &RtpPacket) -> Result<(), MediaError> {
        self.au.push(pkt, payload)
    }

    /// The next complete access unit, oldest first.
    pub fn pop(&mut self) -> Option<AccessUnit> {
        self.au.pop()
    }

    /// Counters since creation.
    pub fn stats(&self) -> DepacketizerStats {
        self.au.stats
    }
}

/// Parses one payload into `au` (the codec part of [`AuAssembler::push`]).
fn payload(au: &mut AuAssembler, payload: &Bytes) -> Result<(), MediaError> {
    const WHAT: &str = "H.264 RTP payload";
    let Some(&header) = payload.first() else {
        return Err(MediaError::truncated(WHAT, 0));
    };
    match nal_type(header) {
        // RFC 6184 §5.6: types 1-23 are a single NAL unit packet.
        t @ 1..=23 => au.push_nal(payload.clone(), t == NAL_IDR),
        STAP_A => {
            // RFC 6184 §5.7.1: one STAP-A NAL header, then 16-bit size + NAL unit, repeated.
            let mut rest = payload.get(1..).unwrap_or_default();
            if rest.is_empty() {
                return Err(MediaError::truncated("H.264 STAP-A", 1));
            }
            while !rest.is_empty() {
                let offset = payload.len() - rest.len();
                let (after, nal) = length_data(be_u16)(rest).map_err(
                    |_: nom::Err<nom::error::Error<&[u8]>>| {
                        MediaError::truncated("H.264 STAP-A unit", offset)
                    },
                )?;
                let Some(&nal_header) = nal.first() else {
                    return Err(MediaError::invalid(
                        "H.264 STAP-A unit",
                        offset,
                        "RFC 6184 §5.7.1: a NAL unit size of zero",
                    ));
                };
                au.push_nal(payload.slice_ref(nal), nal_type(nal_header) == NAL_IDR)?;
                rest = after;
            }
            Ok(())
        }
        FU_A => {
            // RFC 6184 §5.8: FU indicator, FU header (S, E, R, type), fragment.
            let Some(&fu) = payload.get(1) else {
                return Err(MediaError::truncated("H.264 FU-A header", 1));
            };
            let (start, end, original) = (fu & 0x80 != 0, fu & 0x40 != 0, nal_type(fu));
            if start && end {
                return Err(MediaError::invalid(
                    "H.264 FU-A header",
                    1,
                    "RFC 6184 §5.8: Start and End bits MUST NOT both be set",
                ));
            }
            if !(1..=23).contains(&original) {
                return Err(MediaError::invalid(
                    "H.264 FU-A header",
                    1,
                    "RFC 6184 §5.8: the fragmented NAL unit type must be 1-23",
                ));
            }
            if start {
                // The original NAL header: F and NRI from the indicator, type from the
                // FU header.
                au.fragment_start(&[(header & 0xe0) | original], original == NAL_IDR);
            }
            au.fragment_data(payload.get(2..).unwrap_or_default(), end)
        }
        25 | 26 | 27 | 29 => Err(MediaError::Unsupported {
            what: WHAT,
            detail: "STAP-B, MTAP and FU-B (RFC 6184 §5.4, packetization-mode 2)",
        }),
        _ => Err(MediaError::invalid(
            WHAT,
            0,
            "RFC 6184 §5.2: NAL unit type 0, 30 and 31 are reserved",
        )),
    }
}

/// Splits H.264 access units into RTP packets (RFC 6184 packetization-mode 1).
///
/// A NAL unit that fits goes alone in a single NAL unit packet; runs of small NAL units (SPS,
/// PPS, SEI) are aggregated into STAP-A when `aggregate` is set; larger ones are split into
/// FU-A fragments. The last packet of the access unit carries the marker bit (§5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Packetizer {
    /// Largest RTP packet, header included (64..=65535).
    pub mtu: usize,
    /// Payload type of the packets.
    pub payload_type: u8,
    /// SSRC of the packets.
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub sequence: u16,
    /// Aggregate consecutive small NAL units into STAP-A packets.
    pub aggregate: bool,
}

/// Smallest MTU the packetizers accept.
pub const MIN_MTU: usize = 64;

pub(crate) fn check_mtu(mtu: usize) -> Result<usize, MediaError> {
    if !(MIN_MTU..=usize::from(u16::MAX)).contains(&mtu) {
        return Err(MediaError::Misuse("MTU must be within 64..=65535"));
    }
    Ok(mtu - super::RTP_HEADER_LEN)
}

impl H264Packetizer {
    /// A packetizer that aggregates small NAL units.
    pub fn new(mtu: usize, payload_type: u8, ssrc: u32, sequence: u16) -> Self {
        Self {
            mtu,
            payload_type,
            ssrc,
            sequence,
            aggregate: true,
        }
    }

    /// Packetizes one access unit (NAL units without start codes) at `timestamp`.
    pub fn packetize(
        &mut self,
        nalus: &[Bytes],
        timestamp: u32,
    ) -> Result<Vec<RtpPacket>, MediaError> {
        let parts = self.packetize_parts(nalus)?;
        Ok(to_packets(
            parts,
            self.payload_type,
            self.ssrc,
            &mut self.sequence,
            timestamp,
        ))
    }

    /// [`packetize`](Self::packetize) without RTP headers and without
    /// copying: each packet's payload as its FU-A / STAP-A header bytes
    /// beside slices of `nalus`. Concatenated, the parts are the payloads
    /// `packetize` returns; sequence numbers are not advanced.
    pub fn packetize_parts(&self, nalus: &[Bytes]) -> Result<Vec<PayloadParts>, MediaError> {
        let budget = check_mtu(self.mtu)?;
        for nal in nalus {
            match nal.first().map(|&h| nal_type(h)) {
                Some(1..=23) => {}
                _ => {
                    return Err(MediaError::Misuse(
                        "H.264 NAL units must be non-empty, type 1-23",
                    ))
                }
            }
        }
        let mut out = PartsBuilder::default();
        let mut i = 0;
        while let Some(nal) = nalus.get(i) {
            if nal.len() > budget {
                fragment(nal, budget, &mut out);
                i += 1;
                continue;
            }
            let mut end = i + 1;
            let mut size = 1 + 2 + nal.len();
            if self.aggregate {
                while let Some(next) = nalus.get(end) {
                    if size + 2 + next.len() > budget {
                        break;
                    }
                    size += 2 + next.len();
                    end += 1;
                }
            }
            let group = nalus.get(i..end).unwrap_or_default();
            if group.len() >= 2 {
                // RFC 6184 §5.7: F is the OR of the aggregated F bits, NRI their maximum.
                let f = group.iter().fold(0, |a, n| a | (n[0] & 0x80));
                let nri = group.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
                out.head(&[f | nri | STAP_A]);
                for n in group {
                    out.head(&(n.len() as u16).to_be_bytes());
                    out.data(n.clone());
                }
            } else {
                out.data(nal.clone());
            }
            out.end(false, 0);
            i = end;
        }
        out.mark_last();
        Ok(out.finish())
    }
}

fn fragment(nal: &Bytes, budget: usize, out: &mut PartsBuilder) {
    let header = nal[0];
    let chunk = budget - 2;
    let count = (nal.len() - 1).div_ceil(chunk);
    for k in 0..count {
        let mut fu = nal_type(header);
        if k == 0 {
            fu |= 0x80;
        }
        if k + 1 == count {
            fu |= 0x40;
        }
        let from = 1 + k * chunk;
        out.head(&[(header & 0xe0) | FU_A, fu]);
        out.data(nal.slice(from..(from + chunk).min(nal.len())));
        out.end(false, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::{arb_access_units, lossy, nal};
    use proptest::prelude::*;

    fn pkt(seq: u16, ts: u32, marker: bool, payload: &'static [u8]) -> RtpPacket {
        RtpPacket::new(96, seq, ts, 1, marker, Bytes::from_static(payload))
    }

    #[test]
    fn single_stap_a_and_fu_a() {
        let mut d = H264Depacketizer::new();
        // STAP-A with SPS (7) and PPS (8), then an IDR in three FU-A fragments.
        d.push(&pkt(
            1,
            0,
            false,
            &[0x78, 0, 2, 0x67, 0xaa, 0, 2, 0x68, 0xbb],
        ))
        .unwrap();
        d.push(&pkt(2, 0, false, &[0x7c, 0x85, 1, 2])).unwrap();
        d.push(&pkt(3, 0, false, &[0x7c, 0x05, 3])).unwrap();
        assert_eq!(d.pop(), None);
        d.push(&pkt(4, 0, true, &[0x7c, 0x45, 4])).unwrap();
        let au = d.pop().unwrap();
        assert!(au.keyframe);
        assert_eq!(
            au.nalus,
            vec![
                nal(&[0x67, 0xaa]),
                nal(&[0x68, 0xbb]),
                nal(&[0x65, 1, 2, 3, 4])
            ]
        );
        // A P slice alone, ended by a timestamp change (no marker).
        d.push(&pkt(5, 3600, false, &[0x41, 9])).unwrap();
        d.push(&pkt(6, 7200, true, &[0x41, 8])).unwrap();
        let au = d.pop().unwrap();
        assert_eq!((au.timestamp, au.keyframe), (3600, false));
        assert_eq!(d.pop().unwrap().timestamp, 7200);
        assert_eq!(d.stats().access_units, 3);
    }

    #[test]
    fn lost_fragment_drops_the_access_unit_only() {
        let mut d = H264Depacketizer::new();
        d.push(&pkt(1, 0, false, &[0x7c, 0x85, 1])).unwrap();
        d.push(&pkt(3, 0, true, &[0x7c, 0x45, 3])).unwrap(); // seq 2 lost
        assert_eq!(d.pop(), None);
        // The next AU also comes after a gap (its first packet could have been lost).
        d.push(&pkt(5, 3600, true, &[0x41, 1])).unwrap();
        assert_eq!(d.pop(), None);
        d.push(&pkt(6, 7200, true, &[0x41, 2])).unwrap();
        assert_eq!(d.pop().unwrap().timestamp, 7200);
        let s = d.stats();
        assert_eq!((s.lost_packets, s.dropped_access_units), (2, 2));
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        let cases: &[&'static [u8]] = &[
            &[],
            &[0x78],
            &[0x78, 0, 5, 1],
            &[0x78, 0, 0],
            &[0x7c],
            &[0x7c, 0xc5, 1],
            &[0x7c, 0x98, 1],
            &[0x00, 1],
            &[0x1f],
            &[0x1a, 1],
        ];
        for (k, case) in cases.iter().enumerate() {
            let mut d = H264Depacketizer::new();
            assert!(d.push(&pkt(k as u16, 0, true, case)).is_err(), "{case:?}");
            assert_eq!(d.pop(), None);
        }
    }

    #[test]
    fn limits_drop_oversized_access_units() {
        let mut d = H264Depacketizer::with_limits(DepacketizerLimits {
            max_au_bytes: 4,
            max_nalus: 2,
            max_ready: 4,
        });
        assert!(d.push(&pkt(1, 0, true, &[0x41, 1, 2, 3, 4])).is_err());
        assert!(d
            .push(&pkt(
                2,
                1,
                true,
                &[0x78, 0, 1, 0x41, 0, 1, 0x41, 0, 1, 0x41]
            ))
            .is_err());
        d.push(&pkt(3, 2, true, &[0x41, 1])).unwrap();
        assert_eq!(d.pop().unwrap().timestamp, 2);
        assert_eq!(d.pop(), None);
    }

    #[test]
    fn packetizer_uses_single_stap_a_and_fu_a() {
        let mut p = H264Packetizer::new(64, 96, 7, 65535);
        let big = Bytes::from(vec![0x65; 120]);
        let aus = [
            nal(&[0x67, 1]),
            nal(&[0x68, 2]),
            big.clone(),
            nal(&[0x06, 3]),
        ];
        let pkts = p.packetize(&aus, 90).unwrap();
        // STAP-A(SPS, PPS), FU-A x3 (119 body bytes / 50), single SEI.
        assert_eq!(pkts.len(), 5);
        assert_eq!(pkts[0].payload[0] & 0x1f, STAP_A);
        assert_eq!(pkts[1].payload[..2], [0x7c, 0x85]);
        assert_eq!(pkts[3].payload[1], 0x45);
        assert_eq!(pkts[4].payload, nal(&[0x06, 3]));
        assert!(pkts.iter().all(|q| q.to_bytes().len() <= 64));
        assert_eq!(pkts.iter().filter(|q| q.marker).count(), 1);
        assert!(pkts[4].marker);
        assert_eq!(pkts[0].sequence, 65535);
        assert_eq!(p.sequence, 4);
        assert!(p.packetize(&[Bytes::new()], 0).is_err());
        assert!(p.packetize(&[nal(&[0x7c])], 0).is_err());
        p.mtu = 10;
        assert!(p.packetize(&aus, 0).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn packetize_depacketize_round_trips(
            aus in arb_access_units(1..=23, false, 4),
            mtu in 200usize..1500,
            aggregate in any::<bool>(),
        ) {
            let mut p = H264Packetizer::new(mtu, 96, 1, 60000);
            p.aggregate = aggregate;
            let mut d = H264Depacketizer::new();
            for (k, au) in aus.iter().enumerate() {
                for pkt in p.packetize(&au.nalus, au.timestamp).unwrap() {
                    prop_assert!(pkt.to_bytes().len() <= mtu);
                    d.push(&RtpPacket::parse(&pkt.to_bytes()).unwrap()).unwrap();
                }
                let got = d.pop().unwrap();
                prop_assert_eq!(&got.nalus, &au.nalus, "AU {}", k);
                prop_assert_eq!(got.timestamp, au.timestamp);
                prop_assert_eq!(got.keyframe, au.nalus.iter().any(|n| n[0] & 0x1f == NAL_IDR));
            }
        }

        #[test]
        fn loss_never_yields_a_damaged_access_unit(
            aus in arb_access_units(1..=23, false, 4),
            mtu in 200usize..1500,
            drop in proptest::collection::vec(any::<bool>(), 0..512),
        ) {
            let mut p = H264Packetizer::new(mtu, 96, 1, 0);
            let mut d = H264Depacketizer::new();
            let mut pkts = Vec::new();
            for au in &aus {
                pkts.extend(p.packetize(&au.nalus, au.timestamp).unwrap());
            }
            for pkt in lossy(pkts, &drop) {
                let _ = d.push(&pkt);
            }
            while let Some(got) = d.pop() {
                let orig = aus.iter().find(|a| a.timestamp == got.timestamp).unwrap();
                prop_assert_eq!(&got.nalus, &orig.nalus);
            }
        }
    }
}
