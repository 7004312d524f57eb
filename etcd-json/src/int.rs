//! The gateway's scalars: int64/uint64 fields arrive as JSON strings
//! (`"revision":"2"`) or, from other gateways, as numbers; absent or
//! `null` is zero. Base64 byte fields are decoded against a limit.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};

use crate::Error;

/// Deserializes an int64 given as a string or a number (`null` = 0).
pub(crate) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = d.deserialize_any(IntVisitor)?;
    i64::try_from(v).map_err(|_| de::Error::custom("int64 out of range"))
}

/// Deserializes a uint64 given as a string or a number (`null` = 0).
pub(crate) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = d.deserialize_any(IntVisitor)?;
    u64::try_from(v).map_err(|_| de::Error::custom("uint64 out of range"))
}

/// Deserializes a bool that may be `null` (= false).
pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(<Option<bool> as serde::Deserialize>::deserialize(d)?.unwrap_or(false))
}

struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = i128;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer, as a number or a decimal string")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i128, E> {
        // A sign and 20 digits at most: a long string is refused unparsed.
        if v.len() > 21 {
            return Err(E::custom("integer string too long"));
        }
        if v.is_empty() {
            return Ok(0);
        }
        v.parse::<i128>()
            .map_err(|_| E::custom("not a decimal integer"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<i128, E> {
        Ok(0)
    }

    fn visit_none<E: de::Error>(self) -> Result<i128, E> {
        Ok(0)
    }
}

/// Decodes a base64 field of at most `limit` decoded bytes; `what` names it
/// in the error.
pub(crate) fn bytes(b64: &str, limit: usize, what: &'static str) -> Result<Vec<u8>, Error> {
    // Valid base64 decodes to 3 bytes per 4, less at most 2 of padding:
    // what is surely over the limit is refused before decoding.
    if b64.len() / 4 * 3 > limit + 2 {
        return Err(Error::TooLarge {
            what,
            len: b64.len() / 4 * 3,
            limit,
        });
    }
    let out = STANDARD
        .decode(b64)
        .map_err(|e| Error::Malformed(format!("{what}: bad base64: {e}")))?;
    if out.len() > limit {
        return Err(Error::TooLarge {
            what,
            len: out.len(),
            limit,
        });
    }
    Ok(out)
}

/// Base64 of `bytes`, for request bodies.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
