//! [`ChunkEncoder`]: splits messages into chunks (RTMP spec 5.3), compressing
//! headers against the previous message on the same chunk stream.

use std::collections::HashMap;

use bytes::{BufMut, BytesMut};

use super::header::{BasicHeader, MessageHeader};
use super::{DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_CHUNK_SIZE, MAX_CSID, MIN_CSID};
use crate::error::{Error, Misuse};
use crate::message::{Message, MessageType, ProtocolControl};

/// The header of the last message sent on a chunk stream, mirroring what the
/// peer's decoder remembers.
#[derive(Debug, Clone, Copy)]
struct Last {
    timestamp: u32,
    /// The last timestamp field written (fmt 0 absolute or fmt 1/2 delta).
    field: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

/// Sans-IO chunk stream encoder.
///
/// Header format per message (5.3.1.2), against the previous message on the
/// same chunk stream:
/// - fmt 0 for the first message, a different message stream, or a
///   timestamp lower than the previous one (so deltas never wrap; this also
///   covers the 32-bit timestamp wrap-around);
/// - fmt 1 when length or type changed; fmt 2 when only the delta changed;
/// - fmt 3 when the delta repeats too.
///
/// Extended timestamps are written whenever the field is 0xFFFFFF or more,
/// and repeated on every fmt 3 chunk of the message, as the spec, ffmpeg and
/// librtmp do.
///
/// Encoding a Set Chunk Size message (type 1) switches the outgoing chunk
/// size for every message after it, so the peer and this encoder agree.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    streams: HashMap<u32, Last>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder at the spec's initial chunk size of 128.
    pub fn new() -> Self {
        ChunkEncoder {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
        }
    }

