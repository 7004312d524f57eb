//! The `Range` header (RFC 2326 §12.29), Normal Play Time form (§3.6). strom serves live
//! streams, so only `npt` is interpreted; other units are kept verbatim.

use std::fmt;

use super::error::ParseError;

/// One end of an NPT range (RFC 2326 §3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NptTime {
    /// `now`: the live point.
    Now,
    /// Seconds since the start, in milliseconds.
    Millis(u64),
}

/// A `Range` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// `npt=start-[end]`.
    Npt {
        /// Start.
        start: NptTime,
        /// End, `None` for open ranges (`npt=0.000-`).
        end: Option<NptTime>,
    },
    /// Another unit (`smpte=`, `clock=`), unparsed.
    Other(String),
}

impl Range {
    /// `npt=0.000-`, the answer to a PLAY of a live stream.
    pub fn live() -> Self {
        Range::Npt {
            start: NptTime::Millis(0),
            end: None,
        }
    }

    /// Parses a header value. A `;time=` suffix (§12.29) is ignored.
    pub fn parse(value: &str) -> Result<Range, ParseError> {
        let v = value.split(';').next().unwrap_or("").trim();
        let Some(spec) = v.strip_prefix("npt=") else {
            if v.contains('=') {
                return Ok(Range::Other(v.to_string()));
            }
            return Err(ParseError::malformed("Range", 0));
        };
        let Some((s, e)) = spec.split_once('-') else {
            return Err(ParseError::malformed("Range", 4));
        };
        let start = if s.trim().is_empty() {
            NptTime::Millis(0)
        } else {
            npt_time(s)?
        };
        let end = if e.trim().is_empty() {
            None
        } else {
            Some(npt_time(e)?)
        };
        Ok(Range::Npt { start, end })
    }
}

/// `npt-time = "now" | npt-sec | npt-hhmmss` (RFC 2326 §3.6).
fn npt_time(s: &str) -> Result<NptTime, ParseError> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(NptTime::Now);
    }
    let bad = || ParseError::malformed("npt time", 0);
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let mut secs: u64 = 0;
    let fields: Vec<&str> = whole.split(':').collect();
    if fields.len() != 1 && fields.len() != 3 {
        return Err(bad());
    }
    for f in &fields {
        if f.is_empty() || f.len() > 12 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u64 = f.parse().map_err(|_| bad())?;
        secs = secs
            .checked_mul(60)
            .and_then(|x| x.checked_add(n))
            .ok_or_else(bad)?;
    }
    let ms: u64 = format!("{frac:0<3}")
        .get(..3)
        .and_then(|m| m.parse().ok())
        .ok_or_else(bad)?;
    secs.checked_mul(1000)
        .and_then(|x| x.checked_add(ms))
        .map(NptTime::Millis)
        .ok_or_else(bad)
}

impl fmt::Display for NptTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NptTime::Now => f.write_str("now"),
            NptTime::Millis(ms) => write!(f, "{}.{:03}", ms / 1000, ms % 1000),
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Range::Npt { start, end } => {
                write!(f, "npt={start}-")?;
                if let Some(e) = end {
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            Range::Other(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn client_forms() {
        assert_eq!(Range::parse("npt=0.000-").unwrap(), Range::live());
        assert_eq!(
            Range::parse("npt=now-").unwrap(),
            Range::Npt {
                start: NptTime::Now,
                end: None
            }
        );
        assert_eq!(
            Range::parse("npt=01:02:03.5-10").unwrap(),
            Range::Npt {
                start: NptTime::Millis(3_723_500),
                end: Some(NptTime::Millis(10_000))
            }
        );
        assert_eq!(
            Range::parse("clock=19961108T143720.25Z-").unwrap(),
            Range::Other("clock=19961108T143720.25Z-".into())
        );
        assert!(Range::parse("npt=abc-").is_err());
        assert!(Range::parse("bogus").is_err());
        assert_eq!(Range::live().to_string(), "npt=0.000-");
    }

    proptest! {
        #[test]
        fn round_trip(s in prop_oneof![Just(NptTime::Now), (0u64..1u64 << 40).prop_map(NptTime::Millis)], e in proptest::option::of((0u64..1u64 << 40).prop_map(NptTime::Millis))) {
            let r = Range::Npt { start: s, end: e };
            prop_assert_eq!(Range::parse(&r.to_string()).unwrap(), r);
        }

        #[test]
        fn never_panics(s in "[ -~]{0,40}") {
            let _ = Range::parse(&s);
        }
    }
}
