//! Reception statistics for receiver reports (RFC 3550 §6.4.1, algorithms of §A.3 and
//! §A.8): extended highest sequence, cumulative and fractional loss, interarrival jitter,
//! and LSR/DLSR from the last sender report. Sans-IO: arrival instants are passed in.

use std::time::{Duration, Instant};

use super::clock::SequenceExtender;
use super::rtcp::{dlsr, ReportBlock, SenderReport};
use super::RtpPacket;

/// What a receiver has seen of one source, ready to become a [`ReportBlock`].
#[derive(Debug, Clone)]
pub struct ReceptionStats {
    clock_rate: u32,
    seq: SequenceExtender,
    base: Option<u64>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Jitter in timestamp units, scaled by 16 (§A.8 integer form).
    jitter_x16: u64,
    epoch: Option<Instant>,
    last_transit: Option<i64>,
    last_sr: Option<(u32, Instant)>,
}

impl ReceptionStats {
    /// Statistics for a source whose RTP clock runs at `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            seq: SequenceExtender::new(),
            base: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter_x16: 0,
            epoch: None,
            last_transit: None,
            last_sr: None,
        }
    }

    /// Counts a packet that arrived at `now` (before any reordering).
    pub fn on_packet(&mut self, pkt: &RtpPacket, now: Instant) {
        let ext = self.seq.extend(pkt.sequence);
        let base = *self.base.get_or_insert(ext);
        if ext < base {
            self.base = Some(ext);
        }
        self.received += 1;
        // §A.8: transit = arrival (in RTP units) - RTP timestamp; J += (|D| - J) / 16.
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = now.saturating_duration_since(epoch).as_nanos() * u128::from(self.clock_rate)
            / 1_000_000_000;
        let arrival = i64::try_from(arrival).unwrap_or(i64::MAX);
        let transit = arrival.wrapping_sub(i64::from(pkt.timestamp));
        if let Some(last) = self.last_transit {
            // Both transits are taken modulo 2^32 so that timestamp wrap does not count.
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter_x16 = self.jitter_x16 + d - ((self.jitter_x16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Notes a sender report from this source received at `now`, for LSR and DLSR.
    pub fn on_sender_report(&mut self, sr: &SenderReport, now: Instant) {
        self.last_sr = Some((sr.ntp.middle_32(), now));
    }

    /// Packets counted so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The report block about `ssrc` at `now`; starts a new interval for the fraction lost.
    /// `None` before the first packet.
    pub fn report_block(&mut self, ssrc: u32, now: Instant) -> Option<ReportBlock> {
        let base = self.base?;
        let highest = u64::from(self.seq.highest()?);
        // The extender's highest is truncated to 32 bits; the full value is base-relative.
        let expected = highest.wrapping_sub(base & 0xffff_ffff).wrapping_add(1) & 0xffff_ffff;
        let lost = expected as i64 - self.received as i64;
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        // §A.3: fraction = lost_interval / expected_interval in 1/256, 0 if negative.
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => (lsr, dlsr(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_sequence: highest as u32,
            jitter: u32::try_from(self.jitter_x16 >> 4).unwrap_or(u32::MAX),
            last_sr,
            delay_since_last_sr,
        })
    }

    /// The jitter as a duration.
    pub fn jitter(&self) -> Duration {
        Duration::from_nanos((self.jitter_x16 >> 4) * 1_000_000_000 / u64::from(self.clock_rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::NtpTimestamp;
    use bytes::Bytes;

    fn pkt(seq: u16, ts: u32) -> RtpPacket {
        RtpPacket::new(96, seq, ts, 9, false, Bytes::new())
    }

    #[test]
    fn loss_fraction_and_lsr() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(90_000);
        assert_eq!(s.report_block(9, t0), None);
        // 65534, 65535, 0, [1 lost], 2, 3 — steady 40 ms spacing, no jitter.
        for (k, seq) in [(0usize, 65534u16), (1, 65535), (2, 0), (4, 2), (5, 3)] {
            let at = t0 + Duration::from_millis(40 * k as u64);
            s.on_packet(&pkt(seq, 3600 * k as u32), at);
        }
        let sr = SenderReport {
            ssrc: 9,
            ntp: NtpTimestamp::new(0x0001_0002, 0x0003_0004),
            ..SenderReport::default()
        };
        s.on_sender_report(&sr, t0);
        let b = s.report_block(9, t0 + Duration::from_millis(500)).unwrap();
        assert_eq!(b.highest_sequence, 65536 + 3);
        assert_eq!(b.cumulative_lost, 1);
        assert_eq!(b.fraction_lost, 42); // 1 of 6, in 1/256
        assert_eq!(b.jitter, 0);
        assert_eq!(b.last_sr, 0x0002_0003);
        assert_eq!(b.delay_since_last_sr, 32_768);
        // A new interval without loss.
        s.on_packet(&pkt(4, 3600 * 6), t0 + Duration::from_millis(240));
        let b = s.report_block(9, t0).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 1));
    }

    #[test]
    fn jitter_grows_with_irregular_arrivals() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(90_000);
        for k in 0..50u32 {
            let wobble = if k % 2 == 0 { 0 } else { 10 };
            s.on_packet(
                &pkt(k as u16, 3600 * k),
                t0 + Duration::from_millis(40 * u64::from(k) + wobble),
            );
        }
        let b = s.report_block(1, t0).unwrap();
        // |D| alternates 900 ticks (10 ms); J converges towards 900.
        assert!((700..=900).contains(&b.jitter), "{}", b.jitter);
        assert!(s.jitter() > Duration::from_millis(7));
    }
}
