//! NAL unit framing: length-prefixed (ISO/IEC 14496-15, as in FLV/MP4) and
//! Annex B start codes (ITU-T H.264 Annex B, as in MPEG-TS and RTSP SDP).
//! Works for H.264 and H.265 alike.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::CodecError;

/// Splits length-prefixed NAL units (`length_size` bytes of big-endian
/// length before each). NAL units are zero-copy slices of `data`.
pub fn split_length_prefixed(data: &Bytes, length_size: u8) -> Result<Vec<Bytes>, CodecError> {
    if !matches!(length_size, 1..=4) {
        return Err(CodecError::Invalid {
            what: "NAL length size",
            value: u64::from(length_size),
        });
    }
    let n = usize::from(length_size);
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let len_bytes = data
            .get(pos..pos + n)
            .ok_or(CodecError::Truncated { what: "NAL length" })?;
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
        let start = pos + n;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= data.len())
            .ok_or(CodecError::Truncated { what: "NAL unit" })?;
        out.push(data.slice(start..end));
        pos = end;
    }
    Ok(out)
}

/// Appends NAL units each prefixed with a `length_size`-byte length.
pub fn write_length_prefixed<'a>(
    nalus: impl IntoIterator<Item = &'a [u8]>,
    length_size: u8,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    if !matches!(length_size, 1..=4) {
        return Err(CodecError::Unencodable("NAL length size must be 1..=4"));
    }
    let n = usize::from(length_size);
    for nal in nalus {
        let len = u32::try_from(nal.len())
            .ok()
            .filter(|&l| n == 4 || u64::from(l) < 1u64 << (8 * n))
            .ok_or(CodecError::Unencodable(
                "NAL unit too long for the length size",
            ))?;
        out.put_slice(&len.to_be_bytes()[4 - n..]);
        out.put_slice(nal);
    }
    Ok(())
}

/// Splits an Annex B byte stream at its start codes (`00 00 01` or
/// `00 00 00 01`). Bytes before the first start code are ignored; trailing
/// zero bytes of each NAL unit (`trailing_zero_8bits`) are dropped; empty
/// NAL units are skipped.
pub fn split_annexb_slices(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i + 3 <= data.len() {
        if data.get(i..i + 3) == Some(&[0, 0, 1][..]) {
            if let Some(s) = start {
                out.extend(trimmed(data, s, i));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        out.extend(trimmed(data, s, data.len()));
    }
    out
}

/// `data[s..e]` without its trailing zero bytes, if anything is left.
fn trimmed(data: &[u8], s: usize, mut e: usize) -> Option<&[u8]> {
    while e > s && data.get(e - 1) == Some(&0) {
        e -= 1;
    }
    data.get(s..e).filter(|n| !n.is_empty())
}

/// [`split_annexb_slices`] over `Bytes`: the NAL units are zero-copy
/// slices of `data`.
pub fn split_annexb(data: &Bytes) -> Vec<Bytes> {
    split_annexb_slices(data)
        .into_iter()
        .map(|nal| data.slice_ref(nal))
        .collect()
}

/// Annex B → length-prefixed (4-byte lengths, as FLV and strom's frames use).
pub fn annexb_to_length_prefixed(data: &Bytes) -> Result<Bytes, CodecError> {
    let nalus = split_annexb(data);
    let mut out = BytesMut::with_capacity(data.len() + nalus.len());
    write_length_prefixed(nalus.iter().map(|b| &b[..]), 4, &mut out)?;
    Ok(out.freeze())
}

/// Length-prefixed → Annex B with 4-byte start codes.
pub fn length_prefixed_to_annexb(data: &Bytes, length_size: u8) -> Result<Bytes, CodecError> {
    let nalus = split_length_prefixed(data, length_size)?;
    let mut out = BytesMut::with_capacity(data.len() + 4 * nalus.len());
    for nal in &nalus {
        out.put_slice(&[0, 0, 0, 1]);
        out.put_slice(nal);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annexb_split() {
        let data = Bytes::from_static(&[
            0xAA, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4,
        ]);
        let n = split_annexb(&data);
        assert_eq!(
            n,
            vec![
                Bytes::from_static(&[0x67, 1, 2]),
                Bytes::from_static(&[0x68, 3]),
                Bytes::from_static(&[0x65, 4]),
            ]
        );
        assert!(split_annexb(&Bytes::from_static(&[1, 2, 3])).is_empty());
    }

    #[test]
    fn round_trip_both_ways() {
        let lp = Bytes::from_static(&[0, 0, 0, 2, 0x67, 1, 0, 0, 0, 1, 0x68]);
        let ab = length_prefixed_to_annexb(&lp, 4).unwrap();
        assert_eq!(&ab[..], &[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68]);
        assert_eq!(annexb_to_length_prefixed(&ab).unwrap(), lp);
    }

    #[test]
    fn length_prefixed_errors_and_sizes() {
        let lp = Bytes::from_static(&[0, 3, 1, 2]);
        assert!(split_length_prefixed(&lp, 2).is_err());
        assert!(split_length_prefixed(&lp, 0).is_err());
        assert!(split_length_prefixed(&Bytes::from_static(&[0]), 2).is_err());
        let ok = split_length_prefixed(&Bytes::from_static(&[2, 9, 9, 1, 7]), 1).unwrap();
        assert_eq!(ok.len(), 2);
        let mut out = BytesMut::new();
        assert!(write_length_prefixed([&[0u8; 256][..]], 1, &mut out).is_err());
        write_length_prefixed([&[5u8; 3][..]], 3, &mut out).unwrap();
        assert_eq!(&out[..], &[0, 0, 3, 5, 5, 5]);
    }
}
