//! AMF0 decoding (AMF0 spec, Adobe 2007, sections 2.2–2.18).
//!
//! Built from nom's streaming primitives, so a value cut off by the end of
//! the input yields [`Amf0Error::Incomplete`] rather than an error or panic.
//! Recursion is bounded by [`MAX_DEPTH`]; container sizes by [`MAX_ELEMENTS`];
//! long strings by [`MAX_LONG_STRING`]; the number of values one call
//! decodes, nested ones included, by [`MAX_VALUES`]. Nothing is pre-allocated
//! from a count read off the wire beyond what the remaining input could hold.

use std::cell::Cell;

use nom::bytes::streaming::take;
use nom::number::streaming::{be_f64, be_i16, be_u16, be_u32, be_u8};

use super::error::Amf0Error;
use super::marker;
use super::value::{Amf0Value, Properties};

/// Deepest nesting of objects/arrays accepted by the decoder.
pub const MAX_DEPTH: usize = 32;
/// Most entries accepted in one object, ECMA array or strict array.
/// (`onMetaData` of a long recording carries one `keyframes` entry per GOP.)
pub const MAX_ELEMENTS: usize = 65_536;
/// Longest long string / XML document accepted, in bytes. An RTMP message
/// cannot exceed 16 MiB (24-bit length, RTMP spec section 6.1.1) anyway.
pub const MAX_LONG_STRING: usize = 16 * 1024 * 1024;
/// Most values one [`decode_value`] or [`decode_all`] call produces, nested
/// values included. An in-memory [`Amf0Value`] is ~50 times larger than the
/// 1-byte AMF0 null, so without this budget a 16 MiB message of nulls would
/// become ~0.8 GB. 4096 is far above what RTMP commands (tens of values) and
/// encoders' `onMetaData` (~30) carry; an FLV file's `keyframes` index of
/// more than ~2000 keyframes is refused (strom rebuilds metadata anyway).
pub const MAX_VALUES: usize = 4096;

type Res<'a, T> = Result<(&'a [u8], T), Amf0Error>;

/// Lifts a nom streaming result. The streaming primitives used here fail
/// only with `Incomplete` (they have no other failure mode), so every nom
/// error means "need more bytes".
fn lift<'a, T>(r: nom::IResult<&'a [u8], T>) -> Res<'a, T> {
    r.map_err(|_| Amf0Error::Incomplete)
}

/// Decoder state: the length of the whole input, to turn remaining slices
/// back into offsets for error messages, and the values still allowed.
struct Decoder {
    full_len: usize,
    budget: Cell<usize>,
}

impl Decoder {
    fn new(input: &[u8]) -> Decoder {
        Decoder {
            full_len: input.len(),
            budget: Cell::new(MAX_VALUES),
        }
    }

    fn offset(&self, rest: &[u8]) -> usize {
        self.full_len.saturating_sub(rest.len())
    }

