//! RTMP and FLV timestamps are 32-bit milliseconds that wrap after ~49.7
//! days; stream-core wants a monotonic 64-bit timeline in microseconds.

/// Extends wrapping 32-bit millisecond timestamps to an unbounded timeline.
#[derive(Debug, Default, Clone)]
pub struct MsClock {
    last: Option<u32>,
    /// Number of times the 32-bit counter wrapped.
    epoch: i64,
}

const WRAP: i64 = 1 << 32;
const HALF: u32 = 1 << 31;

impl MsClock {
    /// `timestamp` (ms, wrapping) → microseconds on the extended timeline.
    /// A jump of more than half the range backwards is a wrap forwards; a
    /// sample slightly before a wrap that arrives after it keeps its epoch.
    pub fn micros(&mut self, timestamp: u32) -> i64 {
        let epoch = match self.last {
            Some(last) if timestamp < last && last - timestamp > HALF => {
                self.epoch += 1;
                self.epoch
            }
            Some(last) if timestamp > last && timestamp - last > HALF && self.epoch > 0 => {
                // A late sample from before the wrap: don't move the clock back.
                return ((self.epoch - 1) * WRAP + i64::from(timestamp)) * 1000;
            }
            _ => self.epoch,
        };
        self.last = Some(timestamp);
        (epoch * WRAP + i64::from(timestamp)) * 1000
    }
}

/// Microseconds on the stream timeline → a 32-bit RTMP/FLV millisecond timestamp.
pub fn to_rtmp_ms(micros: i64) -> u32 {
    // Wrapping is what the 32-bit field means; players handle it.
    micros.div_euclid(1000).rem_euclid(WRAP) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_wrapping() {
        let mut c = MsClock::default();
        assert_eq!(c.micros(0), 0);
        assert_eq!(c.micros(40), 40_000);
        assert_eq!(c.micros(u32::MAX - 10), (i64::from(u32::MAX) - 10) * 1000);
        assert_eq!(c.micros(5), (WRAP + 5) * 1000, "wrapped forwards");
        assert_eq!(
            c.micros(u32::MAX - 20),
            (i64::from(u32::MAX) - 20) * 1000,
            "late sample"
        );
        assert_eq!(c.micros(30), (WRAP + 30) * 1000);
    }

    #[test]
    fn back_to_rtmp() {
        assert_eq!(to_rtmp_ms(40_999), 40);
        assert_eq!(to_rtmp_ms((WRAP + 7) * 1000), 7);
        assert_eq!(to_rtmp_ms(-1000), u32::MAX);
    }
}
