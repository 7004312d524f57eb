//! RTP clock arithmetic: 32-bit RTP timestamps and 16-bit sequence numbers wrap; these
//! helpers extend them to monotonic 64-bit values and convert between clock rates.

/// Extends wrapping 32-bit RTP timestamps to an `i64` timeline in the same clock rate.
///
/// Each timestamp is placed nearest to the previous one (within ±2^31 ticks: 6.6 hours at
/// 90 kHz, 12 hours at 48 kHz), so B-frame reordering going backwards works and wrap-around
/// carries on. The first timestamp maps to itself (`0..2^32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimestampExtender {
    last: Option<i64>,
}

impl TimestampExtender {
    /// An extender that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `ts`, which becomes the reference for the next call.
    pub fn extend(&mut self, ts: u32) -> i64 {
        let ext = match self.last {
            None => i64::from(ts),
            Some(last) => last + i64::from(ts.wrapping_sub(last as u32) as i32),
        };
        self.last = Some(ext);
        ext
    }

    /// The last extended value, if any.
    pub fn last(&self) -> Option<i64> {
        self.last
    }
}

/// Back from an extended timestamp to the 32 bits on the wire.
pub fn wrap_timestamp(extended: i64) -> u32 {
    extended as u32
}

/// Converts `value` ticks at `from_rate` Hz into ticks at `to_rate` Hz, rounding toward
/// negative infinity (for example 90 kHz → 1 000 000 for microseconds). Saturates instead of
/// overflowing; a zero `from_rate` gives 0.
pub fn rescale(value: i64, from_rate: u32, to_rate: u32) -> i64 {
    if from_rate == 0 {
        return 0;
    }
    let v = i128::from(value) * i128::from(to_rate);
    let r = v.div_euclid(i128::from(from_rate));
    i64::try_from(r).unwrap_or(if r < 0 { i64::MIN } else { i64::MAX })
}

/// Extends 16-bit sequence numbers to a `u64` count of cycles and sequence (RFC 3550 §A.1
/// "extended highest sequence number"), placing each one nearest to the highest seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SequenceExtender {
    highest: Option<u64>,
}

impl SequenceExtender {
    /// An extender that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq`; the highest value seen is kept for report blocks.
    pub fn extend(&mut self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            self.highest = Some(u64::from(seq));
            return u64::from(seq);
        };
        let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
        let ext = (highest as i64 + delta).max(0) as u64;
        if ext > highest {
            self.highest = Some(ext);
        }
        ext
    }

    /// The highest extended sequence number seen, truncated to the 32 bits of a report
    /// block.
    pub fn highest(&self) -> Option<u32> {
        self.highest.map(|h| h as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timestamps_wrap_forward_and_step_back() {
        let mut x = TimestampExtender::new();
        assert_eq!(x.extend(u32::MAX - 1), i64::from(u32::MAX - 1));
        assert_eq!(x.extend(2), (1i64 << 32) + 2);
        assert_eq!(x.extend(u32::MAX), i64::from(u32::MAX)); // B-frame going back
        assert_eq!(wrap_timestamp((1i64 << 32) + 2), 2);
    }

    #[test]
    fn rescale_rounds_down_and_saturates() {
        assert_eq!(rescale(90_000, 90_000, 1_000_000), 1_000_000);
        assert_eq!(rescale(1, 90_000, 1000), 0);
        assert_eq!(rescale(-1, 90_000, 1000), -1);
        assert_eq!(rescale(1024, 44_100, 1_000_000), 23_219);
        assert_eq!(rescale(i64::MAX, 1, 1000), i64::MAX);
        assert_eq!(rescale(5, 0, 1000), 0);
    }

    #[test]
    fn sequences_wrap() {
        let mut s = SequenceExtender::new();
        assert_eq!(s.extend(65535), 65535);
        assert_eq!(s.extend(0), 65536);
        assert_eq!(s.extend(65534), 65534);
        assert_eq!(s.highest(), Some(65536));
        assert_eq!(s.extend(3), 65539);
    }

    proptest! {
        #[test]
        fn extended_timestamps_follow_small_steps(start in any::<u32>(), steps in proptest::collection::vec(-100_000i64..1_000_000, 1..50)) {
            let mut x = TimestampExtender::new();
            let mut expected = i64::from(start);
            prop_assert_eq!(x.extend(start), expected);
            for s in steps {
                expected += s;
                prop_assert_eq!(x.extend(wrap_timestamp(expected)), expected);
            }
        }
    }
}