    /// UTF-8 with a 16-bit length (section 1.3, `UTF-8`), decoded lossily.
    fn short_string<'a>(&self, i: &'a [u8]) -> Res<'a, String> {
        let (i, len) = lift(be_u16(i))?;
        let (i, raw) = lift(take(len)(i))?;
        Ok((i, String::from_utf8_lossy(raw).into_owned()))
    }

    /// UTF-8 with a 32-bit length (`UTF-8-long`), bounded by [`MAX_LONG_STRING`].
    fn long_string<'a>(&self, i: &'a [u8], offset: usize) -> Res<'a, String> {
        let (i, len) = lift(be_u32(i))?;
        if len as usize > MAX_LONG_STRING {
            return Err(Amf0Error::StringTooLong {
                offset,
                len: u64::from(len),
                limit: MAX_LONG_STRING,
            });
        }
        let (i, raw) = lift(take(len)(i))?;
        Ok((i, String::from_utf8_lossy(raw).into_owned()))
    }

    /// `object-property` list up to `object-end-type` (section 2.5): an empty
    /// name followed by marker 0x09. An empty name followed by any other
    /// marker is taken as a property named "" (lenient, as librtmp is).
    fn properties<'a>(&self, mut i: &'a [u8], depth: usize, offset: usize) -> Res<'a, Properties> {
        let mut props = Properties::new();
        loop {
            let (rest, key) = self.short_string(i)?;
            if key.is_empty() {
                let (after, m) = lift(be_u8(rest))?;
                if m == marker::OBJECT_END {
                    return Ok((after, props));
                }
            }
            if props.len() >= MAX_ELEMENTS {
                return Err(Amf0Error::TooManyElements {
                    offset,
                    count: props.len() as u64 + 1,
                    limit: MAX_ELEMENTS,
                });
            }
            let (rest, v) = self.value(rest, depth)?;
            props.push((key, v));
            i = rest;
        }
    }

    /// One value at nesting level `depth` (0 for a top-level value).
    fn value<'a>(&self, input: &'a [u8], depth: usize) -> Res<'a, Amf0Value> {
        let offset = self.offset(input);
        let (i, m) = lift(be_u8(input))?;
        let Some(left) = self.budget.get().checked_sub(1) else {
            return Err(Amf0Error::TooManyValues {
                offset,
                limit: MAX_VALUES,
            });
        };
        self.budget.set(left);
        let enter = || {
            if depth >= MAX_DEPTH {
                Err(Amf0Error::TooDeep {
                    offset,
                    limit: MAX_DEPTH,
                })
            } else {
                Ok(depth + 1)
            }
        };
        match m {
            marker::NUMBER => {
                let (i, n) = lift(be_f64(i))?;
                Ok((i, Amf0Value::Number(n)))
            }
            // Section 2.3: "A 0 byte value denotes false while a non-zero
            // value (typically 1) denotes true."
            marker::BOOLEAN => {
                let (i, b) = lift(be_u8(i))?;
                Ok((i, Amf0Value::Boolean(b != 0)))
            }
            marker::STRING => {
                let (i, s) = self.short_string(i)?;
                Ok((i, Amf0Value::String(s)))
            }
            marker::OBJECT => {
                let inner = enter()?;
                let (i, p) = self.properties(i, inner, offset)?;
                Ok((i, Amf0Value::Object(p)))
            }
            marker::NULL => Ok((i, Amf0Value::Null)),
            marker::UNDEFINED => Ok((i, Amf0Value::Undefined)),
            marker::REFERENCE => {
                let (i, r) = lift(be_u16(i))?;
                Ok((i, Amf0Value::Reference(r)))
            }
            // Section 2.10: the associative-count is a hint; the list is
            // terminated by object-end like an object's.
            marker::ECMA_ARRAY => {
                let inner = enter()?;
                let (i, _count_hint) = lift(be_u32(i))?;
                let (i, p) = self.properties(i, inner, offset)?;
                Ok((i, Amf0Value::EcmaArray(p)))
            }
            marker::OBJECT_END => Err(Amf0Error::UnexpectedObjectEnd { offset }),
            marker::STRICT_ARRAY => {
                let inner = enter()?;
                let (mut i, count) = lift(be_u32(i))?;
                let count = count as usize;
                if count > MAX_ELEMENTS {
                    return Err(Amf0Error::TooManyElements {
                        offset,
                        count: count as u64,
                        limit: MAX_ELEMENTS,
                    });
                }
                // Every value takes at least one byte: never reserve more
                // than the input could hold.
                let mut items = Vec::with_capacity(count.min(i.len()));
                for _ in 0..count {
                    let (rest, v) = self.value(i, inner)?;
                    items.push(v);
                    i = rest;
                }
                Ok((i, Amf0Value::StrictArray(items)))
            }
            marker::DATE => {
                let (i, millis) = lift(be_f64(i))?;
                let (i, tz) = lift(be_i16(i))?;
                Ok((i, Amf0Value::Date { millis, tz }))
            }
            marker::LONG_STRING => {
                let (i, s) = self.long_string(i, offset)?;
                Ok((i, Amf0Value::LongString(s)))
            }
            marker::XML_DOCUMENT => {
                let (i, s) = self.long_string(i, offset)?;
                Ok((i, Amf0Value::XmlDocument(s)))
            }
            marker::TYPED_OBJECT => {
                let inner = enter()?;
                let (i, class) = self.short_string(i)?;
                let (i, properties) = self.properties(i, inner, offset)?;
                Ok((i, Amf0Value::TypedObject { class, properties }))
            }
            marker::MOVIECLIP => Err(unsupported(m, offset, "movieclip (reserved)")),
            marker::UNSUPPORTED => Err(unsupported(m, offset, "unsupported-type")),
            marker::RECORDSET => Err(unsupported(m, offset, "recordset (reserved)")),
            marker::AVMPLUS_OBJECT => Err(unsupported(m, offset, "AMF3 switch (avmplus-object)")),
            _ => Err(Amf0Error::UnknownMarker { marker: m, offset }),
        }
    }
}

