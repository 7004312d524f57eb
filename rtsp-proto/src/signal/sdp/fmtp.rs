//! `a=fmtp` parameter lists and the encodings inside them: base64 parameter sets
//! (RFC 6184 §8.1, RFC 7798 §7.1) and hex AudioSpecificConfig (RFC 3640 §4.1).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;

use crate::signal::error::ParseError;

/// Most parameter sets strom accepts in one `sprop-*` value.
pub(crate) const MAX_PARAMETER_SETS: usize = 16;
/// Largest decoded parameter set or config, bytes.
pub(crate) const MAX_PARAMETER_SET_LEN: usize = 4096;

/// `key=value; key=value` (RFC 4566 §6 fmtp: format-specific; `;`-separated for all the
/// payload formats strom reads). Keys are lower-cased (RFC 6184 §8.1: case-insensitive).
pub(crate) fn params(value: &str) -> Vec<(String, String)> {
    value
        .split(';')
        .filter_map(|p| {
            let p = p.trim();
            if p.is_empty() {
                return None;
            }
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

pub(crate) fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Comma-separated base64 parameter sets (`sprop-parameter-sets`, `sprop-sps`, ...).
/// Padding is optional (some encoders drop it).
pub(crate) fn base64_list(value: &str, what: &'static str) -> Result<Vec<Bytes>, ParseError> {
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if out.len() >= MAX_PARAMETER_SETS {
            return Err(ParseError::TooLarge {
                what,
                limit: MAX_PARAMETER_SETS,
                got: out.len() + 1,
            });
        }
        if part.len() > MAX_PARAMETER_SET_LEN * 2 {
            return Err(ParseError::TooLarge {
                what,
                limit: MAX_PARAMETER_SET_LEN,
                got: part.len(),
            });
        }
        let bytes = STANDARD
            .decode(part)
            .or_else(|_| STANDARD_NO_PAD.decode(part.trim_end_matches('=')))
            .map_err(|_| ParseError::malformed(what, 0))?;
        if !bytes.is_empty() {
            out.push(Bytes::from(bytes));
        }
    }
    Ok(out)
}

/// Writes parameter sets as comma-separated padded base64.
pub(crate) fn base64_join(sets: &[Bytes]) -> String {
    sets.iter()
        .map(|s| STANDARD.encode(s))
        .collect::<Vec<_>>()
        .join(",")
}

/// Hex digits to bytes (`config=1208`, RFC 3640 §4.1: "hexadecimal representation").
pub(crate) fn hex(value: &str, what: &'static str) -> Result<Bytes, ParseError> {
    let v = value.trim().as_bytes();
    if v.len() > MAX_PARAMETER_SET_LEN * 2 {
        return Err(ParseError::TooLarge {
            what,
            limit: MAX_PARAMETER_SET_LEN,
            got: v.len() / 2,
        });
    }
    if !v.len().is_multiple_of(2) {
        return Err(ParseError::malformed(what, v.len()));
    }
    let digit = |b: u8| (b as char).to_digit(16);
    v.chunks_exact(2)
        .enumerate()
        .map(|(i, c)| match c {
            [a, b] => match (digit(*a), digit(*b)) {
                (Some(a), Some(b)) => Ok((a * 16 + b) as u8),
                _ => Err(ParseError::malformed(what, i * 2)),
            },
            _ => Err(ParseError::malformed(what, i * 2)),
        })
        .collect::<Result<Vec<u8>, _>>()
        .map(Bytes::from)
}

/// Bytes to lower-case hex.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces() {
        let p = params("packetization-mode=1; Sprop-Parameter-Sets=Z0LADdoFB+wEQAAAAwBAAAAMo8UKqA==,aM48gA==; profile-level-id=42C00D");
        assert_eq!(get(&p, "packetization-mode"), Some("1"));
        let sets = base64_list(get(&p, "sprop-parameter-sets").unwrap(), "sprop").unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[1][..], [0x68, 0xce, 0x3c, 0x80]);
        assert_eq!(
            base64_list("aM48gA", "x").unwrap()[0][..],
            [0x68, 0xce, 0x3c, 0x80]
        );
        assert!(base64_list("!!", "x").is_err());
        assert_eq!(
            base64_join(&sets),
            "Z0LADdoFB+wEQAAAAwBAAAAMo8UKqA==,aM48gA=="
        );
        assert_eq!(
            hex("120856E500", "c").unwrap()[..],
            [0x12, 0x08, 0x56, 0xe5, 0x00]
        );
        assert!(hex("123", "c").is_err());
        assert!(hex("zz", "c").is_err());
        assert_eq!(to_hex(&[0x12, 0x08]), "1208");
    }
}
