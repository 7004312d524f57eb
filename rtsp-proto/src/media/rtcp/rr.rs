//! Receiver report (RR, packet type 201) and the report block it shares with SR
//! (RFC 3550 §6.4.1, §6.4.2).

use bytes::{BufMut, BytesMut};
use nom::multi::count;
use nom::number::complete::be_u32;
use nom::sequence::tuple;
use nom::IResult;

use super::{write_header, MAX_COUNT, PT_RR};
use crate::media::MediaError;

/// Length of one report block.
pub const REPORT_BLOCK_LEN: usize = 24;

/// Reception statistics about one source (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block is about.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, 24-bit signed (duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP timestamp (0 if none).
    pub last_sr: u32,
    /// Delay since that SR in 1/65536 s (0 if none).
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    pub(crate) fn parse(i: &[u8]) -> IResult<&[u8], Self> {
        let (i, (ssrc, lost, highest_sequence, jitter, last_sr, delay_since_last_sr)) =
            tuple((be_u32, be_u32, be_u32, be_u32, be_u32, be_u32))(i)?;
        // Sign-extend the 24-bit cumulative count.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        Ok((
            i,
            Self {
                ssrc,
                fraction_lost: (lost >> 24) as u8,
                cumulative_lost,
                highest_sequence,
                jitter,
                last_sr,
                delay_since_last_sr,
            },
        ))
    }

    /// Appends the 24-byte block; the cumulative count is clamped to 24 bits signed.
    pub fn write(&self, out: &mut BytesMut) {
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0x00ff_ffff;
        out.put_u32(self.ssrc);
        out.put_u32(u32::from(self.fraction_lost) << 24 | lost);
        out.put_u32(self.highest_sequence);
        out.put_u32(self.jitter);
        out.put_u32(self.last_sr);
        out.put_u32(self.delay_since_last_sr);
    }
}

pub(crate) fn report_blocks(i: &[u8], n: u8) -> IResult<&[u8], Vec<ReportBlock>> {
    count(ReportBlock::parse, usize::from(n))(i)
}

/// A receiver report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    /// The reporter.
    pub ssrc: u32,
    /// At most 31 blocks are written (the RC field has 5 bits).
    pub reports: Vec<ReportBlock>,
}

impl ReceiverReport {
    /// Parses the body (after the common header, padding removed) with `count` blocks.
    pub fn parse(count: u8, body: &[u8]) -> Result<Self, MediaError> {
        let parsed: IResult<&[u8], _> = tuple((be_u32, |i| report_blocks(i, count)))(body);
        let (_extension, (ssrc, reports)) =
            parsed.map_err(|_| MediaError::truncated("RTCP RR", body.len()))?;
        // RFC 3550 §6.4.2: profile-specific extensions may follow; they are ignored.
        Ok(Self { ssrc, reports })
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
            PT_RR,
            4 + reports.len() * REPORT_BLOCK_LEN,
        );
        out.put_u32(self.ssrc);
        for r in reports {
            r.write(out);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::rtcp::{parse_compound, RtcpPacket};
    use proptest::prelude::*;

    #[test]
    fn parses_rfc_layout() {
        let data = [
            0x81, 201, 0, 7, 0, 0, 0, 1, // header, SSRC 1
            0, 0, 0, 2, 0x10, 0xff, 0xff, 0xfe, 0, 1, 0, 5, 0, 0, 0, 9, 0, 0, 0, 3, 0, 0, 0, 4,
        ];
        let pkts = parse_compound(&bytes::Bytes::copy_from_slice(&data)).unwrap();
        let RtcpPacket::ReceiverReport(rr) = &pkts[0] else {
            panic!("not an RR: {pkts:?}");
        };
        assert_eq!(rr.ssrc, 1);
        assert_eq!(rr.reports[0].fraction_lost, 0x10);
        assert_eq!(rr.reports[0].cumulative_lost, -2);
        assert_eq!(rr.reports[0].highest_sequence, 65541);
    }

    pub(crate) fn arb_block() -> impl Strategy<Value = ReportBlock> {
        (
            any::<u32>(),
            any::<u8>(),
            -0x80_0000i32..0x80_0000,
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(ssrc, f, c, h, j, l, d)| ReportBlock {
                ssrc,
                fraction_lost: f,
                cumulative_lost: c,
                highest_sequence: h,
                jitter: j,
                last_sr: l,
                delay_since_last_sr: d,
            })
    }

    proptest! {
        #[test]
        fn write_parse_round_trip(ssrc in any::<u32>(), reports in proptest::collection::vec(arb_block(), 0..=31)) {
            let rr = ReceiverReport { ssrc, reports };
            let mut out = BytesMut::new();
            rr.write(&mut out);
            let pkts = parse_compound(&out.freeze()).unwrap();
            prop_assert_eq!(pkts, vec![RtcpPacket::ReceiverReport(rr)]);
        }
    }
}
