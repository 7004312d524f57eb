//! Reading boxes: headers (32-bit and 64-bit sizes), a box's children, and
//! a bounds-checked cursor over a box's fields.

use crate::Fmp4Error;
use bytes::Bytes;
use std::ops::Range;

/// Most child boxes read from one box (a `moov` has a few per track).
pub(crate) const MAX_CHILDREN: usize = 1024;

/// A box header: its type, the header's length and the whole box's size
/// (`None`: the box runs to the end of its container, size field 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) fourcc: [u8; 4],
    pub(crate) header_len: usize,
    pub(crate) size: Option<u64>,
}

/// Reads a box header from the start of `data`; `Ok(None)` when `data` is
/// shorter than the header.
pub(crate) fn header(data: &[u8]) -> Result<Option<Header>, Fmp4Error> {
    let Some(head) = data.get(..8) else {
        return Ok(None);
    };
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let fourcc = [head[4], head[5], head[6], head[7]];
    let (header_len, size) = match size32 {
        0 => (8, None),
        1 => {
            let Some(large) = data.get(8..16) else {
                return Ok(None);
            };
            let mut b = [0; 8];
            b.copy_from_slice(large);
            (16, Some(u64::from_be_bytes(b)))
        }
        n => (8, Some(u64::from(n))),
    };
    if let Some(size) = size {
        if size < header_len as u64 {
            return Err(Fmp4Error::Malformed(format!(
                "box {} of size {size}, shorter than its header",
                fourcc_str(&fourcc)
            )));
        }
    }
    Ok(Some(Header {
        fourcc,
        header_len,
        size,
    }))
}

/// A box type for messages.
pub(crate) fn fourcc_str(fourcc: &[u8; 4]) -> String {
    fourcc
        .iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '?'
            }
        })
        .collect()
}

/// The child boxes of `body` as (type, body) pairs, bodies sliced from it.
/// The children must fill `body` exactly.
pub(crate) fn children(body: &Bytes) -> Result<Vec<([u8; 4], Bytes)>, Fmp4Error> {
    Ok(child_ranges(body)?
        .into_iter()
        .map(|(fourcc, range)| (fourcc, body.slice(range)))
        .collect())
}

/// A child box: its type and its body's range in the parent's body.
pub(crate) type ChildRange = ([u8; 4], Range<usize>);

/// The child boxes of `body` as (type, range of the body in `body`). The
/// children must fill `body` exactly.
pub(crate) fn child_ranges(body: &[u8]) -> Result<Vec<ChildRange>, Fmp4Error> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < body.len() {
        if out.len() == MAX_CHILDREN {
            return Err(Fmp4Error::Limit(format!(
                "more than {MAX_CHILDREN} child boxes"
            )));
        }
        let rest = &body[pos..];
        let h = header(rest)?.ok_or_else(|| Fmp4Error::Malformed("box header cut short".into()))?;
        let size = match h.size {
            None => rest.len(),
            Some(s) if s <= rest.len() as u64 => s as usize,
            Some(s) => {
                return Err(Fmp4Error::Malformed(format!(
                    "box {} of {s} bytes in {} left",
                    fourcc_str(&h.fourcc),
                    rest.len()
                )))
            }
        };
        out.push((h.fourcc, pos + h.header_len..pos + size));
        pos += size;
    }
    Ok(out)
}

/// The body of the first child of type `fourcc`.
pub(crate) fn find<'a>(kids: &'a [([u8; 4], Bytes)], fourcc: &[u8; 4]) -> Option<&'a Bytes> {
    kids.iter().find(|(t, _)| t == fourcc).map(|(_, b)| b)
}

/// Like [`find`], but a missing box is malformed.
pub(crate) fn require<'a>(
    kids: &'a [([u8; 4], Bytes)],
    fourcc: &[u8; 4],
) -> Result<&'a Bytes, Fmp4Error> {
    find(kids, fourcc).ok_or_else(|| Fmp4Error::Malformed(format!("no {} box", fourcc_str(fourcc))))
}

/// A cursor over a box body; reading past its end is malformed (the box
/// is complete, so it is not "need more").
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    data: &'a Bytes,
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a Bytes, what: &'static str) -> Cursor<'a> {
        Cursor { data, pos: 0, what }
    }

    /// Reads a full box's version and flags.
    pub(crate) fn full(
        data: &'a Bytes,
        what: &'static str,
    ) -> Result<(Cursor<'a>, u8, u32), Fmp4Error> {
        let mut c = Cursor::new(data, what);
        let vf = c.u32()?;
        Ok((c, (vf >> 24) as u8, vf & 0x00ff_ffff))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes, sliced (not copied).
    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, Fmp4Error> {
        if n > self.remaining() {
            return Err(Fmp4Error::Malformed(format!("{} ends early", self.what)));
        }
        let out = self.data.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), Fmp4Error> {
        self.take(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Fmp4Error> {
        let b = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(&b);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Fmp4Error> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Fmp4Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Fmp4Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Fmp4Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The rest of the body, sliced.
    pub(crate) fn rest(&mut self) -> Bytes {
        let out = self.data.slice(self.pos..);
        self.pos = self.data.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_with_32_and_64_bit_sizes() {
        assert_eq!(header(b"\0\0\0").unwrap(), None);
        let h = header(b"\0\0\0\x10free").unwrap().unwrap();
        assert_eq!((h.fourcc, h.header_len, h.size), (*b"free", 8, Some(16)));
        assert_eq!(header(b"\0\0\0\x01mdat\0\0\0").unwrap(), None);
        let h = header(b"\0\0\0\x01mdat\0\0\0\x01\0\0\0\x20")
            .unwrap()
            .unwrap();
        assert_eq!((h.header_len, h.size), (16, Some((1 << 32) + 32)));
        assert!(header(b"\0\0\0\x07free").is_err());
        assert!(header(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x0f").is_err());
        assert_eq!(header(b"\0\0\0\0mdat").unwrap().unwrap().size, None);
    }

    #[test]
    fn children_fill_their_parent_exactly() {
        let body = Bytes::from_static(b"\0\0\0\x09abcdX\0\0\0\x08efgh");
        let kids = children(&body).unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!((kids[0].0, &kids[0].1[..]), (*b"abcd", &b"X"[..]));
        assert!(children(&Bytes::from_static(b"\0\0\0\x10abcd")).is_err());
        assert!(children(&Bytes::from_static(b"\0\0\0")).is_err());
    }

    #[test]
    fn cursor_past_the_end_is_malformed() {
        let b = Bytes::from_static(&[1, 2, 3]);
        let mut c = Cursor::new(&b, "test");
        assert_eq!(c.u16().unwrap(), 0x0102);
        assert!(matches!(c.u16(), Err(Fmp4Error::Malformed(_))));
    }
}
