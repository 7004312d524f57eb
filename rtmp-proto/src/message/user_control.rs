//! User Control messages (type 4; RTMP spec 6.2 and 7.1.7): a 16-bit event
//! type followed by event data.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Message, MessageType, CONTROL_CSID};
use crate::error::{Error, Malformed};

/// A user control event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserControl {
    /// 0: the stream became functional (server → client, before play data).
    StreamBegin {
        /// Message stream id.
        stream_id: u32,
    },
    /// 1: playback of the stream is over.
    StreamEof {
        /// Message stream id.
        stream_id: u32,
    },
    /// 2: no more data on the stream for now.
    StreamDry {
        /// Message stream id.
        stream_id: u32,
    },
    /// 3: the client's buffer length (client → server).
    SetBufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer length in milliseconds.
        buffer_ms: u32,
    },
    /// 4: the stream is a recorded stream.
    StreamIsRecorded {
        /// Message stream id.
        stream_id: u32,
    },
    /// 6: ping (server → client); answer with [`UserControl::PingResponse`].
    PingRequest {
        /// The sender's local time.
        timestamp: u32,
    },
    /// 7: pong, echoing the request's timestamp.
    PingResponse {
        /// The timestamp from the request.
        timestamp: u32,
    },
    /// Any other event (e.g. FMS's 31/32 buffer empty/ready), kept raw.
    Unknown {
        /// Event type.
        event_type: u16,
        /// Event data.
        data: Bytes,
    },
}

impl UserControl {
    /// Decodes a user control message body.
    ///
    /// # Errors
    /// A body shorter than the event type, or a known event whose data is
    /// not exactly the size the spec gives it.
    pub fn decode(payload: &Bytes) -> Result<Self, Error> {
        let short = |expected| Malformed::BodyLength {
            what: "User Control",
            expected,
            got: payload.len(),
        };
        let (Some(head), Some(data)) = (payload.get(..2), payload.get(2..)) else {
            return Err(short(2).into());
        };
        let event_type = u16::from_be_bytes([head[0], head[1]]);
        let u32_at = |i: usize| -> Option<u32> {
            data.get(i..i + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_be_bytes)
        };
        let expect = |n: usize| {
            if data.len() == n {
                Ok(())
            } else {
                Err(short(2 + n))
            }
        };
        let one = |f: fn(u32) -> UserControl| -> Result<UserControl, Error> {
            expect(4)?;
            u32_at(0).map(f).ok_or_else(|| short(6).into())
        };
        match event_type {
            0 => one(|stream_id| UserControl::StreamBegin { stream_id }),
            1 => one(|stream_id| UserControl::StreamEof { stream_id }),
            2 => one(|stream_id| UserControl::StreamDry { stream_id }),
            3 => {
                expect(8)?;
                match (u32_at(0), u32_at(4)) {
                    (Some(stream_id), Some(buffer_ms)) => Ok(UserControl::SetBufferLength {
                        stream_id,
                        buffer_ms,
                    }),
                    _ => Err(short(10).into()),
                }
            }
            4 => one(|stream_id| UserControl::StreamIsRecorded { stream_id }),
            6 => one(|timestamp| UserControl::PingRequest { timestamp }),
            7 => one(|timestamp| UserControl::PingResponse { timestamp }),
            _ => Ok(UserControl::Unknown {
                event_type,
                data: payload.slice(2..),
            }),
        }
    }

    /// Appends the message body to `out`.
    pub fn encode_payload(&self, out: &mut BytesMut) {
        let (event, a, b) = match self {
            UserControl::StreamBegin { stream_id } => (0, *stream_id, None),
            UserControl::StreamEof { stream_id } => (1, *stream_id, None),
            UserControl::StreamDry { stream_id } => (2, *stream_id, None),
            UserControl::SetBufferLength {
                stream_id,
                buffer_ms,
            } => (3, *stream_id, Some(*buffer_ms)),
            UserControl::StreamIsRecorded { stream_id } => (4, *stream_id, None),
            UserControl::PingRequest { timestamp } => (6, *timestamp, None),
            UserControl::PingResponse { timestamp } => (7, *timestamp, None),
            UserControl::Unknown { event_type, data } => {
                out.put_u16(*event_type);
                out.put_slice(data);
                return;
            }
        };
        out.put_u16(event);
        out.put_u32(a);
        if let Some(b) = b {
            out.put_u32(b);
        }
    }

    /// The complete message: chunk stream 2, message stream 0 (spec 6.2).
    pub fn to_message(&self, timestamp: u32) -> Message {
        let mut body = BytesMut::with_capacity(10);
        self.encode_payload(&mut body);
        Message {
            csid: CONTROL_CSID,
            timestamp,
            type_id: MessageType::UserControl.into(),
            stream_id: 0,
            payload: body.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_byte_vectors() {
        let b = Bytes::from_static(&[0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8]);
        assert_eq!(
            UserControl::decode(&b).unwrap(),
            UserControl::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000
            }
        );
        let b = Bytes::from_static(&[0, 0, 0, 0, 0, 1]);
        assert_eq!(
            UserControl::decode(&b).unwrap(),
            UserControl::StreamBegin { stream_id: 1 }
        );
        let b = Bytes::from_static(&[0, 31, 0, 0, 0, 1]);
        assert!(matches!(
            UserControl::decode(&b).unwrap(),
            UserControl::Unknown { event_type: 31, .. }
        ));
    }

    #[test]
    fn rejects_short_bodies() {
        for body in [
            &[][..],
            &[0][..],
            &[0, 6, 1, 2, 3][..],
            &[0, 3, 0, 0, 0, 1][..],
        ] {
            assert!(matches!(
                UserControl::decode(&Bytes::copy_from_slice(body)),
                Err(Error::Malformed(_))
            ));
        }
    }

    #[test]
    fn round_trips() {
        let all = [
            UserControl::StreamBegin { stream_id: 1 },
            UserControl::StreamEof { stream_id: 2 },
            UserControl::StreamDry { stream_id: 3 },
            UserControl::SetBufferLength {
                stream_id: 1,
                buffer_ms: 100,
            },
            UserControl::StreamIsRecorded { stream_id: 4 },
            UserControl::PingRequest { timestamp: 5 },
            UserControl::PingResponse { timestamp: 6 },
            UserControl::Unknown {
                event_type: 32,
                data: Bytes::from_static(&[0, 0, 0, 1]),
            },
        ];
        for uc in all {
            let m = uc.to_message(9);
            assert_eq!(m.type_id, 4);
            assert_eq!(UserControl::decode(&m.payload).unwrap(), uc);
        }
    }
}