fn unsupported(marker: u8, offset: usize, what: &'static str) -> Amf0Error {
    Amf0Error::Unsupported {
        marker,
        offset,
        what,
    }
}

/// Decodes one AMF0 value from the start of `input`.
///
/// Returns the value and the number of bytes it occupied. If `input` ends
/// inside the value, returns [`Amf0Error::Incomplete`] (retry with more bytes).
pub fn decode_value(input: &[u8]) -> Result<(Amf0Value, usize), Amf0Error> {
    let d = Decoder::new(input);
    let (rest, v) = d.value(input, 0)?;
    Ok((v, d.offset(rest)))
}

/// Decodes a complete body made of consecutive AMF0 values, e.g. an RTMP
/// command message (type 20: name, transaction id, command object, args…)
/// or a script data tag.
///
/// The body is complete by construction, so a value cut off at its end is
/// reported as [`Amf0Error::Truncated`], not as `Incomplete`.
pub fn decode_all(input: &[u8]) -> Result<Vec<Amf0Value>, Amf0Error> {
    // One decoder for the whole body: the value budget spans every value,
    // and offsets are relative to the body.
    let d = Decoder::new(input);
    let mut values = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let pos = d.offset(rest);
        match d.value(rest, 0) {
            Ok((r, v)) => {
                values.push(v);
                rest = r;
            }
            Err(Amf0Error::Incomplete) => return Err(Amf0Error::Truncated { offset: pos }),
            Err(e) => return Err(e),
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf0::Amf0ErrorKind;

    #[test]
    fn number_boolean_string() {
        let b = [0x00, 0x40, 0x08, 0, 0, 0, 0, 0, 0, 0xFF];
        assert_eq!(decode_value(&b).unwrap(), (Amf0Value::Number(3.0), 9));
        assert_eq!(
            decode_value(&[0x01, 0x02]).unwrap(),
            (Amf0Value::Boolean(true), 2)
        );
        assert_eq!(
            decode_value(&[0x02, 0x00, 0x02, b'o', b'k']).unwrap(),
            (Amf0Value::String("ok".into()), 5)
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (v, _) = decode_value(&[0x02, 0x00, 0x02, b'a', 0xE9]).unwrap();
        assert_eq!(v.as_str(), Some("a\u{FFFD}"));
    }

    #[test]
    fn object_with_end_marker() {
        // {"a": null} then a trailing byte that must not be consumed.
        let b = [0x03, 0x00, 0x01, b'a', 0x05, 0x00, 0x00, 0x09, 0x42];
        let (v, used) = decode_value(&b).unwrap();
        assert_eq!(used, 8);
        assert_eq!(v, Amf0Value::object([("a", Amf0Value::Null)]));
    }

    #[test]
    fn ecma_array_count_is_only_a_hint() {
        let b = [
            0x08, 0, 0, 0, 7, 0x00, 0x01, b'x', 0x01, 0x00, 0x00, 0x00, 0x09,
        ];
        let (v, _) = decode_value(&b).unwrap();
        assert_eq!(v, Amf0Value::ecma_array([("x", Amf0Value::Boolean(false))]));
    }

    #[test]
    fn strict_array_date_reference_long_string_typed() {
        let b = [0x0A, 0, 0, 0, 2, 0x05, 0x06];
        assert_eq!(
            decode_value(&b).unwrap().0,
            Amf0Value::StrictArray(vec![Amf0Value::Null, Amf0Value::Undefined])
        );
        let b = [0x0B, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFE];
        assert_eq!(
            decode_value(&b).unwrap().0,
            Amf0Value::Date {
                millis: 0.0,
                tz: -2
            }
        );
        assert_eq!(
            decode_value(&[0x07, 0x00, 0x03]).unwrap().0,
            Amf0Value::Reference(3)
        );
        let b = [0x0C, 0, 0, 0, 1, b'z'];
        assert_eq!(
            decode_value(&b).unwrap().0,
            Amf0Value::LongString("z".into())
        );
        let b = [0x10, 0, 1, b'C', 0, 0, 0x09];
        assert_eq!(
            decode_value(&b).unwrap().0,
            Amf0Value::TypedObject {
                class: "C".into(),
                properties: vec![]
            }
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let b = [
            0x03, 0x00, 0x01, b'a', 0x0A, 0, 0, 0, 1, 0x02, 0x00, 0x01, b'q', 0x00, 0x00, 0x09,
        ];
        assert!(decode_value(&b).is_ok());
        for n in 0..b.len() {
            assert_eq!(decode_value(&b[..n]), Err(Amf0Error::Incomplete), "{n}");
        }
    }

    #[test]
    fn amf3_switch_is_unsupported() {
        let e = decode_value(&[0x11, 0x06]).unwrap_err();
        assert_eq!(e.kind(), Amf0ErrorKind::Unsupported);
    }

    #[test]
    fn bad_markers() {
        assert_eq!(
            decode_value(&[0x42]),
            Err(Amf0Error::UnknownMarker {
                marker: 0x42,
                offset: 0
            })
        );
        assert_eq!(
            decode_all(&[0x05, 0x09]),
            Err(Amf0Error::UnexpectedObjectEnd { offset: 1 })
        );
        assert_eq!(
            decode_all(&[0x05, 0x02, 0x00]),
            Err(Amf0Error::Truncated { offset: 1 })
        );
    }

    #[test]
    fn limits() {
        // 33 nested strict arrays of one element each.
        let mut b = Vec::new();
        for _ in 0..=MAX_DEPTH {
            b.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
        }
        b.push(0x05);
        assert!(matches!(decode_value(&b), Err(Amf0Error::TooDeep { .. })));
        // A strict array claiming 4 billion entries fails at once, it does
        // not ask for 4 GB more input.
        assert!(matches!(
            decode_value(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(Amf0Error::TooManyElements { .. })
        ));
        assert!(matches!(
            decode_value(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(Amf0Error::StringTooLong { .. })
        ));
    }

    #[test]
    fn value_budget_spans_nesting_and_the_whole_body() {
        // 16 KiB of nulls: 4096 decode, the 4097th is refused.
        let nulls = vec![0x05; MAX_VALUES + 1];
        assert_eq!(decode_all(&nulls[..MAX_VALUES]).unwrap().len(), MAX_VALUES);
        assert_eq!(
            decode_all(&nulls),
            Err(Amf0Error::TooManyValues {
                offset: MAX_VALUES,
                limit: MAX_VALUES
            })
        );
        // Nested: a strict array of MAX_VALUES nulls is MAX_VALUES + 1 values.
        let mut b = vec![0x0A];
        b.extend_from_slice(&(MAX_VALUES as u32).to_be_bytes());
        b.extend(std::iter::repeat_n(0x05, MAX_VALUES));
        let e = decode_value(&b).unwrap_err();
        assert_eq!(e.kind(), Amf0ErrorKind::LimitExceeded);
        assert!(matches!(e, Amf0Error::TooManyValues { offset, .. } if offset == 4 + MAX_VALUES));
        // Objects count their values too.
        let mut b = vec![0x03];
        for _ in 0..MAX_VALUES {
            b.extend_from_slice(&[0x00, 0x01, b'k', 0x05]);
        }
        b.extend_from_slice(&[0x00, 0x00, 0x09]);
        assert!(matches!(
            decode_value(&b),
            Err(Amf0Error::TooManyValues { .. })
        ));
    }

    #[test]
    fn decode_all_connect_command() {
        // "connect", 1.0, {"app": "live"} as sent by ffmpeg 5.1 (trimmed).
        let mut b = vec![0x02, 0x00, 0x07];
        b.extend_from_slice(b"connect");
        b.extend_from_slice(&[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0x03, 0x00, 0x03]);
        b.extend_from_slice(b"app");
        b.extend_from_slice(&[0x02, 0x00, 0x04]);
        b.extend_from_slice(b"live");
        b.extend_from_slice(&[0x00, 0x00, 0x09]);
        let v = decode_all(&b).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].as_str(), Some("connect"));
        assert_eq!(v[1].as_f64(), Some(1.0));
        assert_eq!(v[2].get("app").and_then(Amf0Value::as_str), Some("live"));
    }
}
