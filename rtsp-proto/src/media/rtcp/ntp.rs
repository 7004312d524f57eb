//! NTP timestamps as RTCP carries them (RFC 3550 §4): 32 bits of seconds since 1900 and 32
//! bits of fraction. Sans-IO: the caller reads the wall clock and passes it in.

use std::time::Duration;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp (RFC 3550 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTimestamp {
    /// Seconds since 1900-01-01 (wraps in 2036, as the format does).
    pub seconds: u32,
    /// Fraction of a second in units of 2^-32 s.
    pub fraction: u32,
}

impl NtpTimestamp {
    /// From the two 32-bit halves the caller already has.
    pub const fn new(seconds: u32, fraction: u32) -> Self {
        Self { seconds, fraction }
    }

    /// From wall time as a duration since the Unix epoch (for example
    /// `SystemTime::now().duration_since(UNIX_EPOCH)`, read by the caller).
    pub fn from_unix(since_epoch: Duration) -> Self {
        let seconds = (since_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET)) as u32;
        let fraction = ((u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000) as u32;
        Self { seconds, fraction }
    }

    /// Back to a duration since the Unix epoch (assumes the 1900-2036 era).
    pub fn to_unix(self) -> Duration {
        let secs = u64::from(self.seconds).saturating_sub(NTP_UNIX_OFFSET);
        let nanos = (u64::from(self.fraction) * 1_000_000_000) >> 32;
        Duration::new(secs, nanos as u32)
    }

    /// As one 64-bit value, seconds in the high half.
    pub const fn to_u64(self) -> u64 {
        (self.seconds as u64) << 32 | self.fraction as u64
    }

    /// From one 64-bit value, seconds in the high half.
    pub const fn from_u64(v: u64) -> Self {
        Self {
            seconds: (v >> 32) as u32,
            fraction: v as u32,
        }
    }

    /// The middle 32 bits, as used in the LSR field of report blocks (RFC 3550 §6.4.1).
    pub const fn middle_32(self) -> u32 {
        (self.to_u64() >> 16) as u32
    }
}

/// DLSR for a report block: the delay since the last SR was received, in units of 1/65536 s
/// (RFC 3550 §6.4.1), saturating.
pub fn dlsr(since_last_sr: Duration) -> u32 {
    let units = since_last_sr.as_micros() * 65_536 / 1_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        let t = NtpTimestamp::from_unix(Duration::new(1_700_000_000, 500_000_000));
        assert_eq!(t.seconds, 3_908_988_800);
        assert_eq!(t.fraction, 0x8000_0000);
        assert_eq!(t.middle_32(), (3_908_988_800u32 & 0xffff) << 16 | 0x8000);
        assert_eq!(dlsr(Duration::from_millis(1500)), 98_304);
    }

    proptest! {
        #[test]
        fn unix_round_trip_within_a_nanosecond(secs in 0u64..2_000_000_000, nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            let back = NtpTimestamp::from_unix(d).to_unix();
            prop_assert!(d.abs_diff(back) <= Duration::from_nanos(1));
        }

        #[test]
        fn u64_round_trip(v in any::<u64>()) {
            prop_assert_eq!(NtpTimestamp::from_u64(v).to_u64(), v);
        }
    }
}
