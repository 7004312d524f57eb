//! Property tests for the AMF0 codec: encode → decode round trips and
//! "never panics" on arbitrary bytes.

use flv_mux::amf0::{decode_all, decode_value, encode_to_bytes, Amf0Error, Amf0Value, MAX_VALUES};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Amf0Value> {
    prop_oneof![
        any::<f64>().prop_map(Amf0Value::Number),
        any::<bool>().prop_map(Amf0Value::Boolean),
        ".{0,20}".prop_map(Amf0Value::String),
        Just(Amf0Value::Null),
        Just(Amf0Value::Undefined),
        any::<u16>().prop_map(Amf0Value::Reference),
        (any::<f64>(), any::<i16>()).prop_map(|(millis, tz)| Amf0Value::Date { millis, tz }),
        ".{0,20}".prop_map(Amf0Value::LongString),
        ".{0,20}".prop_map(Amf0Value::XmlDocument),
    ]
}

fn value() -> impl Strategy<Value = Amf0Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        let props = prop::collection::vec(("[a-zA-Z0-9_]{0,12}", inner.clone()), 0..6);
        prop_oneof![
            props.clone().prop_map(Amf0Value::Object),
            props.clone().prop_map(Amf0Value::EcmaArray),
            prop::collection::vec(inner, 0..6).prop_map(Amf0Value::StrictArray),
            ("[a-zA-Z.]{0,12}", props)
                .prop_map(|(class, properties)| Amf0Value::TypedObject { class, properties }),
        ]
    })
}

/// Values in `v`, itself and everything nested.
fn count(v: &Amf0Value) -> usize {
    1 + match v {
        Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => p.iter().map(|(_, v)| count(v)).sum(),
        Amf0Value::TypedObject { properties, .. } => properties.iter().map(|(_, v)| count(v)).sum(),
        Amf0Value::StrictArray(items) => items.iter().map(count).sum(),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The value budget: a body decodes exactly when it holds at most
    /// `MAX_VALUES` values (nested included), else it is refused as
    /// `TooManyValues`, never by a panic.
    #[test]
    fn value_budget_is_respected(
        values in prop::collection::vec(value(), 0..200),
        nulls in 0usize..2 * MAX_VALUES,
    ) {
        let mut all = values;
        all.extend(std::iter::repeat_n(Amf0Value::Null, nulls));
        let total: usize = all.iter().map(count).sum();
        let bytes = encode_to_bytes(&all);
        match decode_all(&bytes) {
            Ok(back) => {
                prop_assert!(total <= MAX_VALUES);
                prop_assert_eq!(back.iter().map(count).sum::<usize>(), total);
            }
            Err(e) => {
                prop_assert!(total > MAX_VALUES);
                prop_assert!(matches!(e, Amf0Error::TooManyValues { .. }), "{e}");
            }
        }
    }

    /// Byte-level oracle (NaN != NaN, so compare re-encodings, not values).
    #[test]
    fn round_trip(values in prop::collection::vec(value(), 0..5)) {
        let bytes = encode_to_bytes(&values);
        let back = decode_all(&bytes).unwrap();
        prop_assert_eq!(back.len(), values.len());
        prop_assert_eq!(encode_to_bytes(&back), bytes);
    }

    /// Any strict prefix of a single encoded value asks for more bytes.
    #[test]
    fn prefixes_are_incomplete(v in value(), cut in any::<prop::sample::Index>()) {
        let bytes = encode_to_bytes(std::slice::from_ref(&v));
        let n = cut.index(bytes.len());
        prop_assert_eq!(decode_value(&bytes[..n]), Err(Amf0Error::Incomplete));
        let (_, used) = decode_value(&bytes).unwrap();
        prop_assert_eq!(used, bytes.len());
    }

    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok((_, used)) = decode_value(&bytes) {
            prop_assert!(used <= bytes.len());
        }
        let _ = decode_all(&bytes);
    }

    /// Arbitrary bytes behind a valid marker exercise deeper paths.
    #[test]
    fn never_panics_in_containers(
        m in prop::sample::select(vec![0x03u8, 0x08, 0x0A, 0x10]),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut input = vec![m];
        input.extend_from_slice(&bytes);
        let _ = decode_value(&input);
    }
}
