//! RTCP (RFC 3550 §6): the common header, compound packets, and the SR, RR, SDES and BYE
//! packets. Other packet types (APP, RTPFB, PSFB, XR...) are handed out as
//! [`RtcpPacket::Other`] with their raw body, for the caller to skip or decode.

mod bye;
mod ntp;
mod rr;
mod sdes;
mod sr;

use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_u16, be_u8};
use nom::sequence::tuple;
use nom::IResult;

pub use bye::Goodbye;
pub use ntp::{dlsr, NtpTimestamp, NTP_UNIX_OFFSET};
pub use rr::{ReceiverReport, ReportBlock, REPORT_BLOCK_LEN};
pub use sdes::{SdesChunk, SourceDescription, SDES_CNAME};
pub use sr::SenderReport;

use super::MediaError;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of a source description.
pub const PT_SDES: u8 = 202;
/// Packet type of a goodbye.
pub const PT_BYE: u8 = 203;

/// Largest value of the 5-bit count field (RC / SC).
pub(crate) const MAX_COUNT: usize = 31;
/// Payload-specific feedback (RFC 4585 §6.1).
pub const PT_PSFB: u8 = 206;

/// A Picture Loss Indication (RFC 4585 §6.3.1): `sender_ssrc` asks the
/// sender of `media_ssrc` for a keyframe.
pub fn picture_loss_indication(sender_ssrc: u32, media_ssrc: u32) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[0] = 0x80 | 1; // V=2, FMT=1 (PLI)
    p[1] = PT_PSFB;
    p[2..4].copy_from_slice(&2u16.to_be_bytes()); // length in words minus one
    p[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    p[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
    p
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket {
    /// Sender report (200).
    SenderReport(SenderReport),
    /// Receiver report (201).
    ReceiverReport(ReceiverReport),
    /// Source description (202).
    SourceDescription(SourceDescription),
    /// Goodbye (203).
    Goodbye(Goodbye),
    /// Any other packet type, kept raw (padding removed).
    Other {
        /// The packet type.
        packet_type: u8,
        /// The 5-bit count / format field.
        count: u8,
        /// The body after the 4-byte header.
        body: Bytes,
    },
}

impl RtcpPacket {
    /// Appends the packet, header included.
    pub fn write(&self, out: &mut BytesMut) {
        match self {
            Self::SenderReport(p) => p.write(out),
            Self::ReceiverReport(p) => p.write(out),
            Self::SourceDescription(p) => p.write(out),
            Self::Goodbye(p) => p.write(out),
            Self::Other {
                packet_type,
                count,
                body,
            } => {
                // Bodies are whole 32-bit words; a ragged one is zero-padded.
                let len = body.len().div_ceil(4) * 4;
                write_header(out, *count, *packet_type, len);
                out.put_slice(body);
                out.put_bytes(0, len - body.len());
            }
        }
    }
}

/// Appends a common header for a packet whose body (after the header) is `body_len` bytes,
/// a multiple of 4 (RFC 3550 §6.4.1: length is the packet's size in 32-bit words minus one).
pub(crate) fn write_header(out: &mut BytesMut, count: u8, packet_type: u8, body_len: usize) {
    out.put_u8(0x80 | (count & 0x1f));
    out.put_u8(packet_type);
    out.put_u16((body_len / 4) as u16);
}

fn common_header(i: &[u8]) -> IResult<&[u8], (u8, u8, u16)> {
    tuple((be_u8, be_u8, be_u16))(i)
}

/// Iterates over the packets of a compound RTCP packet (one UDP datagram or `$` frame).
///
/// Each item is one packet or the error that ended the iteration (nothing follows an error).
#[derive(Debug, Clone)]
pub struct RtcpIter {
    data: Bytes,
    pos: usize,
}

impl RtcpIter {
    /// Iterates over `data`.
    pub fn new(data: Bytes) -> Self {
        Self { data, pos: 0 }
    }

    fn next_packet(&mut self) -> Result<RtcpPacket, MediaError> {
        const WHAT: &str = "RTCP header";
        let start = self.pos;
        let rest = self.data.get(start..).unwrap_or_default();
        let (_, (b0, packet_type, words)) =
            common_header(rest).map_err(|_| MediaError::truncated(WHAT, start))?;
        // RFC 3550 §6.4.1: version 2.
        if b0 >> 6 != 2 {
            return Err(MediaError::invalid(
                WHAT,
                start,
                "RFC 3550 §6.4.1: version must be 2",
            ));
        }
        let len = (usize::from(words) + 1) * 4;
        if len > rest.len() {
            return Err(MediaError::truncated("RTCP packet", start + rest.len()));
        }
        let mut end = start + len;
        if b0 & 0x20 != 0 {
            // RFC 3550 §6.4.1: padding may only be in the last packet of a compound; its
            // last octet counts the padding octets, itself included.
            if end != self.data.len() {
                return Err(MediaError::invalid(
                    WHAT,
                    start,
                    "RFC 3550 §6.4.1: only the last packet of a compound may be padded",
                ));
            }
            let pad = self.data.get(end - 1).copied().map_or(0, usize::from);
            if pad == 0 || pad > len - 4 {
                return Err(MediaError::invalid(
                    "RTCP padding",
                    end - 1,
                    "RFC 3550 §6.4.1: padding count must be 1..=body length",
                ));
            }
            end -= pad;
        }
        self.pos = start + len;
        let body = self.data.slice(start + 4..end);
        let count = b0 & 0x1f;
        Ok(match packet_type {
            PT_SR => RtcpPacket::SenderReport(SenderReport::parse(count, &body)?),
            PT_RR => RtcpPacket::ReceiverReport(ReceiverReport::parse(count, &body)?),
            PT_SDES => RtcpPacket::SourceDescription(SourceDescription::parse(count, &body)?),
            PT_BYE => RtcpPacket::Goodbye(Goodbye::parse(count, &body)?),
            _ => RtcpPacket::Other {
                packet_type,
                count,
                body,
            },
        })
    }
}

impl Iterator for RtcpIter {
    type Item = Result<RtcpPacket, MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let item = self.next_packet();
        if item.is_err() {
            self.pos = self.data.len();
        }
        Some(item)
    }
}

/// Parses a whole compound packet. Lenient on order: RFC 3550 §6.1 wants an SR or RR first
/// and an SDES CNAME in every compound, but a lone BYE or feedback packet is accepted.
pub fn parse_compound(data: &Bytes) -> Result<Vec<RtcpPacket>, MediaError> {
    RtcpIter::new(data.clone()).collect()
}

/// Appends the packets of a compound packet (RFC 3550 §6.1: put an SR or RR first, then an
/// SDES with a CNAME).
pub fn write_compound(packets: &[RtcpPacket], out: &mut BytesMut) {
    for p in packets {
        p.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_loss_indication_is_rfc_4585s() {
        let p = picture_loss_indication(0x0102_0304, 0xaabb_ccdd);
        assert_eq!(
            p,
            [0x81, 206, 0, 2, 1, 2, 3, 4, 0xaa, 0xbb, 0xcc, 0xdd],
            "V=2 FMT=1 PT=206 length 2"
        );
    }
    use proptest::prelude::*;

    #[test]
    fn compound_with_unknown_and_padding() {
        let mut out = BytesMut::new();
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 1,
            reports: vec![],
        });
        let sdes =
            RtcpPacket::SourceDescription(SourceDescription::cname(1, Bytes::from_static(b"x")));
        write_compound(&[rr.clone(), sdes.clone()], &mut out);
        // An APP packet (204), padded with 4 octets.
        out.extend_from_slice(&[0xa2, 204, 0, 2, b'n', b'a', b'm', b'e', 0, 0, 0, 4]);
        let pkts = parse_compound(&out.freeze()).unwrap();
        assert_eq!(pkts.len(), 3);
        assert_eq!(pkts[0], rr);
        assert_eq!(pkts[1], sdes);
        assert_eq!(
            pkts[2],
            RtcpPacket::Other {
                packet_type: 204,
                count: 2,
                body: Bytes::from_static(b"name")
            }
        );
    }

    #[test]
    fn bad_compounds_are_errors() {
        let cases: &[&[u8]] = &[
            &[0x80, 201],
            &[0x40, 201, 0, 1, 0, 0, 0, 1], // version 1
            &[0x80, 201, 0, 2, 0, 0, 0, 1], // length beyond the data
            &[0x81, 201, 0, 1, 0, 0, 0, 1], // RC 1, no block
            &[0xa0, 201, 0, 1, 0, 0, 0, 9], // padding > body
            &[0xa0, 201, 0, 1, 0, 0, 0, 0], // padding count 0
            &[0xa0, 204, 0, 1, 0, 0, 0, 4, 0x80, 201, 0, 1, 0, 0, 0, 1], // padding not last
        ];
        for case in cases {
            let r = parse_compound(&Bytes::copy_from_slice(case));
            assert!(r.is_err(), "{case:?}: {r:?}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            for item in RtcpIter::new(Bytes::from(data)) {
                let _ = item;
            }
        }

        #[test]
        fn other_packets_round_trip(pt in 204u8..=255, count in 0u8..32, words in proptest::collection::vec(any::<u32>(), 0..8)) {
            let body: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
            let p = RtcpPacket::Other { packet_type: pt, count, body: Bytes::from(body) };
            let mut out = BytesMut::new();
            p.write(&mut out);
            prop_assert_eq!(parse_compound(&out.freeze()).unwrap(), vec![p]);
        }
    }
}
