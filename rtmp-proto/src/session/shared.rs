//! [`encode_media`]: one chunk encoding of a media or data message that every
//! player of a stream can receive unchanged (the fan-out path, DESIGN.md
//! "Data flow": a frame is encoded once, not once per player).
//!
//! Why this is safe to share: RTMP header compression (spec 5.3.1.2) makes a
//! chunk's meaning depend on the previous chunk on the same chunk stream of
//! the same connection, so bytes compressed for one player would be wrong for
//! another. A message whose first chunk has a full fmt 0 header and whose
//! continuations are fmt 3 chunks of that same message depends on nothing
//! before it; it is valid on any connection at the same chunk size.

use bytes::{BufMut, Bytes, BytesMut};

use super::{MediaKind, CSID_AUDIO, CSID_DATA, CSID_VIDEO};
use crate::chunk::header::{BasicHeader, MessageHeader};
use crate::chunk::{EXTENDED_TIMESTAMP, MAX_CHUNK_SIZE};
use crate::message::MessageType;

/// What a shared message carries, which fixes its chunk stream and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaChannel {
    /// Audio (type 8) on chunk stream 4.
    Audio,
    /// Video (type 9) on chunk stream 6.
    Video,
    /// AMF0 data (type 18: `onMetaData`, `|RtmpSampleAccess`) on chunk
    /// stream 5.
    Data,
}

impl MediaChannel {
    /// The chunk stream id.
    pub fn csid(self) -> u32 {
        match self {
            MediaChannel::Audio => CSID_AUDIO,
            MediaChannel::Video => CSID_VIDEO,
            MediaChannel::Data => CSID_DATA,
        }
    }

    /// The message type id.
    pub fn type_id(self) -> u8 {
        match self {
            MediaChannel::Audio => MessageType::Audio.into(),
            MediaChannel::Video => MessageType::Video.into(),
            MediaChannel::Data => MessageType::DataAmf0.into(),
        }
    }
}

impl From<MediaKind> for MediaChannel {
    fn from(k: MediaKind) -> Self {
        match k {
            MediaKind::Audio => MediaChannel::Audio,
            MediaKind::Video => MediaChannel::Video,
        }
    }
}

/// Encodes one message as self-contained chunk bytes: a fmt 0 first chunk,
/// then fmt 3 continuations, each repeating the extended timestamp when it is
/// 0xFFFFFF or more (5.3.1.3; ffmpeg, librtmp and OBS expect the repeat), on
/// the channel's fixed chunk stream, message stream `stream_id`, chunks of
/// `chunk_size` bytes.
///
/// Every player must have been told this chunk size (a [`ServerSession`]
/// announces its configured `chunk_size` on accepting the connect; see
/// [`ServerSession::out_chunk_size`]).
///
/// `chunk_size` is clamped to 1..=0xFFFFFF. A payload of more than
/// 0xFFFFFF bytes cannot be expressed in RTMP (24-bit length): the result is
/// empty, and sending it is a no-op.
///
/// [`ServerSession`]: super::ServerSession
/// [`ServerSession::out_chunk_size`]: super::ServerSession::out_chunk_size
pub fn encode_media(
    kind: impl Into<MediaChannel>,
    stream_id: u32,
    timestamp: u32,
    payload: &[u8],
    chunk_size: u32,
) -> Bytes {
    let kind = kind.into();
    let Some(length) = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l <= 0xff_ffff)
    else {
        return Bytes::new();
    };
    let chunk = chunk_size.clamp(1, MAX_CHUNK_SIZE) as usize;
    let csid = kind.csid();
    let extended = (timestamp >= EXTENDED_TIMESTAMP).then_some(timestamp);
    let continuations = payload.len().div_ceil(chunk).saturating_sub(1);
    let per_continuation = 1 + if extended.is_some() { 4 } else { 0 };
    let mut out = BytesMut::with_capacity(16 + payload.len() + continuations * per_continuation);

    BasicHeader { fmt: 0, csid }.encode(&mut out);
    MessageHeader::Full {
        timestamp,
        length,
        type_id: kind.type_id(),
        stream_id,
    }
    .encode(&mut out);
    let mut pieces = payload.chunks(chunk);
    if let Some(first) = pieces.next() {
        out.put_slice(first);
    }
    for piece in pieces {
        BasicHeader { fmt: 3, csid }.encode(&mut out);
        if let Some(ext) = extended {
            out.put_u32(ext);
        }
        out.put_slice(piece);
    }
    out.freeze()
}

