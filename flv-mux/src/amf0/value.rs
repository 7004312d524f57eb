//! The AMF0 value model.

/// An ordered list of named properties (object, ECMA array, typed object).
///
/// A `Vec` rather than a map: AMF0 is order-preserving on the wire and some
/// peers (and byte-exact round trips) depend on that order.
pub type Properties = Vec<(String, Amf0Value)>;

/// One AMF0 value (AMF0 spec section 2).
///
/// Strings are decoded lossily: invalid UTF-8 becomes U+FFFD. Some encoders
/// (older Windows builds of FMLE, some IP cameras) put ANSI code-page text
/// into metadata, and refusing a whole `connect` or `onMetaData` for one bad
/// byte would be worse than a replacement character. Byte-exact round trips
/// therefore hold for valid UTF-8 only.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Amf0Value {
    /// `number-type` (0x00): a double.
    Number(f64),
    /// `boolean-type` (0x01).
    Boolean(bool),
    /// `string-type` (0x02). Encoded as a long string when longer than
    /// 65 535 bytes, as the spec requires.
    String(String),
    /// `anonymous-object-type` (0x03).
    Object(Properties),
    /// `null-type` (0x05).
    Null,
    /// `undefined-type` (0x06).
    Undefined,
    /// `reference-type` (0x07): index into the complex values (objects,
    /// arrays) that precede it in the same body. Kept unresolved: no RTMP
    /// client we know sends it, and resolving would clone subtrees.
    Reference(u16),
    /// `ecma-array-type` (0x08): associative array. The count on the wire is
    /// only a hint (section 2.10) and is recomputed on encode.
    EcmaArray(Properties),
    /// `strict-array-type` (0x0A).
    StrictArray(Vec<Amf0Value>),
    /// `date-type` (0x0B): milliseconds since the Unix epoch, UTC, and a time
    /// zone field the spec says is reserved (should be 0).
    Date {
        /// Milliseconds since 1970-01-01T00:00:00Z.
        millis: f64,
        /// Reserved time-zone offset (section 2.13), kept for round trips.
        tz: i16,
    },
    /// `long-string-type` (0x0C).
    LongString(String),
    /// `xml-document-type` (0x0F).
    XmlDocument(String),
    /// `typed-object-type` (0x10): a class name and properties.
    TypedObject {
        /// The registered class name.
        class: String,
        /// The properties, in wire order.
        properties: Properties,
    },
}

impl Amf0Value {
    /// Builds an [`Amf0Value::Object`] from `(name, value)` pairs.
    pub fn object<K: Into<String>>(props: impl IntoIterator<Item = (K, Amf0Value)>) -> Self {
        Amf0Value::Object(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Builds an [`Amf0Value::EcmaArray`] from `(name, value)` pairs.
    pub fn ecma_array<K: Into<String>>(props: impl IntoIterator<Item = (K, Amf0Value)>) -> Self {
        Amf0Value::EcmaArray(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Builds an [`Amf0Value::String`].
    pub fn string(s: impl Into<String>) -> Self {
        Amf0Value::String(s.into())
    }

    /// The text of a `String`, `LongString` or `XmlDocument`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) | Amf0Value::XmlDocument(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a `Number`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value of a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The properties of an `Object`, `EcmaArray` or `TypedObject`.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Amf0Value::Object(p)
            | Amf0Value::EcmaArray(p)
            | Amf0Value::TypedObject { properties: p, .. } => Some(p),
            _ => None,
        }
    }

    /// The first property named `key` of an `Object`, `EcmaArray` or
    /// `TypedObject`; `None` for other values.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// True for `Null` and `Undefined`.
    pub fn is_null(&self) -> bool {
        matches!(self, Amf0Value::Null | Amf0Value::Undefined)
    }
}

impl From<f64> for Amf0Value {
    fn from(v: f64) -> Self {
        Amf0Value::Number(v)
    }
}

impl From<bool> for Amf0Value {
    fn from(v: bool) -> Self {
        Amf0Value::Boolean(v)
    }
}

impl From<&str> for Amf0Value {
    fn from(v: &str) -> Self {
        Amf0Value::String(v.to_owned())
    }
}

impl From<String> for Amf0Value {
    fn from(v: String) -> Self {
        Amf0Value::String(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let v = Amf0Value::object([
            ("app", Amf0Value::from("live")),
            ("tcUrl", "rtmp://h/live".into()),
            ("audioCodecs", 3191.0.into()),
            ("fpad", false.into()),
        ]);
        assert_eq!(v.get("app").and_then(Amf0Value::as_str), Some("live"));
        assert_eq!(
            v.get("audioCodecs").and_then(Amf0Value::as_f64),
            Some(3191.0)
        );
        assert_eq!(v.get("fpad").and_then(Amf0Value::as_bool), Some(false));
        assert!(v.get("missing").is_none());
        assert_eq!(v.properties().map(<[_]>::len), Some(4));
        assert!(Amf0Value::Number(1.0).get("x").is_none());
        assert!(Amf0Value::Null.is_null());
        assert!(Amf0Value::Undefined.is_null());
        assert_eq!(Amf0Value::LongString("x".into()).as_str(), Some("x"));
    }
}
