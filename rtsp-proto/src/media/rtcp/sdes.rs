//! Source description (SDES, packet type 202; RFC 3550 §6.5).

use bytes::{BufMut, Bytes, BytesMut};

use super::{write_header, MAX_COUNT, PT_SDES};
use crate::media::MediaError;

/// SDES item type CNAME, the canonical name every compound packet carries (RFC 3550 §6.5.1).
pub const SDES_CNAME: u8 = 1;

/// One chunk: a source and its items.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SdesChunk {
    /// The source described.
    pub ssrc: u32,
    /// Items as (type, text); type 0 is the list terminator and is never stored. Text longer
    /// than 255 bytes is truncated when written.
    pub items: Vec<(u8, Bytes)>,
}

/// A source description packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceDescription {
    /// The chunks (at most 31 are written).
    pub chunks: Vec<SdesChunk>,
}

impl SourceDescription {
    /// An SDES packet with one chunk holding one CNAME.
    pub fn cname(ssrc: u32, cname: Bytes) -> Self {
        Self {
            chunks: vec![SdesChunk {
                ssrc,
                items: vec![(SDES_CNAME, cname)],
            }],
        }
    }

    /// Parses the body (after the common header, padding removed) with `count` chunks. `body`
    /// is a slice of `whole`, so item texts are zero-copy.
    pub fn parse(count: u8, body: &Bytes) -> Result<Self, MediaError> {
        const WHAT: &str = "RTCP SDES";
        let mut pos = 0;
        let mut chunks = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let ssrc = body
                .get(pos..pos + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(MediaError::truncated(WHAT, pos))?;
            pos += 4;
            let mut items = Vec::new();
            loop {
                let kind = *body.get(pos).ok_or(MediaError::truncated(WHAT, pos))?;
                if kind == 0 {
                    // RFC 3550 §6.5: the list ends with a null octet, then zero padding to
                    // the next 32-bit boundary.
                    pos = (pos + 1).div_ceil(4) * 4;
                    if pos > body.len() {
                        return Err(MediaError::truncated(WHAT, body.len()));
                    }
                    break;
                }
                let len = usize::from(*body.get(pos + 1).ok_or(MediaError::truncated(WHAT, pos))?);
                let text = body
                    .get(pos + 2..pos + 2 + len)
                    .ok_or(MediaError::truncated(WHAT, pos + 2))?;
                items.push((kind, body.slice_ref(text)));
                pos += 2 + len;
            }
            chunks.push(SdesChunk { ssrc, items });
        }
        Ok(Self { chunks })
    }

    fn chunk_len(chunk: &SdesChunk) -> usize {
        let items: usize = chunk
            .items
            .iter()
            .filter(|(k, _)| *k != 0)
            .map(|(_, t)| 2 + t.len().min(255))
            .sum();
        4 + (items + 1).div_ceil(4) * 4
    }

    /// Appends the whole packet, header included.
    pub fn write(&self, out: &mut BytesMut) {
        let chunks = self
            .chunks
            .get(..self.chunks.len().min(MAX_COUNT))
            .unwrap_or_default();
        let body: usize = chunks.iter().map(Self::chunk_len).sum();
        write_header(out, chunks.len() as u8, PT_SDES, body);
        for chunk in chunks {
            let start = out.len();
            out.put_u32(chunk.ssrc);
            for (kind, text) in chunk.items.iter().filter(|(k, _)| *k != 0) {
                let text = text.get(..text.len().min(255)).unwrap_or_default();
                out.put_u8(*kind);
                out.put_u8(text.len() as u8);
                out.put_slice(text);
            }
            let end = start + Self::chunk_len(chunk);
            out.put_bytes(0, end - out.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtcp::{parse_compound, RtcpPacket};
    use proptest::prelude::*;

    #[test]
    fn cname_layout() {
        let mut out = BytesMut::new();
        SourceDescription::cname(7, Bytes::from_static(b"ab")).write(&mut out);
        // 4 SSRC + 1 type + 1 len + 2 text + 1 null = 9, padded to 12.
        assert_eq!(
            &out[..],
            &[0x81, 202, 0, 3, 0, 0, 0, 7, 1, 2, b'a', b'b', 0, 0, 0, 0]
        );
        assert!(
            SourceDescription::parse(1, &Bytes::from_static(&[0, 0, 0, 7, 1, 9, b'a'])).is_err()
        );
        assert!(
            SourceDescription::parse(1, &Bytes::from_static(&[0, 0, 0, 7, 1, 1, b'a'])).is_err()
        );
    }

    fn arb_chunk() -> impl Strategy<Value = SdesChunk> {
        (
            any::<u32>(),
            proptest::collection::vec(
                (1u8..=8, proptest::collection::vec(any::<u8>(), 0..40)),
                0..4,
            ),
        )
            .prop_map(|(ssrc, items)| SdesChunk {
                ssrc,
                items: items
                    .into_iter()
                    .map(|(k, t)| (k, Bytes::from(t)))
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn write_parse_round_trip(chunks in proptest::collection::vec(arb_chunk(), 0..5)) {
            let sdes = SourceDescription { chunks };
            let mut out = BytesMut::new();
            sdes.write(&mut out);
            prop_assert_eq!(out.len() % 4, 0);
            let pkts = parse_compound(&out.freeze()).unwrap();
            prop_assert_eq!(pkts, vec![RtcpPacket::SourceDescription(sdes)]);
        }
    }
}