    /// The current outgoing chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Sets the outgoing chunk size directly. Only for when the peer learns
    /// it some other way: normally encode a Set Chunk Size message instead.
    ///
    /// # Errors
    /// A size outside 1..=0xFFFFFF ([`Misuse::ChunkSize`]).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), Error> {
        if !(1..=MAX_CHUNK_SIZE).contains(&size) {
            return Err(Misuse::ChunkSize(size).into());
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Forgets the header state of `csid`, so its next message gets a full
    /// fmt 0 header (use after sending an Abort Message for it).
    pub fn reset_stream(&mut self, csid: u32) {
        self.streams.remove(&csid);
    }

    /// Appends `msg` as chunks to `out`.
    ///
    /// # Errors
    /// A chunk stream id outside 2..=65599, or a payload longer than 24 bits
    /// can express (both caller mistakes; nothing is written).
    pub fn encode(&mut self, msg: &Message, out: &mut BytesMut) -> Result<(), Error> {
        if !(MIN_CSID..=MAX_CSID).contains(&msg.csid) {
            return Err(Misuse::ChunkStreamId(msg.csid).into());
        }
        let length = u32::try_from(msg.payload.len())
            .ok()
            .filter(|&l| l <= 0xff_ffff)
            .ok_or(Misuse::PayloadTooLong(msg.payload.len()))?;

        let prev = self.streams.get(&msg.csid).copied();
        let header = match prev {
            Some(p) if p.stream_id == msg.stream_id && msg.timestamp >= p.timestamp => {
                let delta = msg.timestamp - p.timestamp;
                if p.length != length || p.type_id != msg.type_id {
                    MessageHeader::SameStream {
                        delta,
                        length,
                        type_id: msg.type_id,
                    }
                } else if delta != p.field {
                    MessageHeader::TimestampOnly { delta }
                } else {
                    MessageHeader::Continuation
                }
            }
            _ => MessageHeader::Full {
                timestamp: msg.timestamp,
                length,
                type_id: msg.type_id,
                stream_id: msg.stream_id,
            },
        };
        let field = header
            .timestamp_field()
            .or(prev.map(|p| p.field))
            .unwrap_or(msg.timestamp);
        self.streams.insert(
            msg.csid,
            Last {
                timestamp: msg.timestamp,
                field,
                length,
                type_id: msg.type_id,
                stream_id: msg.stream_id,
            },
        );

        let extended = (field >= EXTENDED_TIMESTAMP).then_some(field);
        let chunk = self.chunk_size as usize;
        let chunks = msg.payload.len().div_ceil(chunk).max(1);
        out.reserve(msg.payload.len() + 16 + (chunks - 1) * 7);

        BasicHeader {
            fmt: header.fmt(),
            csid: msg.csid,
        }
        .encode(out);
        header.encode(out);
        if header == MessageHeader::Continuation {
            if let Some(ext) = extended {
                out.put_u32(ext);
            }
        }
        let mut pieces = msg.payload.chunks(chunk);
        if let Some(first) = pieces.next() {
            out.put_slice(first);
        }
        for piece in pieces {
            BasicHeader {
                fmt: 3,
                csid: msg.csid,
            }
            .encode(out);
            if let Some(ext) = extended {
                out.put_u32(ext);
            }
            out.put_slice(piece);
        }

        if msg.type_id == u8::from(MessageType::SetChunkSize) {
            if let Ok(Some(ProtocolControl::SetChunkSize(size))) =
                ProtocolControl::decode(msg.type_id, &msg.payload)
            {
                self.chunk_size = size.min(MAX_CHUNK_SIZE);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ChunkDecoder, ChunkDecoderConfig};
    use bytes::Bytes;
    use proptest::prelude::*;

    fn msg(csid: u32, ts: u32, type_id: u8, stream_id: u32, len: usize) -> Message {
        Message {
            csid,
            timestamp: ts,
            type_id,
            stream_id,
            payload: Bytes::from(vec![0x42; len]),
        }
    }

    #[test]
    fn chooses_header_formats() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        let fmts = |out: &mut BytesMut| {
            let f = out[0] >> 6;
            out.clear();
            f
        };
        enc.encode(&msg(4, 0, 8, 1, 10), &mut out).unwrap();
        assert_eq!(fmts(&mut out), 0);
        enc.encode(&msg(4, 0, 8, 1, 10), &mut out).unwrap();
        assert_eq!(fmts(&mut out), 3, "delta 0 equals fmt 0 timestamp 0");
        enc.encode(&msg(4, 23, 8, 1, 10), &mut out).unwrap();
        assert_eq!(fmts(&mut out), 2);
        enc.encode(&msg(4, 46, 8, 1, 10), &mut out).unwrap();
        assert_eq!(fmts(&mut out), 3);
        enc.encode(&msg(4, 50, 8, 1, 11), &mut out).unwrap();
        assert_eq!(fmts(&mut out), 1);
        enc.encode(&msg(4, 40, 8, 1, 11), &mut out).unwrap();
        assert_eq!(fmts(&mut out), 0, "backwards");
        enc.encode(&msg(4, 40, 8, 2, 11), &mut out).unwrap();
        assert_eq!(fmts(&mut out), 0, "other stream");
    }

    #[test]
    fn byte_vector_with_extended_timestamp_repeated() {
        let mut enc = ChunkEncoder::new();
        enc.set_chunk_size(2).unwrap();
        let mut out = BytesMut::new();
        enc.encode(&msg(3, 0x0100_0000, 9, 1, 3), &mut out).unwrap();
        #[rustfmt::skip]
        let want = [
            0x03, 0xff, 0xff, 0xff, 0, 0, 3, 9, 1, 0, 0, 0, 1, 0, 0, 0, 0x42, 0x42,
            0xc3, 1, 0, 0, 0, 0x42,
        ];
        assert_eq!(&out[..], &want);
    }

    #[test]
    fn rejects_misuse() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        assert!(enc.encode(&msg(1, 0, 8, 1, 1), &mut out).is_err());
        assert!(enc.encode(&msg(65600, 0, 8, 1, 1), &mut out).is_err());
        assert!(enc.set_chunk_size(0).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn set_chunk_size_message_switches_size() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        enc.encode(&ProtocolControl::SetChunkSize(4096).to_message(), &mut out)
            .unwrap();
        assert_eq!(enc.chunk_size(), 4096);
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        (
            prop_oneof![2u32..=63, 64u32..=319, 320u32..=65599],
            prop_oneof![any::<u32>(), 0u32..100_000, 0xff_fff0u32..0x0100_0010],
            any::<u8>(),
            0u32..3,
            0usize..1200,
        )
            .prop_map(|(csid, ts, t, s, len)| Message {
                csid,
                timestamp: ts,
                type_id: if t == 1 || t == 2 { 9 } else { t },
                stream_id: s,
                payload: Bytes::from((0..len).map(|i| (i * 31) as u8).collect::<Vec<_>>()),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// message -> chunks -> message, at any chunk size and chunk stream id,
        /// fed to the decoder in arbitrary pieces.
        #[test]
        fn round_trip_any_chunk_size(
            chunk_size in prop_oneof![1u32..=300, 1u32..=65536],
            msgs in proptest::collection::vec(arb_message(), 1..12),
            piece in 1usize..5000,
        ) {
            let mut enc = ChunkEncoder::new();
            enc.set_chunk_size(chunk_size).unwrap();
            let mut wire = BytesMut::new();
            for m in &msgs {
                enc.encode(m, &mut wire).unwrap();
            }
            let mut dec = ChunkDecoder::new(ChunkDecoderConfig::default());
            dec.set_chunk_size(chunk_size).unwrap();
            let mut got = Vec::new();
            for p in wire.chunks(piece) {
                dec.push(p);
                while let Some(m) = dec.poll_message().unwrap() {
                    got.push(m);
                }
            }
            prop_assert_eq!(got, msgs);
            prop_assert_eq!(dec.pending_len(), 0);
        }

        /// Arbitrary bytes never panic the decoder (errors are fine).
        #[test]
        fn decoder_never_panics(
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            piece in 1usize..400,
        ) {
            let mut dec = ChunkDecoder::new(ChunkDecoderConfig {
                max_message_len: 4096,
                max_chunk_streams: 8,
                max_buffered_bytes: 8192,
                ..Default::default()
            });
            for p in data.chunks(piece) {
                dec.push(p);
                while let Ok(Some(_)) = dec.poll_message() {}
            }
        }
    }
}
