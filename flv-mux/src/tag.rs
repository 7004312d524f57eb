//! FLV tags: the 11-byte tag header (FLV spec v10.1, Annex E.4.1), the tag
//! with its payload, and the PreviousTagSize that follows every tag (E.3).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::FlvError;
use crate::parse::put_u24;

/// Length of a tag header.
pub const TAG_HEADER_LEN: usize = 11;
/// Length of a PreviousTagSize field.
pub const PREVIOUS_TAG_SIZE_LEN: usize = 4;
/// Largest DataSize the 24-bit field can carry.
pub const MAX_DATA_SIZE: u32 = 0x00FF_FFFF;

/// `TagType` (`UB[5]`): what the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TagType {
    /// 8: an audio tag body ([`AudioTag`](crate::AudioTag)).
    Audio,
    /// 9: a video tag body ([`VideoTag`](crate::VideoTag)).
    Video,
    /// 18: script data, AMF0 ([`ScriptData`](crate::ScriptData)).
    Script,
    /// Any other value; the spec reserves them. Passed through so readers
    /// can skip them and round trips stay exact.
    Other(u8),
}

impl TagType {
    /// The 5-bit wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            TagType::Audio => 8,
            TagType::Video => 9,
            TagType::Script => 18,
            TagType::Other(v) => v & 0x1F,
        }
    }

    /// From the 5-bit wire value.
    pub fn from_u8(v: u8) -> Self {
        match v & 0x1F {
            8 => TagType::Audio,
            9 => TagType::Video,
            18 => TagType::Script,
            o => TagType::Other(o),
        }
    }
}

/// The 11-byte tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagHeader {
    /// The payload type.
    pub tag_type: TagType,
    /// `Filter`: set when the payload is encrypted (FLV spec E.4.1).
    pub filter: bool,
    /// `DataSize`: payload length (24 bits).
    pub data_size: u32,
    /// `Timestamp` (UI24) extended by `TimestampExtended` (UI8, the upper
    /// 8 bits): milliseconds.
    pub timestamp: u32,
    /// `StreamID` (UI24), always 0 in practice; kept for round trips.
    pub stream_id: u32,
}

impl TagHeader {
    /// Decodes a tag header; `None` if fewer than 11 bytes are available.
    pub fn decode(input: &[u8]) -> Option<TagHeader> {
        let b: [u8; TAG_HEADER_LEN] = input.get(..TAG_HEADER_LEN)?.try_into().ok()?;
        // Byte 0: UB[2] reserved, UB[1] Filter, UB[5] TagType.
        Some(TagHeader {
            tag_type: TagType::from_u8(b[0]),
            filter: b[0] & 0x20 != 0,
            data_size: u32::from_be_bytes([0, b[1], b[2], b[3]]),
            timestamp: u32::from_be_bytes([b[7], b[4], b[5], b[6]]),
            stream_id: u32::from_be_bytes([0, b[8], b[9], b[10]]),
        })
    }

    /// Appends the 11 header bytes. `data_size` and `stream_id` are cut to
    /// 24 bits; callers go through [`FlvTag::encode`] which checks the size.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(u8::from(self.filter) << 5 | self.tag_type.to_u8());
        put_u24(out, self.data_size);
        // Lower 24 bits first, then the upper 8 (TimestampExtended).
        put_u24(out, self.timestamp);
        out.put_u8((self.timestamp >> 24) as u8);
        put_u24(out, self.stream_id);
    }
}

/// One complete tag: header fields and the payload (tag body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// The payload type.
    pub tag_type: TagType,
    /// Milliseconds (DTS for video).
    pub timestamp: u32,
    /// StreamID, 0 in practice.
    pub stream_id: u32,
    /// The tag body: an audio/video tag body or AMF0 script data. When
    /// read by [`FlvReader`](crate::FlvReader), a zero-copy slice of its
    /// buffer.
    pub data: Bytes,
}

impl FlvTag {
    /// A tag with stream id 0.
    pub fn new(tag_type: TagType, timestamp: u32, data: Bytes) -> Self {
        FlvTag {
            tag_type,
            timestamp,
            stream_id: 0,
            data,
        }
    }

    /// The header this tag is written with.
    pub fn header(&self) -> Result<TagHeader, FlvError> {
        let data_size = u32::try_from(self.data.len())
            .ok()
            .filter(|&n| n <= MAX_DATA_SIZE)
            .ok_or(FlvError::Unencodable("tag body larger than 16 MiB - 1"))?;
        Ok(TagHeader {
            tag_type: self.tag_type,
            filter: false,
            data_size,
            timestamp: self.timestamp,
            stream_id: self.stream_id,
        })
    }

    /// Size of the tag on the wire without the PreviousTagSize, i.e. the
    /// value of the PreviousTagSize that follows it.
    pub fn tag_size(&self) -> usize {
        TAG_HEADER_LEN + self.data.len()
    }

