//! [`ChunkDecoder`]: reassembles messages from the chunk stream (RTMP spec 5.3).

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};

use super::header::{peek_u32, BasicHeader, MessageHeader};
use super::{DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE};
use crate::error::{Error, Malformed, Violation};
use crate::message::{Message, MessageType, ProtocolControl};

/// Limits of a [`ChunkDecoder`]. Every size read from the wire is checked
/// against one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkDecoderConfig {
    /// Longest message accepted (default 16 MiB, i.e. anything a 24-bit
    /// length can say; lower it to bound memory per message).
    pub max_message_len: u32,
    /// Largest Set Chunk Size accepted, after clamping to 0xFFFFFF (default
    /// 0xFFFFFF). Large chunk sizes cost nothing here: buffering is bounded
    /// by message length, never by chunk size.
    pub max_chunk_size: u32,
    /// Most chunk streams the peer may use over the connection (default 64;
    /// real clients use fewer than 10).
    pub max_chunk_streams: usize,
    /// Most bytes held in partly received messages across all chunk streams
    /// (default 32 MiB).
    pub max_buffered_bytes: usize,
}

impl ChunkDecoderConfig {
    /// Limits for a peer that has not been accepted yet (no publish or play
    /// accepted, so nobody has vouched for it): messages of 64 KiB (connect,
    /// createStream, publish and play are a few hundred bytes), 128 KiB held
    /// in partial messages and 8 chunk streams (real clients use 3 to 6).
    /// A bigger message is refused as soon as its header is read.
    pub const PRE_ACCEPT: ChunkDecoderConfig = ChunkDecoderConfig {
        max_message_len: 64 * 1024,
        max_chunk_size: MAX_CHUNK_SIZE,
        max_chunk_streams: 8,
        max_buffered_bytes: 128 * 1024,
    };
}

impl Default for ChunkDecoderConfig {
    fn default() -> Self {
        ChunkDecoderConfig {
            max_message_len: 16 * 1024 * 1024,
            max_chunk_size: MAX_CHUNK_SIZE,
            max_chunk_streams: 64,
            max_buffered_bytes: 32 * 1024 * 1024,
        }
    }
}

/// What the decoder remembers per chunk stream (spec 5.3.1.2: compressed
/// headers take their missing fields from the previous chunk on the stream).
#[derive(Debug, Default)]
struct StreamState {
    /// Timestamp of the last message started on this chunk stream.
    timestamp: u32,
    /// The last timestamp field (fmt 0 absolute, or fmt 1/2 delta): a fmt 3
    /// chunk starting a new message adds it again (5.3.1.2.4: "If a Type 3
    /// chunk follows a Type 0 chunk, then the timestamp delta for this Type 3
    /// chunk is the same as the timestamp of the Type 0 chunk").
    field: u32,
    /// Whether the last fmt 0/1/2 header carried an extended timestamp.
    extended: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
    partial: Option<Partial>,
}

#[derive(Debug)]
struct Partial {
    data: BytesMut,
    timestamp: u32,
}

/// Sans-IO chunk stream decoder: [`push`](Self::push) bytes in,
/// [`poll_message`](Self::poll_message) complete messages out.
///
/// - Truncated input is "need more" (`Ok(None)`), never an error.
/// - A Set Chunk Size message (type 1) is applied as soon as it completes,
///   before the next chunk is parsed, and is still returned to the caller.
///   Sizes above 0xFFFFFF are clamped to it (the same meaning, since message
///   lengths are 24-bit); 0 or bit 31 set is an error (5.4.1).
/// - An Abort Message (type 2) drops the partial message on its chunk stream,
///   and is returned too.
/// - **Extended timestamps on fmt 3 chunks** (5.3.1.3): when the chunk
///   stream's last header had an extended timestamp, ffmpeg, librtmp, OBS and
///   the spec repeat it on every fmt 3 chunk; some encoders do not. The decoder
///   peeks: if the 4 bytes after the basic header equal the stream's extended
///   value, they are the extended timestamp, otherwise payload (as SRS does).
///   A payload that happens to start with those exact bytes is misread; no
///   better rule exists without out-of-band knowledge of the peer.
/// - A fmt 1 header on a chunk stream never seen before is accepted with
///   message stream 0 and a base timestamp of 0: librtmp sends its first
///   ping response that way. fmt 2 and 3 there are errors.
/// - After an error the decoder stays failed; close the connection.
#[derive(Debug)]
pub struct ChunkDecoder {
    config: ChunkDecoderConfig,
    chunk_size: u32,
    buf: BytesMut,
    streams: HashMap<u32, StreamState>,
    buffered: usize,
    failed: Option<Error>,
}

