//! Sender report (SR, packet type 200; RFC 3550 §6.4.1).

use bytes::{BufMut, BytesMut};
use nom::number::complete::be_u32;
use nom::sequence::tuple;
use nom::IResult;

use super::rr::{report_blocks, ReportBlock, REPORT_BLOCK_LEN};
use super::{write_header, NtpTimestamp, MAX_COUNT, PT_SR};
use crate::media::MediaError;

/// A sender report: the sender's wall clock and RTP clock at one instant, and what it sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    /// The sender.
    pub ssrc: u32,
    /// Wall-clock time of this report.
    pub ntp: NtpTimestamp,
    /// The same instant on the RTP clock of the stream.
    pub rtp_timestamp: u32,
    /// Packets sent since the start.
    pub packet_count: u32,
    /// Payload octets sent since the start.
    pub octet_count: u32,
    /// Reception report blocks (at most 31 are written).
    pub reports: Vec<ReportBlock>,
}

impl SenderReport {
    /// Parses the body (after the common header, padding removed) with `count` blocks.
    pub fn parse(count: u8, body: &[u8]) -> Result<Self, MediaError> {
        let parsed: IResult<&[u8], _> =
            tuple((be_u32, be_u32, be_u32, be_u32, be_u32, be_u32, |i| {
                report_blocks(i, count)
            }))(body);
        let (_extension, (ssrc, secs, frac, rtp_timestamp, packet_count, octet_count, reports)) =
            parsed.map_err(|_| MediaError::truncated("RTCP SR", body.len()))?;
        // RFC 3550 §6.4.1: profile-specific extensions may follow; they are ignored.
        Ok(Self {
            ssrc,
            ntp: NtpTimestamp::new(secs, frac),
            rtp_timestamp,
            packet_count,
            octet_count,
            reports,
        })
    }

    /// Appends the whole packet, header included.
    pub fn write(&self, out: &mut BytesMut) {
        let reports = self
            .reports
            .get(..self.reports.len().min(MAX_COUNT))
            .unwrap_or_default();
        write_header(
            out,
            reports.len() as u8,
            PT_SR,
            24 + reports.len() * REPORT_BLOCK_LEN,
        );
        out.put_u32(self.ssrc);
        out.put_u32(self.ntp.seconds);
        out.put_u32(self.ntp.fraction);
        out.put_u32(self.rtp_timestamp);
        out.put_u32(self.packet_count);
        out.put_u32(self.octet_count);
        for r in reports {
            r.write(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtcp::rr::tests::arb_block;
    use crate::media::rtcp::{parse_compound, RtcpPacket};
    use proptest::prelude::*;

    #[test]
    fn parses_a_bare_sender_report() {
        let data = [
            0x80, 200, 0, 6, 0, 0, 0, 2, // header, SSRC 2
            0xe9, 0, 0, 0, 0x80, 0, 0, 0, // NTP
            0, 0, 0x0e, 0x10, 0, 0, 0, 5, 0, 0, 0x10, 0, // RTP ts, counts
        ];
        let pkts = parse_compound(&bytes::Bytes::copy_from_slice(&data)).unwrap();
        assert_eq!(
            pkts,
            vec![RtcpPacket::SenderReport(SenderReport {
                ssrc: 2,
                ntp: NtpTimestamp::new(0xe900_0000, 0x8000_0000),
                rtp_timestamp: 3600,
                packet_count: 5,
                octet_count: 4096,
                reports: vec![],
            })]
        );
        assert!(SenderReport::parse(0, &data[4..27]).is_err());
        assert!(SenderReport::parse(1, &data[4..]).is_err());
    }

    proptest! {
        #[test]
        fn write_parse_round_trip(
            ssrc in any::<u32>(), ntp in any::<u64>(), ts in any::<u32>(),
            pc in any::<u32>(), oc in any::<u32>(),
            reports in proptest::collection::vec(arb_block(), 0..=31),
        ) {
            let sr = SenderReport {
                ssrc,
                ntp: NtpTimestamp::from_u64(ntp),
                rtp_timestamp: ts,
                packet_count: pc,
                octet_count: oc,
                reports,
            };
            let mut out = BytesMut::new();
            sr.write(&mut out);
            let pkts = parse_compound(&out.freeze()).unwrap();
            prop_assert_eq!(pkts, vec![RtcpPacket::SenderReport(sr)]);
        }
    }
}
