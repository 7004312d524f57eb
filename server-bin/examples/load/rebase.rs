//! Latency for players that do not see the publisher's timestamps.
//!
//! RTP timestamps start from a random base (RFC 3550 §5.1) and MPEG-TS
//! PTS/DTS from the muxer's own origin, but both advance at 90 kHz with the
//! publisher's clock. So a player notes, for sampled frames, how many
//! milliseconds after its *reference* (its first keyframe) the frame lies
//! and when it arrived. At the end the reference is matched to one of the
//! publisher's logged keyframes: the latest one for which every sampled
//! frame was sent before it was received. Keyframes are a GOP (2 s) apart,
//! so the match is unambiguous as long as the smallest sampled latency is
//! under one GOP; a player whose samples fit no keyframe is reported as
//! unresolved rather than guessed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Milliseconds of a stream timestamp relative to the player's reference keyframe.
#[derive(Debug, Clone, Copy)]
pub struct Relative {
    /// Width of the timestamp field: 32 (RTP) or 33 (MPEG-TS) bits.
    bits: u32,
    reference: Option<u64>,
}

impl Relative {
    /// RTP timestamps: 32 bits (RFC 3550 §5.1), 90 kHz for video (RFC 6184 §5.1).
    pub fn rtp() -> Self {
        Relative {
            bits: 32,
            reference: None,
        }
    }

    /// PES PTS/DTS: 33 bits at 90 kHz (ISO/IEC 13818-1 2.4.3.7).
    pub fn mpeg_ts() -> Self {
        Relative {
            bits: 33,
            reference: None,
        }
    }

    /// Milliseconds from the reference to `ts` (90 kHz ticks); the first
    /// keyframe becomes the reference. `None` before it.
    pub fn offset(&mut self, ts: u64, keyframe: bool) -> Option<i64> {
        let mask = (1u64 << self.bits) - 1;
        let ts = ts & mask;
        let reference = match self.reference {
            Some(r) => r,
            None if keyframe => *self.reference.insert(ts),
            None => return None,
        };
        // Signed difference modulo 2^bits: wraps are crossed forwards and backwards.
        let diff = ts.wrapping_sub(reference) & mask;
        let signed = if diff >> (self.bits - 1) == 1 {
            diff as i64 - (1i64 << self.bits)
        } else {
            diff as i64
        };
        Some((signed as f64 / 90.0).round() as i64)
    }
}

/// Latencies of `samples` (`(ms after reference, received at)`), given the
/// publisher's keyframe timestamps (ms, oldest first) and when each frame
/// timestamp was sent. `None` when no keyframe fits.
pub fn resolve(
    samples: &[(i64, Instant)],
    keys: &[u32],
    sent: &HashMap<u32, Instant>,
) -> Option<Vec<Duration>> {
    keys.iter().rev().find_map(|&key| {
        samples
            .iter()
            .map(|&(off, received)| {
                let ts = u32::try_from(i64::from(key) + off).ok()?;
                let at = *sent.get(&ts)?;
                // Sent after it was received: this keyframe is not the reference.
                received.checked_duration_since(at)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_cross_the_wrap() {
        let mut r = Relative::rtp();
        assert_eq!(r.offset(100, false), None);
        assert_eq!(r.offset(u64::from(u32::MAX) - 3599, true), Some(0));
        assert_eq!(r.offset(1, false), Some(40));
        assert_eq!(r.offset(u64::from(u32::MAX) - 7199, false), Some(-40));
        let mut t = Relative::mpeg_ts();
        assert_eq!(t.offset((1 << 33) - 90, true), Some(0));
        assert_eq!(t.offset(90 * 999, false), Some(1000));
    }

    #[test]
    fn resolve_picks_the_keyframe_that_fits() {
        let t0 = Instant::now();
        // The publisher sent ts 0, 40, ... 7960 at t0 + ts ms; keyframes every 2 s.
        let sent: HashMap<u32, Instant> = (0..200u32)
            .map(|i| (i * 40, t0 + Duration::from_millis(u64::from(i) * 40)))
            .collect();
        let keys = [0, 2000, 4000, 6000];
        // A player whose reference was the keyframe at 2000, receiving 15 ms late.
        let samples: Vec<(i64, Instant)> = [0i64, 200, 1000, 3000]
            .iter()
            .map(|&off| (off, t0 + Duration::from_millis(2000 + off as u64 + 15)))
            .collect();
        let lat = resolve(&samples, &keys, &sent).expect("resolved");
        assert!(lat.iter().all(|l| *l == Duration::from_millis(15)));
        // Received before anything could have been sent: nothing fits.
        let early = [(0i64, t0.checked_sub(Duration::from_millis(1)).unwrap_or(t0))];
        if early[0].1 < t0 {
            assert_eq!(resolve(&early, &keys, &sent), None);
        }
        // Offsets beyond the log: nothing fits.
        assert_eq!(resolve(&[(100_000, t0)], &keys, &sent), None);
    }
}
