//! H.265 over RTP (RFC 7798): single NAL unit packets (§4.4.1), aggregation packets (AP,
//! §4.4.2) and fragmentation units (FU, §4.4.3).
//!
//! DONL/DOND fields are not supported: the session must use `sprop-max-don-diff=0` (the
//! default, RFC 7798 §7.1), which every common sender (ffmpeg, GStreamer, cameras) does. PACI
//! packets (type 50) are not supported either.

use bytes::Bytes;
use nom::multi::length_data;
use nom::number::complete::be_u16;

use super::au::AuAssembler;
use super::h264::check_mtu;
use super::parts::{to_packets, PartsBuilder, PayloadParts};
use super::{AccessUnit, DepacketizerLimits, DepacketizerStats, MediaError, RtpPacket};

const AP: u8 = 48;
const FU: u8 = 49;
const PACI: u8 = 50;

// NAL unit type from the first header byte (RFC 7798 §1.1.4: F, Type(6), LayerId, TID);
// IRAP pictures (BLA, IDR, CRA: types 16..=21, H.265 §7.4.2.2) are random-access points.
use codec::nal::h265::{is_irap, nal_type};

/// Reassembles H.265 access units from RTP packets.
///
/// Same contract as [`H264Depacketizer`](super::H264Depacketizer): push packets in sequence
/// order, pop complete access units; a loss drops the access unit it touches, not the
/// stream. `keyframe` means an IRAP NAL unit (types 16..=21) is present.
#[derive(Debug, Default)]
pub struct H265Depacketizer {
    au: AuAssembler,
}

impl H265Depacketizer {
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
    const WHAT: &str = "H.265 RTP payload";
    let (Some(&h0), Some(&h1)) = (payload.first(), payload.get(1)) else {
        return Err(MediaError::truncated(WHAT, payload.len()));
    };
    // RFC 7798 §1.1.4: TID (nuh_temporal_id_plus1) "MUST NOT be 0".
    if h1 & 0x07 == 0 {
        return Err(MediaError::invalid(
            WHAT,
            1,
            "RFC 7798 §1.1.4: TID must not be 0",
        ));
    }
    match nal_type(h0) {
        // RFC 7798 §4.4.1: any NAL unit type 0..=47 is a single NAL unit packet.
        t @ 0..=47 => au.push_nal(payload.clone(), is_irap(t)),
        AP => {
            // RFC 7798 §4.4.2: payload header, then 16-bit size + NAL unit, repeated (no
            // DONL fields because sprop-max-don-diff is 0).
            let mut rest = payload.get(2..).unwrap_or_default();
            if rest.is_empty() {
                return Err(MediaError::truncated("H.265 AP", 2));
            }
            while !rest.is_empty() {
                let offset = payload.len() - rest.len();
                let (after, nal) = length_data(be_u16)(rest).map_err(
                    |_: nom::Err<nom::error::Error<&[u8]>>| {
                        MediaError::truncated("H.265 AP unit", offset)
                    },
                )?;
                let Some(&n0) = nal.first().filter(|_| nal.len() >= 2) else {
                    return Err(MediaError::invalid(
                        "H.265 AP unit",
                        offset,
                        "RFC 7798 §4.4.2: an aggregated NAL unit has a 2-byte header",
                    ));
                };
                au.push_nal(payload.slice_ref(nal), is_irap(nal_type(n0)))?;
                rest = after;
            }
            Ok(())
        }
        FU => {
            // RFC 7798 §4.4.3: payload header, FU header (S, E, FuType), fragment.
            let Some(&fu) = payload.get(2) else {
                return Err(MediaError::truncated("H.265 FU header", 2));
            };
            let (start, end, original) = (fu & 0x80 != 0, fu & 0x40 != 0, fu & 0x3f);
            if start && end {
                return Err(MediaError::invalid(
                    "H.265 FU header",
                    2,
                    "RFC 7798 §4.4.3: S and E MUST NOT both be set",
                ));
            }
            if original > 47 {
                return Err(MediaError::invalid(
                    "H.265 FU header",
                    2,
                    "RFC 7798 §4.4.3: FuType MUST NOT be 48 or above",
                ));
            }
            if start {
                // The original NAL header: F, LayerId and TID from the payload header,
                // type from FuType.
                au.fragment_start(&[(h0 & 0x81) | (original << 1), h1], is_irap(original));
            }
            au.fragment_data(payload.get(3..).unwrap_or_default(), end)
        }
        PACI => Err(MediaError::Unsupported {
            what: WHAT,
            detail: "PACI packets (RFC 7798 §4.4.4)",
        }),
        _ => Err(MediaError::invalid(
            WHAT,
            0,
            "RFC 7798 §4.4: payload types 51..=63 are unspecified",
        )),
    }
}