/// [`encode_media`] of the message body `header` + `payload`, as parts that
/// concatenate to exactly those bytes, without copying `payload`: the chunk
/// headers (and `header`, the few bytes of an FLV tag-body header) are written
/// into one small buffer, and the parts alternate between slices of it and
/// slices of `payload`. Written with a vectored write, they let every player
/// share one chunking of a frame whose payload is never copied.
///
/// Same rules as [`encode_media`]: a body of more than 0xFFFFFF bytes gives
/// no parts.
pub fn encode_media_parts(
    kind: impl Into<MediaChannel>,
    stream_id: u32,
    timestamp: u32,
    header: &[u8],
    payload: &Bytes,
    chunk_size: u32,
) -> Vec<Bytes> {
    let kind = kind.into();
    let total = header.len() + payload.len();
    let Some(length) = u32::try_from(total).ok().filter(|&l| l <= 0xff_ffff) else {
        return Vec::new();
    };
    let chunk = chunk_size.clamp(1, MAX_CHUNK_SIZE) as usize;
    let csid = kind.csid();
    let extended = (timestamp >= EXTENDED_TIMESTAMP).then_some(timestamp);
    let continuations = total.div_ceil(chunk).saturating_sub(1);
    let per_continuation = 1 + if extended.is_some() { 4 } else { 0 };
    let mut heads = BytesMut::with_capacity(16 + header.len() + continuations * per_continuation);
    // Ranges of `heads` (own bytes) or of `payload`, in wire order.
    let mut segs: Vec<(bool, usize, usize)> = Vec::with_capacity(2 + 2 * continuations);
    let own = |segs: &mut Vec<(bool, usize, usize)>, from: usize, to: usize| match segs.last_mut() {
        Some((false, _, end)) if *end == from => *end = to,
        _ => segs.push((false, from, to)),
    };

    BasicHeader { fmt: 0, csid }.encode(&mut heads);
    MessageHeader::Full {
        timestamp,
        length,
        type_id: kind.type_id(),
        stream_id,
    }
    .encode(&mut heads);
    own(&mut segs, 0, heads.len());
    let mut pos = 0;
    while pos < total {
        if pos > 0 {
            let from = heads.len();
            BasicHeader { fmt: 3, csid }.encode(&mut heads);
            if let Some(ext) = extended {
                heads.put_u32(ext);
            }
            own(&mut segs, from, heads.len());
        }
        let end = (pos + chunk).min(total);
        if pos < header.len() {
            let from = heads.len();
            heads.put_slice(header.get(pos..end.min(header.len())).unwrap_or_default());
            own(&mut segs, from, heads.len());
        }
        if end > header.len() {
            segs.push((
                true,
                pos.max(header.len()) - header.len(),
                end - header.len(),
            ));
        }
        pos = end;
    }
    let heads = heads.freeze();
    segs.into_iter()
        .map(|(shared, from, to)| {
            if shared {
                payload.slice(from..to)
            } else {
                heads.slice(from..to)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ChunkDecoder, ChunkDecoderConfig, ChunkEncoder};
    use crate::message::{Message, ProtocolControl};
    use proptest::prelude::*;

    #[test]
    fn byte_vector_small_audio() {
        let b = encode_media(MediaKind::Audio, 1, 40, &[0xaf, 0x01, 0x21], 4096);
        #[rustfmt::skip]
        let expect = [
            0x04,             // fmt 0, csid 4
            0x00, 0x00, 0x28, // timestamp 40
            0x00, 0x00, 0x03, // length 3
            0x08,             // audio
            0x01, 0, 0, 0,    // stream id 1, little-endian
            0xaf, 0x01, 0x21,
        ];
        assert_eq!(&b[..], &expect);
    }

    #[test]
    fn extended_timestamp_repeats_on_continuations() {
        let b = encode_media(MediaChannel::Data, 1, 0x0100_0000, &[7; 5], 2);
        #[rustfmt::skip]
        let expect = [
            0x05, 0xff, 0xff, 0xff, 0, 0, 5, 18, 1, 0, 0, 0, 0x01, 0, 0, 0, 7, 7,
            0xc5, 0x01, 0, 0, 0, 7, 7,
            0xc5, 0x01, 0, 0, 0, 7,
        ];
        assert_eq!(&b[..], &expect);
    }

    #[test]
    fn oversized_payload_encodes_to_nothing() {
        let big = vec![0u8; 0x100_0000];
        assert!(encode_media(MediaKind::Video, 1, 0, &big, 4096).is_empty());
        let big = Bytes::from(big);
        assert!(encode_media_parts(MediaKind::Video, 1, 0, &[1], &big, 4096).is_empty());
    }

    fn decode_at(chunk_size: u32, wire: &[u8]) -> Message {
        let mut dec = ChunkDecoder::new(ChunkDecoderConfig::default());
        if chunk_size != 128 {
            // Tell the decoder the size the way a peer would learn it.
            let mut set = BytesMut::new();
            ChunkEncoder::new()
                .encode(
                    &ProtocolControl::SetChunkSize(chunk_size).to_message(),
                    &mut set,
                )
                .unwrap();
            dec.push(&set);
            dec.poll_message().unwrap().unwrap();
        }
        dec.push(wire);
        let m = dec.poll_message().unwrap().unwrap();
        assert_eq!(dec.poll_message().unwrap(), None);
        assert_eq!(dec.pending_len(), 0);
        m
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn round_trips_and_matches_a_fresh_encoder(
            payload in proptest::collection::vec(any::<u8>(), 0..3000),
            timestamp in prop_oneof![0u32..100_000, 0x00ff_fff0u32..0x0100_0010, any::<u32>()],
            chunk_size in prop_oneof![1u32..300, 4096u32..4097, 60_000u32..70_000],
            stream_id in 0u32..4,
            kind in prop_oneof![
                Just(MediaChannel::Audio), Just(MediaChannel::Video), Just(MediaChannel::Data)
            ],
        ) {
            let wire = encode_media(kind, stream_id, timestamp, &payload, chunk_size);
            let msg = Message {
                csid: kind.csid(),
                timestamp,
                type_id: kind.type_id(),
                stream_id,
                payload: Bytes::from(payload),
            };
            prop_assert_eq!(decode_at(chunk_size, &wire), msg.clone());
            // A fresh ChunkEncoder writes the same bytes: fmt 0, then fmt 3.
            let mut enc = ChunkEncoder::new();
            enc.set_chunk_size(chunk_size).unwrap();
            let mut other = BytesMut::new();
            enc.encode(&msg, &mut other).unwrap();
            prop_assert_eq!(&wire[..], &other[..]);
        }

        #[test]
        fn parts_concatenate_to_the_same_bytes_and_share_the_payload(
            header in proptest::collection::vec(any::<u8>(), 0..9),
            payload in proptest::collection::vec(any::<u8>(), 0..3000),
            timestamp in prop_oneof![0u32..100_000, 0x00ff_fff0u32..0x0100_0010],
            chunk_size in prop_oneof![1u32..300, 4096u32..4097],
            kind in prop_oneof![Just(MediaChannel::Audio), Just(MediaChannel::Video)],
        ) {
            let body: Vec<u8> = header.iter().chain(&payload).copied().collect();
            let wire = encode_media(kind, 1, timestamp, &body, chunk_size);
            let payload = Bytes::from(payload);
            let parts = encode_media_parts(kind, 1, timestamp, &header, &payload, chunk_size);
            let joined: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
            prop_assert_eq!(&joined[..], &wire[..]);
            // Every payload byte is in a slice of `payload`, none copied.
            let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
            let shared: usize = parts
                .iter()
                .filter(|p| !p.is_empty() && range.contains(&(p.as_ptr() as usize)))
                .map(Bytes::len)
                .sum();
            prop_assert_eq!(shared, payload.len());
            // Own bytes are merged: parts alternate between own and shared.
            prop_assert!(parts.len() <= 2 * payload.len().div_ceil(chunk_size as usize).max(1) + 2);
        }
    }
}
