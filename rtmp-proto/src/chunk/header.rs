//! Chunk headers (RTMP spec 5.3.1): basic header + message header
//! (+ extended timestamp).

use bytes::{BufMut, BytesMut};
use nom::number::streaming::{be_u24, be_u32, be_u8, le_u32};
use nom::IResult;

use super::EXTENDED_TIMESTAMP;

/// Basic header (5.3.1.1): the chunk format and chunk stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicHeader {
    /// Message header format, 0–3.
    pub fmt: u8,
    /// Chunk stream id, 2..=65599.
    pub csid: u32,
}

impl BasicHeader {
    /// Parses a basic header; `Err(Incomplete)` means "need more bytes".
    pub fn parse(i: &[u8]) -> IResult<&[u8], BasicHeader> {
        let (i, b0) = be_u8(i)?;
        let fmt = b0 >> 6;
        match b0 & 0x3f {
            // 2-byte form: ids 64..=319.
            0 => {
                let (i, b1) = be_u8(i)?;
                Ok((
                    i,
                    BasicHeader {
                        fmt,
                        csid: 64 + u32::from(b1),
                    },
                ))
            }
            // 3-byte form: ids 64..=65599, the second byte is the low one.
            1 => {
                let (i, b1) = be_u8(i)?;
                let (i, b2) = be_u8(i)?;
                Ok((
                    i,
                    BasicHeader {
                        fmt,
                        csid: 64 + u32::from(b1) + 256 * u32::from(b2),
                    },
                ))
            }
            id => Ok((
                i,
                BasicHeader {
                    fmt,
                    csid: u32::from(id),
                },
            )),
        }
    }

    /// Appends the shortest encoding. `csid` must be in 2..=65599 (checked
    /// by the encoder).
    pub fn encode(&self, out: &mut BytesMut) {
        let fmt = self.fmt << 6;
        match self.csid {
            2..=63 => out.put_u8(fmt | self.csid as u8),
            64..=319 => out.put_slice(&[fmt, (self.csid - 64) as u8]),
            _ => {
                let id = self.csid - 64;
                out.put_slice(&[fmt | 1, id as u8, (id >> 8) as u8]);
            }
        }
    }
}

/// Message header (5.3.1.2), with any extended timestamp already applied to
/// the timestamp field. Which fields are present depends on the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageHeader {
    /// fmt 0: everything, with an absolute timestamp.
    Full {
        /// Absolute timestamp.
        timestamp: u32,
        /// Message length.
        length: u32,
        /// Message type id.
        type_id: u8,
        /// Message stream id (little-endian on the wire).
        stream_id: u32,
    },
    /// fmt 1: same message stream as before.
    SameStream {
        /// Timestamp delta.
        delta: u32,
        /// Message length.
        length: u32,
        /// Message type id.
        type_id: u8,
    },
    /// fmt 2: same stream, length and type.
    TimestampOnly {
        /// Timestamp delta.
        delta: u32,
    },
    /// fmt 3: no message header.
    Continuation,
}

impl MessageHeader {
    /// The format number (0–3).
    pub fn fmt(&self) -> u8 {
        match self {
            MessageHeader::Full { .. } => 0,
            MessageHeader::SameStream { .. } => 1,
            MessageHeader::TimestampOnly { .. } => 2,
            MessageHeader::Continuation => 3,
        }
    }

    /// The timestamp field (absolute or delta), if this format has one.
    pub fn timestamp_field(&self) -> Option<u32> {
        match *self {
            MessageHeader::Full { timestamp, .. } => Some(timestamp),
            MessageHeader::SameStream { delta, .. } | MessageHeader::TimestampOnly { delta } => {
                Some(delta)
            }
            MessageHeader::Continuation => None,
        }
    }

    /// Parses the message header of format `fmt`, including the extended
    /// timestamp when the 24-bit field is 0xFFFFFF; the flag says whether one
    /// was present. (The extended timestamp of fmt 3 chunks depends on chunk
    /// stream state; the decoder handles it.) `Err(Incomplete)` means "need
    /// more bytes".
    pub fn parse(fmt: u8, i: &[u8]) -> IResult<&[u8], (MessageHeader, bool)> {
        if fmt == 3 {
            return Ok((i, (MessageHeader::Continuation, false)));
        }
        let (i, ts) = be_u24(i)?;
        let (i, header) = match fmt {
            0 => {
                let (i, length) = be_u24(i)?;
                let (i, type_id) = be_u8(i)?;
                let (i, stream_id) = le_u32(i)?;
                (
                    i,
                    MessageHeader::Full {
                        timestamp: ts,
                        length,
                        type_id,
                        stream_id,
                    },
                )
            }
            1 => {
                let (i, length) = be_u24(i)?;
                let (i, type_id) = be_u8(i)?;
                (
                    i,
                    MessageHeader::SameStream {
                        delta: ts,
                        length,
                        type_id,
                    },
                )
            }
            _ => (i, MessageHeader::TimestampOnly { delta: ts }),
        };
        if ts != EXTENDED_TIMESTAMP {
            return Ok((i, (header, false)));
        }
        // 5.3.1.3: the 4-byte extended timestamp replaces the field.
        let (i, ext) = be_u32(i)?;
        Ok((i, (header.with_timestamp_field(ext), true)))
    }

