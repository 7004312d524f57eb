//! Small shared helpers over nom's *complete* parsers, for structures that
//! arrive as one complete unit (tag bodies, configuration records): running
//! out of bytes there is a truncated unit, reported as [`FlvError::Truncated`].

use crate::error::{truncated, FlvError};

/// Result of a crate-internal parser: the rest of the input and the value.
pub(crate) type PResult<'a, T> = Result<(&'a [u8], T), FlvError>;

/// Lifts a nom result, naming the structure being read. nom's complete
/// byte/number parsers fail only when input runs out.
pub(crate) fn need<'a, T>(r: nom::IResult<&'a [u8], T>, what: &'static str) -> PResult<'a, T> {
    r.map_err(|_| truncated(what))
}

/// Reads a big-endian signed 24-bit integer (FLV `SI24`, composition time).
pub(crate) fn si24<'a>(i: &'a [u8], what: &'static str) -> PResult<'a, i32> {
    let (i, v) = need(nom::number::complete::be_u24(i), what)?;
    // Sign-extend from bit 23.
    Ok((i, ((v << 8) as i32) >> 8))
}

/// Writes the low 24 bits of `v` big-endian (FLV `SI24`/`UI24`).
pub(crate) fn put_u24(out: &mut bytes::BytesMut, v: u32) {
    use bytes::BufMut;
    out.put_slice(&v.to_be_bytes()[1..]);
}

/// The part of `body` after the parser stopped at `rest`, without copying.
pub(crate) fn tail(body: &bytes::Bytes, rest: &[u8]) -> bytes::Bytes {
    body.slice(body.len().saturating_sub(rest.len())..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si24_sign_extends_and_round_trips() {
        assert_eq!(si24(&[0xFF, 0xFF, 0xFE], "t").unwrap().1, -2);
        assert_eq!(si24(&[0x00, 0x00, 0x50], "t").unwrap().1, 80);
        assert!(si24(&[0x00], "t").is_err());
        let mut out = bytes::BytesMut::new();
        put_u24(&mut out, (-2i32) as u32);
        assert_eq!(&out[..], &[0xFF, 0xFF, 0xFE]);
    }
}
