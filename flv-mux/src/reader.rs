//! A push/pull FLV stream reader: feed bytes in as they arrive, pull the
//! header and complete tags out. Sans-IO: no reads, no clocks.

use bytes::{Buf, BytesMut};

use crate::error::FlvError;
use crate::header::FlvHeader;
use crate::tag::{FlvTag, TagHeader, PREVIOUS_TAG_SIZE_LEN, TAG_HEADER_LEN};

/// Default limit on a tag's DataSize: 8 MiB, several times the largest
/// 4K keyframe we have seen, well below the 16 MiB the field allows.
pub const DEFAULT_MAX_TAG_SIZE: u32 = 8 * 1024 * 1024;

/// What [`FlvReader::poll`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvEvent {
    /// The file header (always first, exactly once).
    Header(FlvHeader),
    /// One complete tag; its payload is a zero-copy slice of the bytes
    /// that were pushed.
    Tag(FlvTag),
}

/// Streaming FLV reader.
///
/// ```
/// use flv_mux::{FlvEvent, FlvReader};
///
/// let mut reader = FlvReader::new();
/// reader.push(b"FLV\x01\x05\x00\x00\x00\x09");
/// assert_eq!(reader.poll()?, None); // PreviousTagSize0 still missing
/// reader.push(&[0, 0, 0, 0]);
/// assert!(matches!(reader.poll()?, Some(FlvEvent::Header(_))));
/// assert_eq!(reader.poll()?, None);
/// # Ok::<(), flv_mux::FlvError>(())
/// ```
///
/// Errors are final: the stream cannot be resynchronised after a bad tag
/// header, so every later `poll` returns the same error.
#[derive(Debug)]
pub struct FlvReader {
    buf: BytesMut,
    header_done: bool,
    max_tag_size: u32,
    strict: bool,
    failed: Option<FlvError>,
}

impl Default for FlvReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvReader {
    /// A reader expecting an FLV header first, with
    /// [`DEFAULT_MAX_TAG_SIZE`] and lenient PreviousTagSize handling.
    pub fn new() -> Self {
        FlvReader {
            buf: BytesMut::new(),
            header_done: false,
            max_tag_size: DEFAULT_MAX_TAG_SIZE,
            strict: false,
            failed: None,
        }
    }

    /// Sets the largest DataSize accepted; bigger tags fail with
    /// [`FlvError::TooLarge`] before their payload is buffered.
    pub fn with_max_tag_size(mut self, limit: u32) -> Self {
        self.max_tag_size = limit;
        self
    }

    /// In strict mode a PreviousTagSize that is not 11 + DataSize of the
    /// tag before it (or a non-zero PreviousTagSize0) is an error. Off by
    /// default: some muxers write wrong values and players, like ffmpeg's
    /// demuxer, ignore the field when reading forward.
    pub fn strict_previous_tag_size(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes pushed but not yet returned as part of an event.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next header or tag, `Ok(None)` if more bytes are needed.
    pub fn poll(&mut self) -> Result<Option<FlvEvent>, FlvError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.poll_inner();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn poll_inner(&mut self) -> Result<Option<FlvEvent>, FlvError> {
        if !self.header_done {
            let Some((header, len)) = FlvHeader::decode(&self.buf)? else {
                return Ok(None);
            };
            if self.buf.len() < len + PREVIOUS_TAG_SIZE_LEN {
                return Ok(None);
            }
            self.buf.advance(len);
            let pts0 = self.buf.get_u32();
            self.check_previous(0, pts0)?;
            self.header_done = true;
            return Ok(Some(FlvEvent::Header(header)));
        }
        let Some(h) = TagHeader::decode(&self.buf) else {
            return Ok(None);
        };
        if h.data_size > self.max_tag_size {
            return Err(FlvError::TooLarge {
                what: "FLV tag",
                size: u64::from(h.data_size),
                limit: u64::from(self.max_tag_size),
            });
        }
        if h.filter {
            // E.4.1: Filter = 1 means encrypted (Adobe Access); nobody
            // streams that to a media server.
            return Err(FlvError::Unsupported {
                what: "encrypted FLV tag (Filter bit)",
                value: 1,
            });
        }
        let size = h.data_size as usize;
        let total = TAG_HEADER_LEN + size + PREVIOUS_TAG_SIZE_LEN;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(TAG_HEADER_LEN);
        let data = self.buf.split_to(size).freeze();
        let previous = self.buf.get_u32();
        self.check_previous((TAG_HEADER_LEN + size) as u32, previous)?;
        Ok(Some(FlvEvent::Tag(FlvTag {
            tag_type: h.tag_type,
            timestamp: h.timestamp,
            stream_id: h.stream_id,
            data,
        })))
    }

    fn check_previous(&self, expected: u32, found: u32) -> Result<(), FlvError> {
        if self.strict && expected != found {
            return Err(FlvError::PreviousTagSizeMismatch { expected, found });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tag::TagType;
    use crate::writer::FlvWriter;
    use bytes::Bytes;

    fn sample() -> Bytes {
        let mut w = FlvWriter::new();
        w.write_header(&FlvHeader::new(true, false));
        w.write_tag(&FlvTag::new(
            TagType::Audio,
            0,
            Bytes::from_static(&[0xAF, 0, 0x12, 0x10]),
        ))
        .unwrap();
        w.write_tag(&FlvTag::new(
            TagType::Audio,
            23,
            Bytes::from_static(&[0xAF, 1, 7]),
        ))
        .unwrap();
        w.take()
    }

    fn drain(r: &mut FlvReader) -> Vec<FlvEvent> {
        let mut v = Vec::new();
        while let Some(e) = r.poll().unwrap() {
            v.push(e);
        }
        v
    }

    #[test]
    fn byte_by_byte_equals_all_at_once() {
        let bytes = sample();
        let mut all = FlvReader::new().strict_previous_tag_size(true);
        all.push(&bytes);
        let expected = drain(&mut all);
        assert_eq!(expected.len(), 3);
        assert_eq!(all.buffered(), 0);
        let mut one = FlvReader::new().strict_previous_tag_size(true);
        let mut got = Vec::new();
        for b in bytes.iter() {
            one.push(&[*b]);
            got.extend(drain(&mut one));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn size_limit_and_errors_are_sticky() {
        let bytes = sample();
        let mut r = FlvReader::new().with_max_tag_size(3);
        r.push(&bytes);
        assert!(matches!(r.poll(), Ok(Some(FlvEvent::Header(_)))));
        assert!(matches!(r.poll(), Err(FlvError::TooLarge { .. })));
        assert!(matches!(r.poll(), Err(FlvError::TooLarge { .. })));
    }

    #[test]
    fn strict_previous_tag_size() {
        let mut bytes = sample().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let mut lenient = FlvReader::new();
        lenient.push(&bytes);
        assert_eq!(drain(&mut lenient).len(), 3);
        let mut strict = FlvReader::new().strict_previous_tag_size(true);
        strict.push(&bytes);
        let _ = strict.poll();
        let _ = strict.poll();
        assert!(matches!(
            strict.poll(),
            Err(FlvError::PreviousTagSizeMismatch { .. })
        ));
    }

    #[test]
    fn encrypted_tag_refused() {
        let mut bytes = sample().to_vec();
        bytes[13] |= 0x20; // first tag header byte
        let mut r = FlvReader::new();
        r.push(&bytes);
        r.poll().unwrap();
        assert!(matches!(r.poll(), Err(FlvError::Unsupported { .. })));
    }
}
