//! The pure parts of the recording download: its time parameters (`start`
//! as unix seconds or RFC 3339 UTC, `duration` in seconds) and one HTTP
//! `Range` (RFC 9110 §14: `bytes=a-b`, `bytes=a-`, `bytes=-n`).

/// Longest `duration` a download may ask for: one day.
pub const MAX_DURATION_MS: u64 = 86_400_000;

/// What a `Range` header asks of a body of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// No usable range (absent, malformed, several ranges, not `bytes`):
    /// the whole body, 200. RFC 9110 lets a server ignore what it does not
    /// serve.
    Full,
    /// Bytes `start..=end` (inclusive, within the body), 206.
    Part {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// No byte of the body is in the range, 416.
    Unsatisfiable,
}

/// Reads a `Range` header against a body of `total` bytes (≥ 1).
pub fn parse_range(header: Option<&str>, total: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Full;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return RangeAsk::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeAsk::Full;
    };
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (a.trim().is_empty(), number(a), number(b)) {
        // bytes=-n: the last n bytes.
        (true, _, Some(0)) => RangeAsk::Unsatisfiable,
        (true, _, Some(n)) => RangeAsk::Part {
            start: total.saturating_sub(n),
            end: total - 1,
        },
        (false, Some(start), None) if b.trim().is_empty() => {
            if start >= total {
                RangeAsk::Unsatisfiable
            } else {
                RangeAsk::Part {
                    start,
                    end: total - 1,
                }
            }
        }
        (false, Some(start), Some(end)) if start <= end => {
            if start >= total {
                RangeAsk::Unsatisfiable
            } else {
                RangeAsk::Part {
                    start,
                    end: end.min(total - 1),
                }
            }
        }
        _ => RangeAsk::Full,
    }
}

/// Reads `start`: unix seconds (`1796551200`, a fraction allowed) or an
/// RFC 3339 time in UTC (`2026-12-06T10:00:00Z`, `…:00.5Z`, `…+00:00`), as
/// the recordings API reads times ([`crate::record::layout::parse_time`]).
/// Returns unix milliseconds.
pub fn parse_start(s: &str) -> Result<u64, String> {
    crate::record::layout::parse_time(s).ok_or_else(|| {
        format!("start {s:?}: give unix seconds or an RFC 3339 UTC time (2026-12-06T10:00:00Z)")
    })
}

/// Reads `duration` in seconds (a fraction allowed), above 0 and at most
/// [`MAX_DURATION_MS`]. Returns milliseconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    match parse_seconds(s) {
        Some(ms) if ms > 0 && ms <= MAX_DURATION_MS => Ok(ms),
        _ => Err(format!(
            "duration {s:?}: give seconds, above 0 and at most {}",
            MAX_DURATION_MS / 1000
        )),
    }
}

/// `123` or `123.456` seconds as milliseconds (digits beyond ms dropped).
fn parse_seconds(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| d.bytes().all(|c| c.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || !digits(whole) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    if s.contains('.') && frac.is_empty() {
        return None;
    }
    let mut ms = whole.parse::<u64>().ok()? * 1000;
    for (i, c) in frac.bytes().take(3).enumerate() {
        ms += u64::from(c - b'0') * [100, 10, 1][i];
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_each_shape() {
        let part = |start, end| RangeAsk::Part { start, end };
        assert_eq!(parse_range(None, 100), RangeAsk::Full);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), part(0, 9));
        assert_eq!(parse_range(Some("bytes=90-200"), 100), part(90, 99));
        assert_eq!(parse_range(Some("bytes=10-"), 100), part(10, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(parse_range(Some("bytes=-1000"), 100), part(0, 99));
        assert_eq!(
            parse_range(Some("bytes=100-"), 100),
            RangeAsk::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=100-200"), 100),
            RangeAsk::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=-0"), 100), RangeAsk::Unsatisfiable);
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=x-",
            "bytes=-",
            "bytes=1",
        ] {
            assert_eq!(parse_range(Some(ignored), 100), RangeAsk::Full, "{ignored}");
        }
    }

    #[test]
    fn start_as_unix_seconds_or_rfc3339() {
        assert_eq!(parse_start("1796551200"), Ok(1_796_551_200_000));
        assert_eq!(parse_start("1.5"), Ok(1500));
        assert_eq!(parse_start("2026-12-06T10:00:00Z"), Ok(1_796_551_200_000));
        assert_eq!(
            parse_start("2026-12-06T10:00:00.25Z"),
            Ok(1_796_551_200_250)
        );
        assert_eq!(
            parse_start("2026-12-06T10:00:00+00:00"),
            Ok(1_796_551_200_000)
        );
        assert_eq!(parse_start("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_start("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        for bad in [
            "",
            "-1",
            "2026-12-06T10:00:00",
            "2026-12-06T10:00:00+01:00",
            "2026-13-01T00:00:00Z",
            "2026-12-06T24:00:00Z",
            "now",
        ] {
            assert!(parse_start(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_positive_and_bounded() {
        assert_eq!(parse_duration("600"), Ok(600_000));
        assert_eq!(parse_duration("0.5"), Ok(500));
        for bad in ["0", "", "86401", "-5", "1e3"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