    fn with_timestamp_field(self, v: u32) -> MessageHeader {
        match self {
            MessageHeader::Full {
                length,
                type_id,
                stream_id,
                ..
            } => MessageHeader::Full {
                timestamp: v,
                length,
                type_id,
                stream_id,
            },
            MessageHeader::SameStream {
                length, type_id, ..
            } => MessageHeader::SameStream {
                delta: v,
                length,
                type_id,
            },
            MessageHeader::TimestampOnly { .. } => MessageHeader::TimestampOnly { delta: v },
            MessageHeader::Continuation => MessageHeader::Continuation,
        }
    }

    /// Appends the header, writing an extended timestamp when the field does
    /// not fit 24 bits. Lengths must fit 24 bits (checked by the encoder).
    pub fn encode(&self, out: &mut BytesMut) {
        let Some(field) = self.timestamp_field() else {
            return;
        };
        let extended = field >= EXTENDED_TIMESTAMP;
        put_u24(out, if extended { EXTENDED_TIMESTAMP } else { field });
        match *self {
            MessageHeader::Full {
                length,
                type_id,
                stream_id,
                ..
            } => {
                put_u24(out, length);
                out.put_u8(type_id);
                out.put_u32_le(stream_id);
            }
            MessageHeader::SameStream {
                length, type_id, ..
            } => {
                put_u24(out, length);
                out.put_u8(type_id);
            }
            MessageHeader::TimestampOnly { .. } | MessageHeader::Continuation => {}
        }
        if extended {
            out.put_u32(field);
        }
    }
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

/// Peeks a big-endian u32 (the fmt 3 extended timestamp).
pub(crate) fn peek_u32(i: &[u8]) -> IResult<&[u8], u32> {
    be_u32(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_basic(csid: u32, len: usize) {
        let mut out = BytesMut::new();
        BasicHeader { fmt: 2, csid }.encode(&mut out);
        assert_eq!(out.len(), len, "csid {csid}");
        let (rest, h) = BasicHeader::parse(&out).unwrap();
        assert!(rest.is_empty());
        assert_eq!(h, BasicHeader { fmt: 2, csid });
    }

    #[test]
    fn basic_header_forms() {
        round_trip_basic(2, 1);
        round_trip_basic(63, 1);
        round_trip_basic(64, 2);
        round_trip_basic(319, 2);
        round_trip_basic(320, 3);
        round_trip_basic(65599, 3);
        // Byte vectors from the spec's description: 3-byte form 64 + b1 + 256*b2.
        assert_eq!(BasicHeader::parse(&[0x01, 0x00, 0x01]).unwrap().1.csid, 320);
        assert_eq!(
            BasicHeader::parse(&[0xc0, 0x05]).unwrap().1,
            BasicHeader { fmt: 3, csid: 69 }
        );
        assert!(matches!(
            BasicHeader::parse(&[0x01, 0x00]),
            Err(nom::Err::Incomplete(_))
        ));
    }

    #[test]
    fn message_header_byte_vector() {
        // fmt 0: ts 0, length 0x8c, type 20, stream 0 (ffmpeg's connect).
        let bytes = [0, 0, 0, 0, 0, 0x8c, 0x14, 0, 0, 0, 0];
        let (rest, (h, ext)) = MessageHeader::parse(0, &bytes).unwrap();
        assert!(!ext);
        assert!(rest.is_empty());
        assert_eq!(
            h,
            MessageHeader::Full {
                timestamp: 0,
                length: 0x8c,
                type_id: 20,
                stream_id: 0
            }
        );
        assert!(matches!(
            MessageHeader::parse(0, &bytes[..10]),
            Err(nom::Err::Incomplete(_))
        ));
    }

    #[test]
    fn message_header_round_trips_with_extended_timestamps() {
        for ts in [0, 1, 0xff_fffe, 0xff_ffff, 0x0100_0000, u32::MAX] {
            for h in [
                MessageHeader::Full {
                    timestamp: ts,
                    length: 7,
                    type_id: 9,
                    stream_id: 0x0102_0304,
                },
                MessageHeader::SameStream {
                    delta: ts,
                    length: 0xff_ffff,
                    type_id: 8,
                },
                MessageHeader::TimestampOnly { delta: ts },
            ] {
                let mut out = BytesMut::new();
                h.encode(&mut out);
                let (rest, (back, ext)) = MessageHeader::parse(h.fmt(), &out).unwrap();
                assert!(rest.is_empty());
                assert_eq!(back, h);
                assert_eq!(ext, ts >= EXTENDED_TIMESTAMP);
            }
        }
    }
}
