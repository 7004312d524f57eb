//! AMF0 encoding (AMF0 spec, Adobe 2007, section 2).

use bytes::{BufMut, Bytes, BytesMut};

use super::marker;
use super::value::{Amf0Value, Properties};

/// Appends the encoding of `v` to `out`.
///
/// Infallible by design; two cases the format cannot express are handled
/// as follows. A `String` longer than 65 535 bytes is written as a long
/// string (0x0C), as section 2.4 requires. A property name longer than
/// 65 535 bytes is cut at the last character boundary that fits, since
/// names have only a 16-bit length.
pub fn encode_value(v: &Amf0Value, out: &mut BytesMut) {
    match v {
        Amf0Value::Number(n) => {
            out.put_u8(marker::NUMBER);
            out.put_f64(*n);
        }
        Amf0Value::Boolean(b) => {
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Amf0Value::String(s) => {
            if s.len() > usize::from(u16::MAX) {
                out.put_u8(marker::LONG_STRING);
                put_long_string(s, out);
            } else {
                out.put_u8(marker::STRING);
                put_short_string(s, out);
            }
        }
        Amf0Value::Object(p) => {
            out.put_u8(marker::OBJECT);
            put_properties(p, out);
        }
        Amf0Value::Null => out.put_u8(marker::NULL),
        Amf0Value::Undefined => out.put_u8(marker::UNDEFINED),
        Amf0Value::Reference(r) => {
            out.put_u8(marker::REFERENCE);
            out.put_u16(*r);
        }
        Amf0Value::EcmaArray(p) => {
            out.put_u8(marker::ECMA_ARRAY);
            out.put_u32(u32::try_from(p.len()).unwrap_or(u32::MAX));
            put_properties(p, out);
        }
        Amf0Value::StrictArray(items) => {
            out.put_u8(marker::STRICT_ARRAY);
            out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
            for item in items {
                encode_value(item, out);
            }
        }
        Amf0Value::Date { millis, tz } => {
            out.put_u8(marker::DATE);
            out.put_f64(*millis);
            out.put_i16(*tz);
        }
        Amf0Value::LongString(s) => {
            out.put_u8(marker::LONG_STRING);
            put_long_string(s, out);
        }
        Amf0Value::XmlDocument(s) => {
            out.put_u8(marker::XML_DOCUMENT);
            put_long_string(s, out);
        }
        Amf0Value::TypedObject { class, properties } => {
            out.put_u8(marker::TYPED_OBJECT);
            put_short_string(class, out);
            put_properties(properties, out);
        }
    }
}

/// Appends the encodings of `values`, one after the other (a command
/// message or script data body).
pub fn encode_all(values: &[Amf0Value], out: &mut BytesMut) {
    for v in values {
        encode_value(v, out);
    }
}

/// Encodes `values` into a fresh buffer.
pub fn encode_to_bytes(values: &[Amf0Value]) -> Bytes {
    let mut out = BytesMut::new();
    encode_all(values, &mut out);
    out.freeze()
}

/// `UTF-8` (16-bit length); over-long input is cut at a char boundary.
fn put_short_string(s: &str, out: &mut BytesMut) {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = s.as_bytes().get(..end).unwrap_or_default();
    out.put_u16(u16::try_from(bytes.len()).unwrap_or(u16::MAX));
    out.put_slice(bytes);
}

/// `UTF-8-long` (32-bit length).
fn put_long_string(s: &str, out: &mut BytesMut) {
    out.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.put_slice(s.as_bytes());
}

/// Properties then `object-end` (empty name, marker 0x09), section 2.5.
fn put_properties(p: &Properties, out: &mut BytesMut) {
    for (k, v) in p {
        put_short_string(k, out);
        encode_value(v, out);
    }
    out.put_u16(0);
    out.put_u8(marker::OBJECT_END);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf0::{decode_all, decode_value};

    #[test]
    fn object_bytes() {
        let v = Amf0Value::object([("a", Amf0Value::Boolean(true))]);
        let mut out = BytesMut::new();
        encode_value(&v, &mut out);
        assert_eq!(
            &out[..],
            &[0x03, 0x00, 0x01, b'a', 0x01, 0x01, 0x00, 0x00, 0x09]
        );
    }

    #[test]
    fn long_string_switch() {
        let s = "x".repeat(70_000);
        let mut out = BytesMut::new();
        encode_value(&Amf0Value::String(s.clone()), &mut out);
        assert_eq!(out[0], marker::LONG_STRING);
        assert_eq!(decode_value(&out).unwrap().0, Amf0Value::LongString(s));
    }

    #[test]
    fn long_key_cut_at_char_boundary() {
        let key = "é".repeat(40_000); // 80 000 bytes
        let v = Amf0Value::object([(key, Amf0Value::Null)]);
        let mut out = BytesMut::new();
        encode_value(&v, &mut out);
        let (back, _) = decode_value(&out).unwrap();
        let props = back.properties().unwrap();
        assert_eq!(props[0].0.len(), 65_534);
    }

    #[test]
    fn round_trip_every_type() {
        let values = vec![
            Amf0Value::string("onStatus"),
            Amf0Value::Number(0.0),
            Amf0Value::Null,
            Amf0Value::object([
                ("level", Amf0Value::from("status")),
                ("code", "NetStream.Publish.Start".into()),
                (
                    "nested",
                    Amf0Value::TypedObject {
                        class: "flash.C".into(),
                        properties: vec![("d".into(), Amf0Value::Reference(1))],
                    },
                ),
            ]),
            Amf0Value::ecma_array([("duration", Amf0Value::Number(0.0))]),
            Amf0Value::StrictArray(vec![Amf0Value::Undefined, Amf0Value::Boolean(false)]),
            Amf0Value::Date {
                millis: 1.7e12,
                tz: 0,
            },
            Amf0Value::LongString("long".into()),
            Amf0Value::XmlDocument("<a/>".into()),
        ];
        let bytes = encode_to_bytes(&values);
        assert_eq!(decode_all(&bytes).unwrap(), values);
    }
}