/// Splits H.265 access units into RTP packets (RFC 7798, without DONL).
///
/// A NAL unit that fits goes alone in a single NAL unit packet; runs of small NAL units (VPS,
/// SPS, PPS) are aggregated into APs when `aggregate` is set; larger ones are split into FUs.
/// The last packet of the access unit carries the marker bit (§4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H265Packetizer {
    /// Largest RTP packet, header included (64..=65535).
    pub mtu: usize,
    /// Payload type of the packets.
    pub payload_type: u8,
    /// SSRC of the packets.
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub sequence: u16,
    /// Aggregate consecutive small NAL units into AP packets.
    pub aggregate: bool,
}

impl H265Packetizer {
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
    /// copying: each packet's payload as its FU / AP header bytes beside
    /// slices of `nalus`. Concatenated, the parts are the payloads
    /// `packetize` returns; sequence numbers are not advanced.
    pub fn packetize_parts(&self, nalus: &[Bytes]) -> Result<Vec<PayloadParts>, MediaError> {
        let budget = check_mtu(self.mtu)?;
        for nal in nalus {
            let ok = nal.len() >= 2
                && nal_type(nal[0]) <= 47
                && nal.get(1).is_some_and(|b| b & 0x07 != 0);
            if !ok {
                return Err(MediaError::Misuse(
                    "H.265 NAL units need a 2-byte header, type 0-47 and TID > 0",
                ));
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
            let mut size = 2 + 2 + nal.len();
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
                // RFC 7798 §4.4.2: F is the OR of the aggregated F bits; LayerId and TID
                // are the lowest of the aggregated ones.
                let f = group.iter().fold(0, |a, n| a | (n[0] & 0x80));
                let layer = group
                    .iter()
                    .map(|n| u16::from_be_bytes([n[0], n[1]]) >> 3 & 0x3f)
                    .min()
                    .unwrap_or(0);
                let tid = group.iter().map(|n| n[1] & 0x07).min().unwrap_or(1);
                out.head(&[
                    f | AP << 1 | (layer >> 5) as u8,
                    ((layer & 0x1f) as u8) << 3 | tid,
                ]);
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
    let (h0, h1) = (nal[0], nal[1]);
    let chunk = budget - 3;
    let count = (nal.len() - 2).div_ceil(chunk);
    for k in 0..count {
        let mut fu = nal_type(h0);
        if k == 0 {
            fu |= 0x80;
        }
        if k + 1 == count {
            fu |= 0x40;
        }
        let from = 2 + k * chunk;
        out.head(&[(h0 & 0x81) | FU << 1, h1, fu]);
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
    fn single_ap_and_fu() {
        let mut d = H265Depacketizer::new();
        // AP with VPS (32) and SPS (33); then an IDR_W_RADL (19) in two FUs.
        d.push(&pkt(
            1,
            0,
            false,
            &[0x60, 0x01, 0, 3, 0x40, 0x01, 0xaa, 0, 3, 0x42, 0x01, 0xbb],
        ))
        .unwrap();
        d.push(&pkt(2, 0, false, &[0x62, 0x01, 0x93, 1, 2]))
            .unwrap();
        d.push(&pkt(3, 0, true, &[0x62, 0x01, 0x53, 3])).unwrap();
        let au = d.pop().unwrap();
        assert!(au.keyframe);
        assert_eq!(
            au.nalus,
            vec![
                nal(&[0x40, 1, 0xaa]),
                nal(&[0x42, 1, 0xbb]),
                nal(&[0x26, 1, 1, 2, 3])
            ]
        );
        // TRAIL_R (1) single NAL unit.
        d.push(&pkt(4, 3000, true, &[0x02, 0x01, 7])).unwrap();
        let au = d.pop().unwrap();
        assert_eq!((au.timestamp, au.keyframe), (3000, false));
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        let cases: &[&'static [u8]] = &[
            &[],
            &[0x02],
            &[0x02, 0x00, 1],       // TID 0
            &[0x60, 0x01],          // empty AP
            &[0x60, 0x01, 0, 9, 1], // AP unit cut
            &[0x60, 0x01, 0, 1, 0x02],
            &[0x62, 0x01],          // FU header missing
            &[0x62, 0x01, 0xd3, 1], // S and E
            &[0x62, 0x01, 0xb1, 1], // FuType 49
            &[0x64, 0x01, 1],       // PACI
            &[0x7e, 0x01, 1],       // type 63
        ];
        for (k, case) in cases.iter().enumerate() {
            let mut d = H265Depacketizer::new();
            assert!(d.push(&pkt(k as u16, 0, true, case)).is_err(), "{case:?}");
            assert_eq!(d.pop(), None);
        }
    }

    #[test]
    fn lost_fragment_drops_the_access_unit_only() {
        let mut d = H265Depacketizer::new();
        d.push(&pkt(10, 0, false, &[0x62, 0x01, 0x93, 1])).unwrap();
        d.push(&pkt(12, 0, true, &[0x62, 0x01, 0x53, 3])).unwrap();
        d.push(&pkt(13, 3000, true, &[0x02, 0x01, 7])).unwrap();
        assert_eq!(d.pop().unwrap().timestamp, 3000);
        assert_eq!(d.pop(), None);
        assert_eq!(d.stats().dropped_access_units, 1);
    }

    #[test]
    fn packetizer_aggregates_and_fragments() {
        let mut p = H265Packetizer::new(100, 97, 3, 0);
        let vps = nal(&[0x40, 0x01, 1]);
        let sps = nal(&[0x42, 0x01, 2]);
        let idr = Bytes::from([&[0x26u8, 0x01][..], &[9; 200]].concat());
        let pkts = p.packetize(&[vps, sps, idr], 5).unwrap();
        assert_eq!(pkts.len(), 4); // AP + 3 FUs (200 / 85)
        assert_eq!(pkts[0].payload[..2], [0x60, 0x01]);
        assert_eq!(pkts[1].payload[..3], [0x62, 0x01, 0x93]);
        assert_eq!(pkts[3].payload[2], 0x53);
        assert!(pkts[3].marker && !pkts[2].marker);
        assert!(p.packetize(&[nal(&[0x02])], 0).is_err());
        assert!(p.packetize(&[nal(&[0x60, 0x01])], 0).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn packetize_depacketize_round_trips(
            aus in arb_access_units(0..=40, true, 4),
            mtu in 200usize..1500,
            aggregate in any::<bool>(),
        ) {
            let mut p = H265Packetizer::new(mtu, 96, 1, 65000);
            p.aggregate = aggregate;
            let mut d = H265Depacketizer::new();
            for au in &aus {
                for pkt in p.packetize(&au.nalus, au.timestamp).unwrap() {
                    prop_assert!(pkt.to_bytes().len() <= mtu);
                    d.push(&RtpPacket::parse(&pkt.to_bytes()).unwrap()).unwrap();
                }
                prop_assert_eq!(d.pop().unwrap(), au.clone());
            }
        }

        #[test]
        fn loss_never_yields_a_damaged_access_unit(
            aus in arb_access_units(0..=40, true, 4),
            mtu in 200usize..1500,
            drop in proptest::collection::vec(any::<bool>(), 0..512),
        ) {
            let mut p = H265Packetizer::new(mtu, 96, 1, 0);
            let mut d = H265Depacketizer::new();
            let mut pkts = Vec::new();
            for au in &aus {
                pkts.extend(p.packetize(&au.nalus, au.timestamp).unwrap());
            }
            for pkt in lossy(pkts, &drop) {
                let _ = d.push(&pkt);
            }
            while let Some(got) = d.pop() {
                prop_assert!(aus.contains(&got));
            }
        }
    }
}
