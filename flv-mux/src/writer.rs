//! Writing an FLV stream: header, PreviousTagSize0, then tags each followed
//! by its PreviousTagSize (FLV spec v10.1, Annex E.3).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::FlvError;
use crate::header::FlvHeader;
use crate::tag::FlvTag;

/// Accumulates an FLV byte stream; [`take`](FlvWriter::take) hands out what
/// was written so far (e.g. one HTTP chunk).
///
/// For fan-out without copying payloads, use
/// [`FlvTag::encode_parts`] instead of `write_tag`.
#[derive(Debug, Default)]
pub struct FlvWriter {
    out: BytesMut,
}

impl FlvWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the header and PreviousTagSize0 (always 0).
    pub fn write_header(&mut self, header: &FlvHeader) {
        header.encode(&mut self.out);
        self.out.put_u32(0);
    }

    /// Writes one tag and its PreviousTagSize.
    pub fn write_tag(&mut self, tag: &FlvTag) -> Result<(), FlvError> {
        tag.encode(&mut self.out)
    }

    /// Takes the bytes written so far.
    pub fn take(&mut self) -> Bytes {
        self.out.split().freeze()
    }
}

/// The header and PreviousTagSize0 as one buffer: the first bytes of an
/// HTTP-FLV response.
pub fn encode_header(header: &FlvHeader) -> Bytes {
    let mut w = FlvWriter::new();
    w.write_header(header);
    w.take()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tag::TagType;

    #[test]
    fn header_then_tags() {
        let h = encode_header(&FlvHeader::new(true, true));
        assert_eq!(&h[..], b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00");
        let mut w = FlvWriter::new();
        w.write_tag(&FlvTag::new(TagType::Script, 0, Bytes::from_static(&[5])))
            .unwrap();
        let t = w.take();
        assert_eq!(&t[..], &[18, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 12]);
        assert!(w.take().is_empty());
    }
}