/// Outcome of parsing one chunk.
enum Step {
    NeedMore,
    Chunk,
    Message(Message),
}

impl ChunkDecoder {
    /// A decoder with the spec's initial chunk size of 128.
    pub fn new(config: ChunkDecoderConfig) -> Self {
        ChunkDecoder {
            config,
            chunk_size: DEFAULT_CHUNK_SIZE,
            buf: BytesMut::new(),
            streams: HashMap::new(),
            buffered: 0,
            failed: None,
        }
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Appends received bytes, reusing their buffer when nothing is pending
    /// (so single-chunk payloads stay zero-copy slices of it).
    pub fn push_bytes(&mut self, data: Bytes) {
        if self.buf.is_empty() {
            match data.try_into_mut() {
                Ok(m) => self.buf = m,
                Err(data) => self.buf.extend_from_slice(&data),
            }
        } else {
            self.buf.extend_from_slice(&data);
        }
    }

    /// Replaces the limits, e.g. to lift the pre-accept ones once the peer
    /// is accepted. Checks made from now on use the new limits; what is
    /// already buffered stays.
    pub fn set_config(&mut self, config: ChunkDecoderConfig) {
        self.config = config;
    }

    /// The limits in force.
    pub fn config(&self) -> ChunkDecoderConfig {
        self.config
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes pushed but not yet parsed into chunks.
    pub fn pending_len(&self) -> usize {
        self.buf.len()
    }

    /// Applies a Set Chunk Size value (done automatically for type 1
    /// messages; exposed for callers that learn the size out of band).
    ///
    /// # Errors
    /// 0 or bit 31 set ([`Violation::InvalidChunkSize`]), or above the
    /// configured maximum ([`Violation::ChunkSizeTooLarge`]).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), Error> {
        if size == 0 || size & 0x8000_0000 != 0 {
            return Err(Violation::InvalidChunkSize(size).into());
        }
        let size = size.min(MAX_CHUNK_SIZE);
        if size > self.config.max_chunk_size {
            return Err(Violation::ChunkSizeTooLarge {
                size,
                max: self.config.max_chunk_size,
            }
            .into());
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Drops the partial message on `csid` (spec 5.4.2; done automatically
    /// for type 2 messages).
    pub fn abort(&mut self, csid: u32) {
        if let Some(p) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) {
            self.buffered -= p.data.len();
        }
    }

    /// Returns the next complete message, `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    /// A protocol violation or limit breach (see [`Violation`]), or a
    /// malformed Set Chunk Size / Abort body. The error repeats on every
    /// later call.
    pub fn poll_message(&mut self) -> Result<Option<Message>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.poll_inner();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn poll_inner(&mut self) -> Result<Option<Message>, Error> {
        loop {
            match self.next_chunk()? {
                Step::NeedMore => return Ok(None),
                Step::Chunk => {}
                Step::Message(m) => {
                    self.apply_control(&m)?;
                    return Ok(Some(m));
                }
            }
        }
    }

    fn apply_control(&mut self, m: &Message) -> Result<(), Error> {
        match m.message_type() {
            MessageType::SetChunkSize | MessageType::Abort => {
                match ProtocolControl::decode(m.type_id, &m.payload)? {
                    Some(ProtocolControl::SetChunkSize(size)) => self.set_chunk_size(size),
                    Some(ProtocolControl::Abort { csid }) => {
                        self.abort(csid);
                        Ok(())
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Parses one chunk if it is complete in the buffer. Nothing is changed
    /// until the whole chunk is there.
    fn next_chunk(&mut self) -> Result<Step, Error> {
        let input = &self.buf[..];
        let (rest, basic) = match BasicHeader::parse(input) {
            Ok(v) => v,
            Err(nom::Err::Incomplete(_)) => return Ok(Step::NeedMore),
            Err(_) => return Err(malformed_header()),
        };
        let (rest, (header, extended)) = match MessageHeader::parse(basic.fmt, rest) {
            Ok(v) => v,
            Err(nom::Err::Incomplete(_)) => return Ok(Step::NeedMore),
            Err(_) => return Err(malformed_header()),
        };
        let csid = basic.csid;
        let mut header_len = input.len() - rest.len();

        let prev = self.streams.get(&csid);
        if prev.is_none() {
            if self.streams.len() >= self.config.max_chunk_streams {
                return Err(Violation::TooManyChunkStreams {
                    max: self.config.max_chunk_streams,
                }
                .into());
            }
            if !matches!(
                header,
                MessageHeader::Full { .. } | MessageHeader::SameStream { .. }
            ) {
                return Err(Violation::NoPreviousHeader {
                    csid,
                    fmt: basic.fmt,
                }
                .into());
            }
        }
        let (p_ts, p_field, p_ext, p_len, p_type, p_stream) = prev
            .map(|s| {
                (
                    s.timestamp,
                    s.field,
                    s.extended,
                    s.length,
                    s.type_id,
                    s.stream_id,
                )
            })
            .unwrap_or_default();
        let partial = prev.and_then(|s| s.partial.as_ref());
        if partial.is_some() && header != MessageHeader::Continuation {
            // 5.3.1.2: fmt 0/1/2 start a message; the previous one on this
            // chunk stream must be complete (or aborted) first.
            return Err(Violation::InterleavedHeader { csid }.into());
        }

        // The header of the message this chunk belongs to.
        let (timestamp, field, ext, length, type_id, stream_id) = match header {
            MessageHeader::Full {
                timestamp,
                length,
                type_id,
                stream_id,
            } => (timestamp, timestamp, extended, length, type_id, stream_id),
            MessageHeader::SameStream {
                delta,
                length,
                type_id,
            } => (
                p_ts.wrapping_add(delta),
                delta,
                extended,
                length,
                type_id,
                p_stream,
            ),
            MessageHeader::TimestampOnly { delta } => (
                p_ts.wrapping_add(delta),
                delta,
                extended,
                p_len,
                p_type,
                p_stream,
            ),
            MessageHeader::Continuation => {
                if p_ext {
                    // See the type doc: peek for a repeated extended timestamp.
                    match peek_u32(rest) {
                        Ok((_, v)) if v == p_field => header_len += 4,
                        Ok(_) => {}
                        Err(_) => return Ok(Step::NeedMore),
                    }
                }
                let ts = partial.map_or(p_ts.wrapping_add(p_field), |p| p.timestamp);
                (ts, p_field, p_ext, p_len, p_type, p_stream)
            }
        };
        if length > self.config.max_message_len {
            return Err(Violation::MessageTooLong {
                len: length,
                max: self.config.max_message_len,
            }
            .into());
        }
        let have = partial.map_or(0, |p| p.data.len());
        let want = (length as usize - have).min(self.chunk_size as usize);
        if self.buf.len() < header_len + want {
            return Ok(Step::NeedMore);
        }
        let completes = have + want == length as usize;
        if !completes && self.buffered + want > self.config.max_buffered_bytes {
            return Err(Violation::TooMuchBuffered {
                max: self.config.max_buffered_bytes,
            }
            .into());
        }

        // Commit.
        self.buf.advance(header_len);
        let data = self.buf.split_to(want);
        let state = self.streams.entry(csid).or_default();
        if state.partial.is_none() {
            state.timestamp = timestamp;
            state.field = field;
            state.extended = ext;
            state.length = length;
            state.type_id = type_id;
            state.stream_id = stream_id;
        }
        let payload = match state.partial.take() {
            None if completes => data.freeze(),
            None => {
                // Grow with the data actually received, not the announced length.
                let mut buf = BytesMut::with_capacity((length as usize).min(64 * 1024));
                buf.extend_from_slice(&data);
                self.buffered += want;
                state.partial = Some(Partial {
                    data: buf,
                    timestamp,
                });
                return Ok(Step::Chunk);
            }
            Some(mut p) => {
                p.data.extend_from_slice(&data);
                if !completes {
                    self.buffered += want;
                    state.partial = Some(p);
                    return Ok(Step::Chunk);
                }
                self.buffered -= have;
                p.data.freeze()
            }
        };
        Ok(Step::Message(Message {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
        }))
    }
}

/// The nom header parsers only fail with `Incomplete`; this is for the
/// unreachable rest.
fn malformed_header() -> Error {
    Malformed::ChunkHeader.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut ChunkDecoder) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(m) = dec.poll_message().unwrap() {
            out.push(m);
        }
        out
    }

    #[test]
    fn fmt0_then_compressed_headers() {
        #[rustfmt::skip]
        let bytes = [
            // fmt 0, csid 4: ts 1000, len 2, type 8, stream 1
            0x04, 0, 0x03, 0xe8, 0, 0, 2, 8, 1, 0, 0, 0, 0xaf, 0x01,
            // fmt 2, csid 4: delta 23
            0x84, 0, 0, 23, 0xaf, 0x02,
            // fmt 3, csid 4: delta 23 again
            0xc4, 0xaf, 0x03,
            // fmt 1, csid 4: delta 10, len 1, type 9
            0x44, 0, 0, 10, 0, 0, 1, 9, 0x17,
        ];
        let mut dec = ChunkDecoder::new(Default::default());
        dec.push(&bytes);
        let ms = decode_all(&mut dec);
        let summary: Vec<_> = ms
            .iter()
            .map(|m| (m.timestamp, m.type_id, m.stream_id))
            .collect();
        assert_eq!(
            summary,
            [(1000, 8, 1), (1023, 8, 1), (1046, 8, 1), (1056, 9, 1)]
        );
        assert_eq!(&ms[2].payload[..], &[0xaf, 0x03]);
    }

    #[test]
    fn fmt3_after_fmt0_adds_the_absolute_timestamp() {
        // 5.3.1.2.4: the delta of a fmt 3 after fmt 0 is the fmt 0 timestamp.
        let bytes = [0x04, 0, 0, 5, 0, 0, 1, 8, 1, 0, 0, 0, 0xaa, 0xc4, 0xbb];
        let mut dec = ChunkDecoder::new(Default::default());
        dec.push(&bytes);
        let ts: Vec<_> = decode_all(&mut dec).iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, [5, 10]);
    }

    #[test]
    fn extended_timestamp_with_and_without_repeat_on_fmt3() {
        for repeat in [true, false] {
            let mut bytes = vec![0x05, 0xff, 0xff, 0xff, 0, 0, 130, 9, 1, 0, 0, 0];
            bytes.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
            bytes.extend_from_slice(&[0x55; 128]);
            bytes.push(0xc5);
            if repeat {
                bytes.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
            }
            bytes.extend_from_slice(&[0x66, 0x77]);
            let mut dec = ChunkDecoder::new(Default::default());
            dec.push(&bytes);
            if !repeat {
                // Fewer than 4 bytes after the basic header: cannot tell yet.
                assert_eq!(dec.poll_message().unwrap(), None);
                // The next chunk settles it.
                dec.push(&[0x06, 0, 0, 0, 0, 0, 0, 8, 1, 0, 0, 0]);
            }
            let m = dec.poll_message().unwrap().unwrap();
            assert_eq!(m.timestamp, 0x1234_5678);
            assert_eq!(m.payload.len(), 130);
            assert_eq!(&m.payload[128..], &[0x66, 0x77], "repeat={repeat}");
        }
    }

    #[test]
    fn timestamp_deltas_wrap_at_32_bits() {
        let mut bytes = vec![0x04, 0xff, 0xff, 0xff, 0, 0, 0, 8, 1, 0, 0, 0];
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        bytes.extend_from_slice(&[0x84, 0, 0, 2]);
        let mut dec = ChunkDecoder::new(Default::default());
        dec.push(&bytes);
        let ts: Vec<_> = decode_all(&mut dec).iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, [u32::MAX, 1]);
    }

    #[test]
    fn set_chunk_size_applies_immediately_and_abort_drops_partial() {
        let mut bytes = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 200];
        // 200-byte message in one chunk at the new size.
        bytes.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0]);
        bytes.extend_from_slice(&[1; 200]);
        // Start a 300-byte message on csid 7, then abort it.
        bytes.extend_from_slice(&[0x07, 0, 0, 0, 0, 1, 44, 9, 1, 0, 0, 0]);
        bytes.extend_from_slice(&[2; 200]);
        bytes.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 7]);
        // A fresh message on csid 7 with fmt 0 is fine now.
        bytes.extend_from_slice(&[0x07, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 3]);
        let mut dec = ChunkDecoder::new(Default::default());
        dec.push(&bytes);
        let ms = decode_all(&mut dec);
        assert_eq!(dec.chunk_size(), 200);
        let lens: Vec<_> = ms.iter().map(|m| (m.type_id, m.payload.len())).collect();
        assert_eq!(lens, [(1, 4), (9, 200), (2, 4), (9, 1)]);
    }

    #[test]
    fn every_prefix_is_need_more() {
        let bytes = [0x04, 0, 0x03, 0xe8, 0, 0, 2, 8, 1, 0, 0, 0, 0xaf, 0x01];
        for n in 0..bytes.len() {
            let mut dec = ChunkDecoder::new(Default::default());
            dec.push(&bytes[..n]);
            assert_eq!(dec.poll_message().unwrap(), None, "prefix {n}");
            dec.push(&bytes[n..]);
            assert!(dec.poll_message().unwrap().is_some());
        }
    }

    #[test]
    fn limits_and_violations() {
        let cfg = ChunkDecoderConfig {
            max_message_len: 100,
            max_chunk_streams: 1,
            ..Default::default()
        };
        let mut dec = ChunkDecoder::new(cfg);
        dec.push(&[0x04, 0, 0, 0, 0, 0, 101, 8, 1, 0, 0, 0]);
        assert_eq!(
            dec.poll_message(),
            Err(Violation::MessageTooLong { len: 101, max: 100 }.into())
        );
        assert!(dec.poll_message().is_err(), "sticky");

        let mut dec = ChunkDecoder::new(cfg);
        dec.push(&[0x04, 0, 0, 0, 0, 0, 0, 8, 1, 0, 0, 0]);
        dec.push(&[0x05, 0, 0, 0, 0, 0, 0, 8, 1, 0, 0, 0]);
        assert_eq!(dec.poll_message().unwrap().unwrap().payload.len(), 0);
        assert_eq!(
            dec.poll_message(),
            Err(Violation::TooManyChunkStreams { max: 1 }.into())
        );

        let mut dec = ChunkDecoder::new(Default::default());
        dec.push(&[0xc9]);
        assert_eq!(
            dec.poll_message(),
            Err(Violation::NoPreviousHeader { csid: 9, fmt: 3 }.into())
        );

        let mut dec = ChunkDecoder::new(Default::default());
        dec.push(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            dec.poll_message(),
            Err(Violation::InvalidChunkSize(0).into())
        );

        let mut dec = ChunkDecoder::new(Default::default());
        dec.push(&[0x04, 0, 0, 0, 0, 0, 200, 8, 1, 0, 0, 0]);
        dec.push(&[0; 128]);
        dec.push(&[0x44, 0, 0, 0, 0, 0, 1, 8]);
        assert_eq!(
            dec.poll_message(),
            Err(Violation::InterleavedHeader { csid: 4 }.into())
        );

        let mut dec = ChunkDecoder::new(ChunkDecoderConfig {
            max_buffered_bytes: 127,
            ..Default::default()
        });
        dec.push(&[0x04, 0, 0, 0, 0, 0, 200, 8, 1, 0, 0, 0]);
        dec.push(&[0; 128]);
        assert_eq!(
            dec.poll_message(),
            Err(Violation::TooMuchBuffered { max: 127 }.into())
        );
    }

    #[test]
    fn librtmp_fmt1_on_fresh_chunk_stream_is_accepted() {
        // librtmp's ping response: fmt 1 on csid 2 before any fmt 0 there.
        let bytes = [0x42, 0, 0, 0, 0, 0, 6, 4, 0, 7, 0, 0, 0, 1];
        let mut dec = ChunkDecoder::new(Default::default());
        dec.push(&bytes);
        let m = dec.poll_message().unwrap().unwrap();
        assert_eq!((m.type_id, m.stream_id, m.payload.len()), (4, 0, 6));
    }

    #[test]
    fn huge_chunk_size_is_clamped_and_capped() {
        let mut dec = ChunkDecoder::new(Default::default());
        dec.set_chunk_size(0x7fff_ffff).unwrap();
        assert_eq!(dec.chunk_size(), MAX_CHUNK_SIZE);
        let mut dec = ChunkDecoder::new(ChunkDecoderConfig {
            max_chunk_size: 65536,
            ..Default::default()
        });
        assert_eq!(
            dec.set_chunk_size(65537),
            Err(Violation::ChunkSizeTooLarge {
                size: 65537,
                max: 65536
            }
            .into())
        );
    }

    #[test]
    fn single_chunk_payload_is_zero_copy() {
        let bytes = Bytes::from(vec![0x04, 0, 0, 0, 0, 0, 3, 8, 1, 0, 0, 0, 7, 8, 9]);
        let mut dec = ChunkDecoder::new(Default::default());
        let range = bytes.as_ptr_range();
        dec.push_bytes(bytes);
        let m = dec.poll_message().unwrap().unwrap();
        assert!(range.contains(&m.payload.as_ptr()));
    }
}