    /// Appends header, payload and the trailing PreviousTagSize.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), FlvError> {
        let header = self.header()?;
        out.reserve(self.tag_size() + PREVIOUS_TAG_SIZE_LEN);
        header.encode(out);
        out.put_slice(&self.data);
        out.put_u32(self.tag_size() as u32);
        Ok(())
    }

    /// The tag as three buffers — header, payload, PreviousTagSize — for
    /// vectored writes: the payload is shared, not copied, so one media
    /// frame fans out to many HTTP-FLV viewers without copies.
    pub fn encode_parts(&self) -> Result<[Bytes; 3], FlvError> {
        parts(
            self.tag_type,
            self.timestamp,
            self.stream_id,
            &[],
            &self.data,
        )
    }
}

/// Encodes a tag whose body is `body_header` followed by `payload` as three
/// buffers for a vectored write: FLV tag header plus `body_header` (e.g.
/// from [`VideoTag::encode_header`](crate::VideoTag::encode_header)), the
/// payload itself (shared, not copied), and the PreviousTagSize.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use flv_mux::{encode_tag_parts, FlvTag, TagType, VideoTag};
///
/// let frame = Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]); // shared by all viewers
/// let tag = VideoTag::avc_nalus(true, 40, frame.clone());
/// let mut head = BytesMut::new();
/// tag.encode_header(&mut head)?;
/// let parts = encode_tag_parts(TagType::Video, 1000, &head, &frame)?;
/// assert_eq!(parts[1].as_ptr(), frame.as_ptr()); // not copied
///
/// let mut whole = BytesMut::new();
/// FlvTag::new(TagType::Video, 1000, tag.to_bytes()?).encode(&mut whole)?;
/// assert_eq!(parts.concat(), whole.to_vec());
/// # Ok::<(), flv_mux::FlvError>(())
/// ```
pub fn encode_tag_parts(
    tag_type: TagType,
    timestamp: u32,
    body_header: &[u8],
    payload: &Bytes,
) -> Result<[Bytes; 3], FlvError> {
    parts(tag_type, timestamp, 0, body_header, payload)
}

fn parts(
    tag_type: TagType,
    timestamp: u32,
    stream_id: u32,
    body_header: &[u8],
    payload: &Bytes,
) -> Result<[Bytes; 3], FlvError> {
    let data_size = u32::try_from(body_header.len() + payload.len())
        .ok()
        .filter(|&n| n <= MAX_DATA_SIZE)
        .ok_or(FlvError::Unencodable("tag body larger than 16 MiB - 1"))?;
    let header = TagHeader {
        tag_type,
        filter: false,
        data_size,
        timestamp,
        stream_id,
    };
    let mut head = BytesMut::with_capacity(TAG_HEADER_LEN + body_header.len());
    header.encode(&mut head);
    head.put_slice(body_header);
    let trailer = Bytes::copy_from_slice(&(data_size + TAG_HEADER_LEN as u32).to_be_bytes());
    Ok([head.freeze(), payload.clone(), trailer])
}

#[cfg(test)]
mod tests {
    use super::*;

    // The onMetaData tag header from the ffmpeg fixture: script, 0x125 bytes.
    const SCRIPT_HDR: [u8; 11] = [0x12, 0x00, 0x01, 0x25, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn decode_header() {
        let h = TagHeader::decode(&SCRIPT_HDR).unwrap();
        assert_eq!(h.tag_type, TagType::Script);
        assert_eq!(h.data_size, 0x125);
        assert_eq!(h.timestamp, 0);
        assert!(!h.filter);
        assert!(TagHeader::decode(&SCRIPT_HDR[..10]).is_none());
    }

    #[test]
    fn extended_timestamp() {
        let h = TagHeader {
            tag_type: TagType::Video,
            filter: false,
            data_size: 5,
            timestamp: 0x1234_5678,
            stream_id: 0,
        };
        let mut out = BytesMut::new();
        h.encode(&mut out);
        assert_eq!(&out[4..8], &[0x34, 0x56, 0x78, 0x12]);
        assert_eq!(TagHeader::decode(&out), Some(h));
    }

    #[test]
    fn tag_round_trip_and_parts() {
        let tag = FlvTag::new(TagType::Audio, 23, Bytes::from_static(&[0xAF, 0x01, 1, 2]));
        let mut out = BytesMut::new();
        tag.encode(&mut out).unwrap();
        assert_eq!(out.len(), 11 + 4 + 4);
        assert_eq!(&out[15..], &[0, 0, 0, 15]);
        let h = TagHeader::decode(&out).unwrap();
        assert_eq!(h, tag.header().unwrap());
        let parts = tag.encode_parts().unwrap();
        assert_eq!(parts.concat(), out.to_vec());
    }

    #[test]
    fn other_tag_types_pass_through() {
        for v in 0..32u8 {
            assert_eq!(TagType::from_u8(v).to_u8(), v);
        }
    }

    #[test]
    fn oversize_body_is_refused() {
        let tag = FlvTag::new(TagType::Video, 0, Bytes::from(vec![0; 1 << 24]));
        assert!(matches!(
            tag.encode(&mut BytesMut::new()),
            Err(FlvError::Unencodable(_))
        ));
    }
}
